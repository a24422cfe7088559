package plan

import (
	"slices"

	"github.com/neutrino-net/neutrino/internal/agent/plan/l3"
	"github.com/neutrino-net/neutrino/internal/desired"
)

// DVRBridgeTable is the host's bridge-family table of DVR rules.
const DVRBridgeTable = "neutrino-dvr"

// DVRForwardPriority is its forward chain's priority: below 0, where
// br_netfilter's bridge forward hook sits. With bridge-nf-call-iptables
// on (a host with filtered ports), br_netfilter takes IP frames at
// priority 0 to the inet hooks and, when it gives them back, runs only
// the bridge hooks above 0: a chain at 0 registered after it (Debian's
// 6.1 kernel, where br_netfilter's hooks exist before the table) never
// sees routed IPv4 and IPv6 frames, which then leave with the gateway
// MAC. Found by the full-kernel tier (TestDVRVLANTenant).
const DVRForwardPriority = -100

// normalizeHostParts sorts a router's host entries (bridge rules keep
// their order: they are read in order).
func normalizeHostParts(h *l3.HostParts) {
	tmp := desired.Host{FDB: h.FDB, Neighs: h.Neighs}
	tmp.Normalize()
	h.FDB, h.Neighs = tmp.FDB, tmp.Neighs
}

// addRouterHostParts adds the routers' host entries to h: FDB entries
// and neighbours, and the bridge-family table with every router's rules
// (routers by id; none: no table, so that a host without distributed
// routers keeps no DVR table).
func (p *Planner) addRouterHostParts(h *desired.Host) {
	ids := make([]string, 0, len(p.routers))
	for id, u := range p.routers {
		if !u.router.Host.Empty() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var rules []desired.NftRule
	for _, id := range ids {
		hp := &p.routers[id].router.Host
		h.FDB = append(h.FDB, hp.FDB...)
		h.Neighs = append(h.Neighs, hp.Neighs...)
		rules = append(rules, hp.BridgeRules...)
	}
	if len(rules) == 0 {
		h.Nft = nil
		return
	}
	h.Nft = []desired.NftTable{DVRBridgeTableOf(rules)}
}

// DVRBridgeTableOf is the host's DVR bridge table holding the routers'
// bridge rules (l3.HostParts.BridgeRules, routers in order), laid out as
// lookups (dvrsets.go).
func DVRBridgeTableOf(rules []desired.NftRule) desired.NftTable {
	// Routers on one network share nothing here but identical rules
	// (two routers never share a gateway MAC); keep the first of each.
	seen := make(map[desired.NftRule]bool, len(rules))
	rules = slices.DeleteFunc(slices.Clone(rules), func(r desired.NftRule) bool {
		dup := seen[r]
		seen[r] = true
		return dup
	})
	chains, sets := dvrLayout(rules)
	return desired.NftTable{Family: desired.FamilyBridge, Name: DVRBridgeTable, Chains: chains, Sets: sets}
}

// mergeShared merges namespaces of one name (sorted by name), each
// router's share of a fip- namespace: the union of their lists.
func mergeShared(ns []desired.Namespace) []desired.Namespace {
	out := ns[:0:0]
	for i := 0; i < len(ns); {
		j := i + 1
		for j < len(ns) && ns[j].Name == ns[i].Name {
			j++
		}
		if j == i+1 {
			out = append(out, ns[i])
			i = j
			continue
		}
		m := desired.Namespace{Name: ns[i].Name}
		for _, n := range ns[i:j] {
			m.Veths = append(m.Veths, n.Veths...)
			m.Routes = append(m.Routes, n.Routes...)
			m.Rules = append(m.Rules, n.Rules...)
			m.Sysctls = append(m.Sysctls, n.Sysctls...)
			m.Nft = append(m.Nft, n.Nft...)
			m.GARP = append(m.GARP, n.GARP...)
		}
		m.Normalize()
		out = append(out, m)
		i = j
	}
	return out
}
