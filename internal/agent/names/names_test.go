package names

import (
	"crypto/sha1"
	"encoding/hex"
	"net/netip"
	"slices"
	"testing"
)

func TestNamespaces(t *testing.T) {
	host1 := Namespaces{Suffix: "@compute1"}
	name := host1.Build(PrefixDHCP, "n1")
	if name != "qdhcp-n1@compute1" {
		t.Fatalf("built %q", name)
	}
	if p, id, ok := host1.Parse(name); !ok || p != PrefixDHCP || id != "n1" {
		t.Fatalf("parse: %q %q %v", p, id, ok)
	}
	for _, other := range []string{"qdhcp-n1@compute2", "qdhcp-n1", "something@compute1", "qrouter-@compute1"} {
		if _, _, ok := host1.Parse(other); ok {
			t.Errorf("%q parsed as ours", other)
		}
	}
	prod := Namespaces{}
	if _, _, ok := prod.Parse("qrouter-r1@compute1"); ok {
		t.Error("a suffixed namespace parsed as a production agent's")
	}
	if _, id, ok := prod.Parse("qrouter-r1"); !ok || id != "r1" {
		t.Error("production name not parsed")
	}
}

func TestDeviceNamesFit(t *testing.T) {
	id := "0123456789abcdef-0123"
	for _, n := range []string{Tap(id), DHCPInner(id), RouterInterface(id), RouterGateway(id), SNATInterface(id), FIPGateway(id), Bridge(id), VXLAN(16777215)} {
		if len(n) > 15 {
			t.Errorf("%q is longer than 15", n)
		}
	}
}

// VLAN sub-interfaces are named as upstream's linuxbridge agent names
// them: "<dev>.<vid>" while it fits, else a cut name and a SHA-1 prefix.
func TestVLANSub(t *testing.T) {
	for _, c := range []struct {
		dev  string
		vid  int
		want string
	}{
		{"eth1", 1998, "eth1.1998"},
		{"eth1", 1, "eth1.1"},
		{"mix_interface", 1, "mix_interface.1"},
		{"mix_interface", 11, "mix_in" + sha6("mix_interface") + ".11"},
		{"mix_interface", 1111, "mix_" + sha6("mix_interface") + ".1111"},
		{"very_long_interface", 4094, "very" + sha6("very_long_interface") + ".4094"},
	} {
		if got := VLANSub(c.dev, c.vid); got != c.want || len(got) > 15 {
			t.Errorf("VLANSub(%q, %d) = %q, want %q", c.dev, c.vid, got, c.want)
		}
	}
	if got := VLANSubPrefixes("eth1"); !slices.Equal(got, []string{"eth1."}) {
		t.Errorf("prefixes of eth1: %v", got)
	}
	// mix_interface keeps its name up to 1-digit ids, then hashes with
	// a shorter cut as the id grows.
	h := sha6("mix_interface")
	want := []string{"mix_interface.", "mix_in" + h + ".", "mix_i" + h + ".", "mix_" + h + "."}
	if got := VLANSubPrefixes("mix_interface"); !slices.Equal(got, want) {
		t.Errorf("prefixes of mix_interface: %v, want %v", got, want)
	}
}

// A GRE tap's name fits, and differs per key and per remote host.
func TestGRE(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.1.21"), netip.MustParseAddr("10.0.1.22")
	names := map[string]bool{GRE(10, a): true, GRE(10, b): true, GRE(20, a): true, GRE(20, b): true}
	if len(names) != 4 {
		t.Fatalf("names collide: %v", names)
	}
	for n := range names {
		if len(n) != 15 || n[:4] != PrefixGRE {
			t.Errorf("%q: want gre- and 11 hex digits", n)
		}
	}
	if first, again := GRE(10, a), GRE(10, netip.MustParseAddr(a.String())); first != again {
		t.Errorf("not stable: %s, then %s", first, again)
	}
}

func sha6(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])[:6]
}
