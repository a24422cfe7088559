package ipam

import (
	"fmt"
	"net/netip"
	"testing"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestCompact(t *testing.T) {
	for _, c := range []struct{ in, want []netip.Prefix }{
		{pfx("10.11.12.13/24"), pfx("10.11.12.0/24")},
		{pfx("10.0.0.0/25", "10.0.0.128/25"), pfx("10.0.0.0/24")},
		{pfx("10.0.1.0/24", "10.0.0.0/25", "10.0.0.128/25", "10.0.0.0/16"), pfx("10.0.0.0/16")},
		{pfx("20.0.0.0/18", "30.0.0.0/18", "20.0.0.0/18"), pfx("20.0.0.0/18", "30.0.0.0/18")},
		{pfx("2001:db8::/33", "2001:db8:8000::/33"), pfx("2001:db8::/32")},
	} {
		if got := Compact(c.in); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Compact(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestSubtractCovers(t *testing.T) {
	got := Subtract(pfx("10.11.12.0/24"), pfx("10.11.12.0/29"))
	want := pfx("10.11.12.8/29", "10.11.12.16/28", "10.11.12.32/27", "10.11.12.64/26", "10.11.12.128/25")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Subtract = %v, want %v", got, want)
	}
	if got := Subtract(pfx("10.0.0.0/24"), pfx("10.0.0.0/16")); len(got) != 0 {
		t.Errorf("Subtract all = %v", got)
	}
	if !Covers(pfx("10.11.0.0/16"), pfx("10.11.12.0/24")) || Covers(pfx("10.11.12.0/26"), pfx("10.11.12.0/24")) {
		t.Error("Covers")
	}
	if !Covers(pfx("10.0.0.0/25", "10.0.0.128/25"), pfx("10.0.0.0/24")) {
		t.Error("Covers across two halves")
	}
	if !Intersects(pfx("40.0.0.0/18", "30.0.0.0/12"), pfx("20.0.0.0/18", "30.0.0.0/18")) || Intersects(pfx("10.0.0.0/24"), pfx("10.0.1.0/24")) {
		t.Error("Intersects")
	}
}
