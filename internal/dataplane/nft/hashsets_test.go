package nft

import (
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// hashTable is a bridge table with an ether_addr and an ipv4_addr hash
// set and rules looking frames up in them.
func hashTable(family string, rules ...desired.NftRule) *desired.NftTable {
	return &desired.NftTable{Family: family, Name: "neutrino-t",
		Sets: []desired.NftSet{
			{Name: "macs", Type: desired.TypeEtherAddr, Hash: true, Keys: []string{"fa:16:3e:00:00:01", "FA:16:3E:00:00:02"}},
			{Name: "ips", Type: desired.TypeIPv4Addr, Hash: true, Keys: []string{"10.0.0.1"}},
			{Name: "ranges", Elements: nil},
		},
		Chains: []desired.NftChain{{Name: "forward", Type: "filter", Hook: "forward", Rules: rules}}}
}

func TestCompileHashSets(t *testing.T) {
	rules := []desired.NftRule{
		{EtherSaddrSet: "macs", SetEtherSaddr: "fa:16:3f:00:00:09"},
		{EtherDaddrSet: "macs", Drop: true},
		{OifName: "vxlan-*", ARPTargetSet: "ips", Drop: true},
	}
	w, err := compile(hashTable(desired.FamilyBridge, rules...))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range w.chains[0].spec.Rules {
		if _, err := ruleExprs(r, w.key.family, nil); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	// Keys are compared as bytes: the upper-case MAC is the same key.
	var keys []string
	for k := range w.sets["macs"].relems {
		keys = append(keys, w.sets["macs"].raw.keyText(k))
	}
	if len(keys) != 2 || !strings.Contains(strings.Join(keys, " "), "fa:16:3e:00:00:02") {
		t.Errorf("mac keys = %v", keys)
	}
	ops := diffRaw(w.sets["ips"], &setSnap{relems: map[string]string{}})
	if len(ops) != 1 || ops[0].lines[0] != "nft add element ips 10.0.0.1" {
		t.Errorf("ops = %+v", ops)
	}
	for _, tc := range []struct {
		name string
		want *desired.NftTable
		err  string
	}{
		{"ether set in inet table", hashTable(desired.FamilyINet, desired.NftRule{EtherDaddrSet: "macs", Drop: true}), "only in a bridge table"},
		{"ether lookup in ip set", hashTable(desired.FamilyBridge, desired.NftRule{EtherDaddrSet: "ips", Drop: true}), "not a hash set of type ether_addr"},
		{"arp lookup in mac set", hashTable(desired.FamilyBridge, desired.NftRule{ARPTargetSet: "macs", Drop: true}), "not a hash set of type ipv4_addr"},
		{"arp lookup in interval set", hashTable(desired.FamilyBridge, desired.NftRule{ARPTargetSet: "ranges", Drop: true}), "not a hash set"},
		{"undeclared", hashTable(desired.FamilyBridge, desired.NftRule{EtherSaddrSet: "nope", Drop: true}), "undeclared"},
		{"arp set and ip", hashTable(desired.FamilyBridge, desired.NftRule{ARPTargetSet: "ips", DaddrSet: "ranges", Drop: true}), "cannot be combined"},
		{"bad mac", &desired.NftTable{Family: "bridge", Name: "neutrino-t", Sets: []desired.NftSet{{Name: "m", Type: desired.TypeEtherAddr, Keys: []string{"fa:16"}}}}, "nft set m"},
		{"ipv6 key", &desired.NftTable{Family: "bridge", Name: "neutrino-t", Sets: []desired.NftSet{{Name: "m", Hash: true, Keys: []string{"::1"}}}}, "not an IPv4 address"},
		{"ipv6 hash", &desired.NftTable{Family: "bridge", Name: "neutrino-t", Sets: []desired.NftSet{{Name: "m", Type: desired.TypeIPv6Addr, Hash: true}}}, "not implemented"},
	} {
		_, err := compile(tc.want)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error = %v, want %q", tc.name, err, tc.err)
		}
	}
}
