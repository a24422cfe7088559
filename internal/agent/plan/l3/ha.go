package l3

import (
	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// HA routers (docs/ha.md). Every agent an HA router is bound to builds
// its gateway namespace (a legacy router's qrouter-, a distributed
// router's snat-) whole: devices plugged, sysctls, nftables, policy
// rules. A standby holds none of the router's addresses, and so none of
// the routes through them: only the active copy answers ARP for them or
// sends from them. Promotion is the ordinary apply of the same plan with
// the addresses in: the apply adds them and announces them (GARP), so a
// promoted standby needs nothing but a replan.

// HAStandby reports whether this host runs router r as an HA standby:
// r is HA, bound to this host's L3 agent, and the binding names another
// agent active.
func HAStandby(s *hostmodel.Snapshot, host string, r *model.Router) bool {
	if !r.HA {
		return false
	}
	l3 := s.AgentsOf(host)[model.AgentTypeL3]
	b := s.L3Bindings[r.ID]
	if l3 == nil || b == nil || !boundHere(s, host, r) {
		return false
	}
	return b.ActiveAgentID != l3.ID
}

// stripAddrs plans a standby's copy of a gateway namespace: its
// device addresses, its routes (they need the addresses) and its
// announcements are left out; everything else stays, so that promotion
// only adds addresses and routes.
func stripAddrs(ns *desired.Namespace) {
	for i := range ns.Veths {
		ns.Veths[i].Addrs = nil
	}
	ns.Routes, ns.GARP = nil, nil
}

// haSysctls are set in every copy of an HA router's gateway namespace,
// before its devices exist: they get no IPv6 link-local address. All
// copies share each port's MAC, and a standby's link-local duplicate
// address detection, router solicitations and MLD reports would teach
// the switches that the active copy's MAC is on the standby's port
// (upstream's keepalived keeps link-local addresses off standbys too).
var haSysctls = []desired.Sysctl{{Key: "net/ipv6/conf/default/addr_gen_mode", Value: "1"}}

// haNamespace adds what every copy of an HA gateway namespace needs,
// and strips a standby's addresses.
func haNamespace(s *hostmodel.Snapshot, host string, r *model.Router, ns *desired.Namespace) (standby bool) {
	if !r.HA {
		return false
	}
	ns.Sysctls = append(ns.Sysctls, haSysctls...)
	if HAStandby(s, host, r) {
		stripAddrs(ns)
		return true
	}
	return false
}
