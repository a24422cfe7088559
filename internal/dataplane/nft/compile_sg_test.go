package nft

import (
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// sgTable is an inet (or bridge) table with a base chain holding r, a
// regular chain "port", a mark verdict map, an ifname verdict map and an
// IPv6 set.
func sgTable(family string, r desired.NftRule) *desired.NftTable {
	return &desired.NftTable{Family: family, Name: "neutrino-t",
		Sets: []desired.NftSet{{Name: "v6", Type: desired.TypeIPv6Addr, Elements: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")}},
			{Name: "v4", Elements: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}},
		Maps: []desired.NftMap{
			{Name: "bymark", KeyType: desired.TypeMark, ValueType: desired.TypeVerdict, Verdicts: map[string]string{"0x00010000": "jump port"}},
			{Name: "byif", KeyType: desired.TypeIfname, ValueType: desired.TypeVerdict, Verdicts: map[string]string{"tap1": "goto port"}},
		},
		Chains: []desired.NftChain{
			{Name: "forward", Type: "filter", Hook: "forward", Rules: []desired.NftRule{r}},
			{Name: "port", Rules: []desired.NftRule{{Drop: true}}},
		}}
}

func TestCompileSGRules(t *testing.T) {
	ok := []struct {
		family string
		r      desired.NftRule
	}{
		{"inet", desired.NftRule{Vmap: "bymark", VmapKey: "mark", VmapMask: 0xffff0000}},
		{"inet", desired.NftRule{Vmap: "byif", VmapKey: "iifname"}},
		{"inet", desired.NftRule{CtState: "established,related", Accept: true}},
		{"inet", desired.NftRule{IifName: "br0", SetCtZone: 7}},
		{"inet", desired.NftRule{L3Proto: "ip6", Saddr6Set: "v6", L4Proto: 58, MatchICMPType: true, ICMPType: 128, Accept: true}},
		{"inet", desired.NftRule{Saddr: netip.MustParsePrefix("2001:db8::/32"), L4Proto: 6, DportMin: 80, DportMax: 90, Accept: true}},
		{"inet", desired.NftRule{MatchMark: true, MarkMask: 0xffff, Accept: true}},
		{"inet", desired.NftRule{Jump: "port"}},
		{"bridge", desired.NftRule{SetMarkOp: "or", SetMark: 3}},
		{"bridge", desired.NftRule{L3Proto: "arp", EtherSaddr: "fa:16:3e:00:00:01", ARPSenderMAC: "fa:16:3e:00:00:01",
			ARPSenderIP: netip.MustParsePrefix("10.0.0.1/32"), Accept: true}},
		{"bridge", desired.NftRule{EtherSaddr: "fa:16:3e:00:00:01", Saddr: netip.MustParsePrefix("0.0.0.0/32"), L4Proto: 17,
			SportMin: 68, DportMin: 67, Accept: true}},
	}
	for _, tc := range ok {
		w, err := compile(sgTable(tc.family, tc.r))
		if err != nil {
			t.Errorf("%s %s: %v", tc.family, tc.r, err)
			continue
		}
		if _, err := ruleExprs(tc.r, w.key.family, nil); err != nil {
			t.Errorf("%s %s: exprs: %v", tc.family, tc.r, err)
		}
	}
	bad := []struct {
		name   string
		family string
		r      desired.NftRule
	}{
		{"jump to a base chain", "inet", desired.NftRule{Jump: "forward"}},
		{"jump nowhere", "inet", desired.NftRule{Goto: "nope"}},
		{"vmap key type", "inet", desired.NftRule{Vmap: "bymark", VmapKey: "iifname"}},
		{"vmap not a map", "inet", desired.NftRule{Vmap: "v6", VmapKey: "mark"}},
		{"ct in bridge", "bridge", desired.NftRule{CtState: "invalid", Drop: true}},
		{"zone in bridge", "bridge", desired.NftRule{SetCtZone: 1}},
		{"bad ct state", "inet", desired.NftRule{CtState: "sleepy", Drop: true}},
		{"v4 and v6", "inet", desired.NftRule{Saddr: netip.MustParsePrefix("10.0.0.0/8"), Saddr6Set: "v6", Accept: true}},
		{"v6 set as v4", "inet", desired.NftRule{SaddrSet: "v6", Accept: true}},
		{"v4 set as v6", "inet", desired.NftRule{Saddr6Set: "v4", Accept: true}},
		{"ports without protocol", "inet", desired.NftRule{DportMin: 80, Accept: true}},
		{"icmp type of tcp", "inet", desired.NftRule{L4Proto: 6, MatchICMPType: true, Accept: true}},
		{"arp in inet", "inet", desired.NftRule{L3Proto: "arp", Accept: true}},
		{"arp and ip", "bridge", desired.NftRule{ARPSenderIP: netip.MustParsePrefix("10.0.0.1/32"), Saddr: netip.MustParsePrefix("10.0.0.1/32"), Accept: true}},
		{"mark op", "bridge", desired.NftRule{SetMarkOp: "xor", SetMark: 1}},
		{"two actions", "inet", desired.NftRule{Jump: "port", Accept: true}},
		{"ipv6 in ip table", "ip", desired.NftRule{Saddr: netip.MustParsePrefix("2001:db8::/32"), Accept: true}},
	}
	for _, tc := range bad {
		if _, err := compile(sgTable(tc.family, tc.r)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	for name, tbl := range map[string]*desired.NftTable{
		"v4 address in v6 set": {Name: "neutrino-t", Family: "inet", Sets: []desired.NftSet{{Name: "s", Type: desired.TypeIPv6Addr, Elements: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}}},
		"verdict to nowhere": {Name: "neutrino-t", Family: "inet", Maps: []desired.NftMap{{Name: "m", KeyType: desired.TypeMark, ValueType: desired.TypeVerdict,
			Verdicts: map[string]string{"1": "jump nope"}}}},
		"bad mark key": {Name: "neutrino-t", Family: "inet", Maps: []desired.NftMap{{Name: "m", KeyType: desired.TypeMark, ValueType: desired.TypeVerdict,
			Verdicts: map[string]string{"x": "jump nope"}}}},
		"accept in a map": {Name: "neutrino-t", Family: "inet", Maps: []desired.NftMap{{Name: "m", KeyType: desired.TypeIfname, ValueType: desired.TypeVerdict,
			Verdicts: map[string]string{"tap": "accept"}}}},
		"ifname : ipv4": {Name: "neutrino-t", Family: "inet", Maps: []desired.NftMap{{Name: "m", KeyType: desired.TypeIfname}}},
	} {
		if _, err := compile(tbl); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
