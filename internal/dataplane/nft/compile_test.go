package nft

import (
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
)

func TestApplyNftRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		want *desired.NftTable
	}{
		{"undeclared map", &desired.NftTable{Chains: []desired.NftChain{{Name: "p", Type: "nat", Hook: "prerouting", Rules: []desired.NftRule{{DNATMap: "nope"}}}}}},
		{"two actions", &desired.NftTable{Chains: []desired.NftChain{{Name: "p", Type: "filter", Hook: "input", Rules: []desired.NftRule{{Accept: true, Drop: true}}}}}},
		{"no action", &desired.NftTable{Chains: []desired.NftChain{{Name: "p", Type: "filter", Hook: "input", Rules: []desired.NftRule{{IifName: "x"}}}}}},
		{"bad hook", &desired.NftTable{Chains: []desired.NftChain{{Name: "p", Type: "filter", Hook: "sideways"}}}},
		{"ipv4 in ipv6 set element", &desired.NftTable{Sets: []desired.NftSet{{Name: "s", Elements: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/120")}}}}},
	} {
		if _, err := compile(tc.want); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// Map elements are checked while diffing (one pass over the map).
	w, err := compile(&desired.NftTable{Maps: []desired.NftMap{{Name: "m", Elements: map[netip.Addr]netip.Addr{netip.MustParseAddr("::1"): netip.MustParseAddr("10.0.0.5")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := diffElements(w.sets["m"], &setSnap{isMap: true, elems: map[uint32]*mapElem{}}); err == nil {
		t.Error("ipv6 map element accepted")
	}
}
