package nft

import (
	"net/netip"
	"strings"
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
		{"ether saddr in ip table", filterTable("", desired.NftRule{EtherSaddr: "fa:16:3e:00:00:01", Drop: true})},
		{"ether daddr in inet table", filterTable(desired.FamilyINet, desired.NftRule{EtherDaddr: "fa:16:3e:00:00:01", Drop: true})},
		{"arp daddr in ip table", filterTable("", desired.NftRule{ARPTargetIP: netip.MustParseAddr("10.0.0.1"), Drop: true})},
		{"ether saddr set in inet table", filterTable(desired.FamilyINet, desired.NftRule{SetEtherSaddr: "fa:16:3e:00:00:01"})},
		{"set and verdict", filterTable(desired.FamilyBridge, desired.NftRule{SetEtherSaddr: "fa:16:3e:00:00:01", Accept: true})},
		{"bad mac", filterTable(desired.FamilyBridge, desired.NftRule{EtherSaddr: "fa:16:3e:00:01", Drop: true})},
		{"long mac", filterTable(desired.FamilyBridge, desired.NftRule{SetEtherSaddr: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"})},
		{"ipv6 arp target", filterTable(desired.FamilyBridge, desired.NftRule{ARPTargetIP: netip.MustParseAddr("::1"), Drop: true})},
		{"arp and ip", filterTable(desired.FamilyBridge, desired.NftRule{ARPTargetIP: netip.MustParseAddr("10.0.0.1"), Daddr: netip.MustParsePrefix("10.0.0.0/24"), Drop: true})},
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

func filterTable(family string, r desired.NftRule) *desired.NftTable {
	return &desired.NftTable{Family: family, Name: "neutrino-t", Chains: []desired.NftChain{{Name: "forward", Type: "filter", Hook: "forward", Rules: []desired.NftRule{r}}}}
}

// The bridge-family fields compile in a bridge table, and the error in
// another family names the field.
func TestCompileBridgeFields(t *testing.T) {
	ok := filterTable(desired.FamilyBridge, desired.NftRule{OifName: "vxlan-*", EtherSaddr: "fa:16:3e:00:00:01", SetEtherSaddr: "FA:16:3F:00:00:09"})
	ok.Chains[0].Rules = append(ok.Chains[0].Rules,
		desired.NftRule{OifName: "vxlan-*", EtherDaddr: "fa:16:3e:00:00:01", Drop: true},
		desired.NftRule{OifName: "vxlan-*", ARPTargetIP: netip.MustParseAddr("10.0.0.1"), Drop: true})
	w, err := compile(ok)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range w.chains[0].spec.Rules {
		if _, err := ruleExprs(r, w.key.family, nil); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	_, err = compile(filterTable(desired.FamilyINet, desired.NftRule{SetEtherSaddr: "fa:16:3e:00:00:01"}))
	if err == nil || !strings.Contains(err.Error(), "ether saddr set: only in a bridge table, not in family inet") {
		t.Errorf("error = %v", err)
	}
}
