package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// The host's DVR bridge table. The forward hook runs for every copy of
// every frame any bridge of the host forwards, so what it walks is paid
// per frame: with a rule per DVR interface (12 per distributed router
// with the default tunnel ports; thousands on a busy network node) a
// frame sent to a tunnel port went through all of them, and a broadcast
// on the external network, copied to every router's gateway port, cost
// the product of the two. The rules are therefore laid out as lookups:
//
//	chain forward {  # one rule per tunnel port pattern, whatever the routers
//	  oifname "vxlan-*" jump tunnel-0
//	}
//	chain tunnel-0 {  # three rules, whatever the routers
//	  ether saddr @tunnel-0-dvr-macs ether saddr set <the host's DVR MAC>
//	  ether daddr @tunnel-0-gateway-macs drop
//	  arp daddr ip @tunnel-0-gateway-ips drop
//	}
//
// with the routers' gateway MACs and addresses in hash sets: a router
// that comes or goes adds or deletes set elements and leaves the chains
// as they are. It is the same filter as the rules one by one (see
// setRules for why their order does not matter); rules of another shape
// keep their chain of single rules.

// dvrLayout lays the DVR rules out: each rule names the tunnel port
// (pattern) it is about; each port gets a chain, reached by one rule of
// the forward chain, and ports with the same rules share one. Chains and
// sets are sorted by name, as Normalize would.
func dvrLayout(rules []desired.NftRule) ([]desired.NftChain, []desired.NftSet) {
	fwd := desired.NftChain{Name: "forward", Type: "filter", Hook: "forward", Priority: DVRForwardPriority}
	var outs []string
	count := map[string]int{}
	for _, r := range rules {
		if r.OifName == "" { // not about one port: keep them all flat
			fwd.Rules = rules
			return []desired.NftChain{fwd}, nil
		}
		if count[r.OifName] == 0 {
			outs = append(outs, r.OifName)
		}
		count[r.OifName]++
	}
	byOut := make(map[string][]desired.NftRule, len(outs))
	for _, out := range outs {
		byOut[out] = make([]desired.NftRule, 0, count[out])
	}
	for _, r := range rules {
		in := r
		in.OifName = ""
		byOut[r.OifName] = append(byOut[r.OifName], in)
	}
	chains := []desired.NftChain{}
	var sets []desired.NftSet
	var uniq [][]desired.NftRule // the ports' distinct rule lists; chain i is tunnel-i
	for _, out := range outs {
		i := slices.IndexFunc(uniq, func(rs []desired.NftRule) bool { return slices.Equal(rs, byOut[out]) })
		if i < 0 {
			i = len(uniq)
			uniq = append(uniq, byOut[out])
			ch := desired.NftChain{Name: fmt.Sprintf("tunnel-%d", i), Rules: byOut[out]}
			if rs, ss, ok := setRules(ch.Name, byOut[out]); ok {
				ch.Rules, sets = rs, append(sets, ss...)
			}
			chains = append(chains, ch)
		}
		fwd.Rules = append(fwd.Rules, desired.NftRule{OifName: out, Jump: fmt.Sprintf("tunnel-%d", i)})
	}
	chains = append(chains, fwd)
	slices.SortFunc(chains, func(a, b desired.NftChain) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(sets, func(a, b desired.NftSet) int { return strings.Compare(a.Name, b.Name) })
	return chains, sets
}

// setRules turns one port's rules into set lookups; ok is false when a
// rule is of another shape, or when their order would matter. Each rule
// is one of
//
//	ether saddr <gw mac> ether saddr set <dvr mac>   (a rewrite)
//	ether daddr <gw mac> drop
//	arp daddr ip <gw ip> drop
//
// Drops end a frame's walk and a rewrite changes only the frame's
// source MAC, which no drop looks at, so drops and rewrites can be
// reordered freely. Two rewrites can be reordered too unless one's new
// MAC is another's match (then the first would feed the second), and of
// two rewrites of one MAC only the first ever acts. So the set layout
// rewrites first (one rule per DVR MAC: one in practice, the host's),
// then drops, and refuses the two cases where order would tell.
func setRules(chain string, rules []desired.NftRule) ([]desired.NftRule, []desired.NftSet, bool) {
	var values []string              // DVR MACs, in order of first use
	srcs := map[string][]string{}    // DVR MAC -> gateway MACs rewritten to it
	rewritten := map[string]string{} // gateway MAC (lower case) -> DVR MAC
	var dropMACs, dropIPs []string   // may repeat: set keys are compared as bytes
	for _, r := range rules {
		c := r
		c.Comment = ""
		switch {
		case c == desired.NftRule{EtherSaddr: r.EtherSaddr, SetEtherSaddr: r.SetEtherSaddr} && r.EtherSaddr != "":
			mac := strings.ToLower(r.EtherSaddr)
			if v, seen := rewritten[mac]; seen {
				if v != r.SetEtherSaddr {
					return nil, nil, false
				}
				continue
			}
			rewritten[mac] = r.SetEtherSaddr
			if _, ok := srcs[r.SetEtherSaddr]; !ok {
				values = append(values, r.SetEtherSaddr)
			}
			srcs[r.SetEtherSaddr] = append(srcs[r.SetEtherSaddr], r.EtherSaddr)
		case c == desired.NftRule{EtherDaddr: r.EtherDaddr, Drop: true} && r.EtherDaddr != "":
			dropMACs = append(dropMACs, r.EtherDaddr)
		case c == desired.NftRule{ARPTargetIP: r.ARPTargetIP, Drop: true} && r.ARPTargetIP.Is4():
			dropIPs = append(dropIPs, r.ARPTargetIP.String())
		default:
			return nil, nil, false
		}
	}
	for _, v := range values {
		if _, ok := rewritten[strings.ToLower(v)]; ok {
			return nil, nil, false
		}
	}
	var out []desired.NftRule
	var sets []desired.NftSet
	for i, v := range values {
		name := chain + "-dvr-macs"
		if i > 0 {
			name = fmt.Sprintf("%s-%d", name, i)
		}
		sets = append(sets, desired.NftSet{Name: name, Type: desired.TypeEtherAddr, Hash: true, Keys: sortedKeys(srcs[v])})
		out = append(out, desired.NftRule{EtherSaddrSet: name, SetEtherSaddr: v, Comment: "gateway macs leave with the dvr mac"})
	}
	// The drop rules are there even with empty sets, so that the chain
	// stays the same whatever routers come and go.
	sets = append(sets,
		desired.NftSet{Name: chain + "-gateway-macs", Type: desired.TypeEtherAddr, Hash: true, Keys: sortedKeys(dropMACs)},
		desired.NftSet{Name: chain + "-gateway-ips", Type: desired.TypeIPv4Addr, Hash: true, Keys: sortedKeys(dropIPs)})
	out = append(out,
		desired.NftRule{EtherDaddrSet: chain + "-gateway-macs", Drop: true, Comment: "gateway macs stay on host"},
		desired.NftRule{ARPTargetSet: chain + "-gateway-ips", Drop: true, Comment: "gateway arp stays on host"})
	return out, sets, true
}

// sortedKeys sorts a set's keys and drops repeats (routers on one
// network give the same gateway address more than once).
func sortedKeys(keys []string) []string {
	slices.Sort(keys)
	return slices.Compact(keys)
}
