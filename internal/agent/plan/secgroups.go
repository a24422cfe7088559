package plan

import (
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/agent/plan/secgroup"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// sgState is the security group share of the host as last planned, and
// its inputs: the instance taps and bridges of the host. The planner
// keeps what it rendered: a change replans only what it touches.
type sgState struct {
	planner *secgroup.Planner
	res     secgroup.Result
	ports   []secgroup.Port
	bridges []string
}

// sgChange reports whether a change can change the security group
// tables: groups, rules, ports (addresses, groups, port security,
// remote group members) and address groups.
func sgChange(changes []hostmodel.Change) bool {
	for _, c := range changes {
		if c.StatusOnly {
			continue
		}
		switch c.Key.Kind {
		case model.KindSG, model.KindSGRule, model.KindPort, model.KindAddressGroup:
			return true
		}
	}
	return false
}

// RecoverSecGroups hands the security group planner the mark indexes
// found in the kernel (by tap), before the first plan.
func (p *Planner) RecoverSecGroups(byTap map[string]uint32) {
	p.sgPlanner().Recover(byTap)
}

func (p *Planner) sgPlanner() *secgroup.Planner {
	if p.sg.planner == nil {
		p.sg.planner = secgroup.NewPlanner(secgroup.Options{AllowARPSpoofing: p.cfg.AllowARPSpoofing})
	}
	return p.sg.planner
}

// addSecGroups puts the security group tables into the host (replanned
// when a change or the host's taps call for it) and turns br_netfilter
// on when a port is filtered (KERNEL.md §4.7: it hands bridged IP
// traffic to the inet hooks that filter it statefully).
func (p *Planner) addSecGroups(s *hostmodel.Snapshot, changes []hostmodel.Change, first bool) {
	var ports []secgroup.Port
	for _, bp := range p.host.BridgePorts {
		if bp.PortID != "" {
			ports = append(ports, secgroup.Port{ID: bp.PortID, Tap: bp.Name, Bridge: bp.Bridge})
		}
	}
	bridges := make([]string, len(p.host.Bridges))
	for i, b := range p.host.Bridges {
		bridges[i] = b.Name
	}
	if !p.cfg.SecurityGroups {
		ports = nil // nothing filtered: no tables, br_netfilter off
	}
	if first || sgChange(changes) || !slices.Equal(ports, p.sg.ports) || !slices.Equal(bridges, p.sg.bridges) {
		res := p.sgPlanner().Plan(s, ports, bridges, changes, first)
		p.facts.ConntrackFlush = res.Flush
		p.sg = sgState{planner: p.sg.planner, res: res, ports: ports, bridges: bridges}
	} else {
		p.facts.ConntrackFlush = nil
	}
	// Fresh slices: the host's lists may be shared with a previous plan.
	nft := make([]desired.NftTable, 0, len(p.host.Nft)+len(p.sg.res.Tables))
	for _, t := range p.host.Nft {
		if t.Name != secgroup.Table {
			nft = append(nft, t)
		}
	}
	nft = append(nft, p.sg.res.Tables...)
	// The order of "family name" (as Normalize sorts), without building
	// the strings: families are letters and digits, after ' '.
	slices.SortFunc(nft, func(a, b desired.NftTable) int {
		if c := strings.Compare(a.FamilyOrIP(), b.FamilyOrIP()); c != 0 {
			return c
		}
		return strings.Compare(a.NameOrDefault(), b.NameOrDefault())
	})
	p.host.Nft = nft
	on, loose := "0", "1"
	if len(p.sg.res.Filtered) > 0 {
		on, loose = "1", "0"
	}
	sysctls := slices.Clone(p.host.Sysctls)
	for i, sc := range sysctls {
		switch sc.Key {
		case "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables":
			sysctls[i].Value = on
		case l2.TCPLooseSysctl:
			sysctls[i].Value = loose
		}
	}
	p.host.Sysctls = sysctls
}
