package dataplane

import (
	"slices"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/desired"
)

func TestOuterPorts(t *testing.T) {
	ns := desired.Namespace{Name: "fip-x", Veths: []desired.Veth{
		{Inner: "fg-abc", Outer: "tapfgabc", Bridge: "br-ex"},
		{Inner: "rfp-t", Outer: "fpr-t", PeerNamespace: "fip-x"}, // both ends in namespaces
		{Inner: "qr-t", Outer: "tapqrt", Bridge: "br-int"},       // nothing announced on it
	}}
	got := outerPorts(ns, []desired.GARP{{Dev: "fg-abc"}, {Dev: "rfp-t"}})
	if !slices.Equal(got, []string{"tapfgabc"}) {
		t.Fatalf("outerPorts = %q, want [tapfgabc]", got)
	}
}

func TestWaitUntil(t *testing.T) {
	calls := 0
	if !waitUntil(func() bool { calls++; return calls == 3 }, time.Hour, 0) || calls != 3 {
		t.Fatalf("waitUntil: %d calls, want true after 3", calls)
	}
	// A condition that never holds gives up (after limit) with false.
	if waitUntil(func() bool { return false }, 0, 0) {
		t.Fatal("waitUntil reported a condition that never held")
	}
}
