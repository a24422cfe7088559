package plan

import (
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/agent/plan/dhcpnet"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Layer 2 is planned per network: a network's bridge, VXLAN device,
// FDB and neighbour entries, taps and DHCP namespace, and the facts of
// its ports and DHCP service, depend only on the network, its ports and
// subnets, its DHCP binding and the agents of the hosts its ports are
// on. Networks share nothing in the kernel (the FDB toward a VTEP is
// per VXLAN device, hence per network), so the host's layer 2 is the
// union of the networks' plans, kept up to date by splicing.

// netUnit is one network's plan and what it read.
type netUnit struct {
	l2    l2.Network
	facts Facts // Ports, BindingFailed, DHCP, IsolatedMetadata of this network
	reads readSet
}

// netChange is a network unit replanned since the host was assembled
// (nil: absent before or after).
type netChange struct{ old, new *netUnit }

// dirtyNetworks adds to out the networks a change may concern: those it
// names and those whose units read it. all is set when this host's own
// agents changed (its DHCP agent decides which networks it serves).
func (p *Planner) dirtyNetworks(c hostmodel.Change, out map[string]bool) (all bool) {
	for id := range p.netReaders.of(c) {
		out[id] = true
	}
	switch c.Key.Kind {
	case model.KindNetwork, model.KindDHCPBinding:
		out[c.Key.ID] = true
	case model.KindPort:
		for _, o := range []any{c.Old, c.New} {
			if pt, ok := o.(*model.Port); ok {
				out[pt.NetworkID] = true
			}
		}
	case model.KindAgent:
		for _, o := range []any{c.Old, c.New} {
			if a, ok := o.(*model.Agent); ok && a.Host == p.cfg.Host {
				all = true
			}
		}
	}
	return all
}

// candidateNetworks are the networks that may be present on the host:
// those of its ports, those with a DHCP binding, and the routers'.
func candidateNetworks(s *hostmodel.Snapshot, host string, routed []string, out map[string]bool) {
	for _, pt := range s.Ports {
		if pt.HostID == host {
			out[pt.NetworkID] = true
		}
	}
	for id := range s.DHCPBindings {
		out[id] = true
	}
	for _, id := range routed {
		out[id] = true
	}
}

// replanNetwork plans one network again (or drops it when the host no
// longer needs it).
func (p *Planner) replanNetwork(s *hostmodel.Snapshot, id, dhcpAgent string, routed bool) {
	p.Last.Networks++
	old := p.netUnits[id]
	if old != nil {
		p.dropNetworkFacts(old)
		p.netReaders.remove(id, old.reads)
		delete(p.netUnits, id)
	}
	nw := l2.PlanNetwork(s, p.cfg.l2(), dhcpAgent, id, routed)
	var u *netUnit
	if nw.Present {
		u = &netUnit{l2: nw, facts: newFacts(), reads: networkReads(s, p.cfg.Host, nw)}
		p.networkFacts(s, u)
		p.netUnits[id] = u
		p.netReaders.add(id, u.reads)
	}
	if old != nil || u != nil {
		p.pending = append(p.pending, netChange{old, u})
	}
}

// networkFacts fills a network unit's facts and adds them to the host's:
// its ports on this host (status to report, binding failures) and its
// DHCP service.
func (p *Planner) networkFacts(s *hostmodel.Snapshot, u *netUnit) {
	f, n := u.facts, s.Networks[u.l2.ID]
	l2cfg := p.cfg.l2()
	for _, pt := range s.PortsOfNetwork(u.l2.ID) {
		if pt.HostID != p.cfg.Host || pt.DeviceOwner == model.OwnerFloatingIP || pt.DeviceOwner == model.OwnerRouterInterfaceD {
			continue
		}
		f.Ports[pt.ID] = pt.AdminStateUp
		if n != nil && !l2.IsRouterOwned(pt.DeviceOwner) {
			if why := l2.Unpluggable(l2cfg, n); why != "" {
				f.BindingFailed[pt.ID] = why
			}
		}
	}
	if port := u.l2.DHCPPort; n != nil && port != nil {
		ns := p.cfg.NS.Build(names.PrefixDHCP, n.ID)
		f.DHCP[ns] = DHCPServer{Namespace: ns, Device: names.DHCPInner(port.ID),
			Network: dhcpnet.Network(s, n, port, p.cfg.DNSDomain, p.cfg.IsolatedMetadata)}
		if p.cfg.IsolatedMetadata && !slices.ContainsFunc(n.Subnets, func(sid string) bool {
			sub := s.Subnets[sid]
			return sub != nil && dhcpnet.SubnetHasRouter(s, sub)
		}) {
			f.IsolatedMetadata[ns] = n.ID
		}
	}
	touch(p, f.Ports)
	touch(p, f.BindingFailed)
	for id, up := range f.Ports {
		p.facts.Ports[id] = up
	}
	for id, why := range f.BindingFailed {
		p.facts.BindingFailed[id] = why
	}
	for ns, d := range f.DHCP {
		p.facts.DHCP[ns] = d
	}
	for ns, net := range f.IsolatedMetadata {
		p.facts.IsolatedMetadata[ns] = net
	}
}

func (p *Planner) dropNetworkFacts(u *netUnit) {
	touch(p, u.facts.Ports)
	touch(p, u.facts.BindingFailed)
	for id := range u.facts.Ports {
		delete(p.facts.Ports, id)
	}
	for id := range u.facts.BindingFailed {
		delete(p.facts.BindingFailed, id)
	}
	for ns := range u.facts.DHCP {
		delete(p.facts.DHCP, ns)
	}
	for ns := range u.facts.IsolatedMetadata {
		delete(p.facts.IsolatedMetadata, ns)
	}
}

// networkReads is what planning network nw read of the snapshot.
func networkReads(s *hostmodel.Snapshot, host string, nw l2.Network) readSet {
	rs := readSet{keys: map[syncproto.Key]bool{}, idx: map[idxKey]bool{
		{model.KindPort, "network", nw.ID}:   true,
		{model.KindSubnet, "network", nw.ID}: true,
	}}
	key := func(kind, id string) { rs.keys[syncproto.Key{Kind: kind, ID: id}] = true }
	key(model.KindNetwork, nw.ID)
	key(model.KindDHCPBinding, nw.ID)
	if n := s.Networks[nw.ID]; n != nil {
		for _, sid := range n.Subnets {
			key(model.KindSubnet, sid)
		}
	}
	for _, pt := range s.PortsOfNetwork(nw.ID) {
		// l2population: the VTEP of every host with a port here.
		rs.idx[idxKey{model.KindAgent, "host", pt.HostID}] = true
		for _, ip := range pt.FixedIPs {
			key(model.KindSubnet, ip.SubnetID)
		}
	}
	return rs
}

// spliceNetworks puts the replanned networks' plans in place in the
// host's lists; false when a list must be rebuilt instead.
func (p *Planner) spliceNetworks() bool {
	if len(p.pending) == 0 {
		return true // nothing to splice (a rule, a floating IP)
	}
	var del, add desired.Host
	for _, c := range p.pending {
		for _, x := range []struct {
			u   *netUnit
			dst *desired.Host
		}{{c.old, &del}, {c.new, &add}} {
			if x.u == nil {
				continue
			}
			h := &x.u.l2.Host
			x.dst.Bridges = append(x.dst.Bridges, h.Bridges...)
			x.dst.VXLANs = append(x.dst.VXLANs, h.VXLANs...)
			x.dst.VLANs = append(x.dst.VLANs, h.VLANs...)
			x.dst.GRETaps = append(x.dst.GRETaps, h.GRETaps...)
			x.dst.BridgePorts = append(x.dst.BridgePorts, h.BridgePorts...)
			x.dst.FDB = append(x.dst.FDB, h.FDB...)
			x.dst.Neighs = append(x.dst.Neighs, h.Neighs...)
			x.dst.Namespaces = append(x.dst.Namespaces, h.Namespaces...)
		}
	}
	// Units' elements have distinct keys unless two units planned the
	// same one: then the host is rebuilt (see rebuild).
	n := len(add.Bridges) + len(add.VXLANs) + len(add.VLANs) + len(add.GRETaps) + len(add.BridgePorts) + len(add.FDB) + len(add.Neighs) + len(add.Namespaces)
	del.Normalize()
	add.Normalize()
	if n != len(add.Bridges)+len(add.VXLANs)+len(add.VLANs)+len(add.GRETaps)+len(add.BridgePorts)+len(add.FDB)+len(add.Neighs)+len(add.Namespaces) {
		return false
	}
	h, ok := p.host, true
	step := func(ok2 bool) { ok = ok && ok2 }
	var o bool
	h.Bridges, o = splice(h.Bridges, del.Bridges, add.Bridges, desired.Bridge.Key)
	step(o)
	h.VXLANs, o = splice(h.VXLANs, del.VXLANs, add.VXLANs, desired.VXLAN.Key)
	step(o)
	h.VLANs, o = splice(h.VLANs, del.VLANs, add.VLANs, desired.VLAN.Key)
	step(o)
	h.GRETaps, o = splice(h.GRETaps, del.GRETaps, add.GRETaps, desired.GRETap.Key)
	step(o)
	h.BridgePorts, o = splice(h.BridgePorts, del.BridgePorts, add.BridgePorts, desired.BridgePort.Key)
	step(o)
	h.FDB, o = splice(h.FDB, del.FDB, add.FDB, desired.FDB.Key)
	step(o)
	h.Neighs, o = splice(h.Neighs, del.Neighs, add.Neighs, desired.Neigh.Key)
	step(o)
	h.Namespaces, o = splice(h.Namespaces, del.Namespaces, add.Namespaces, desired.Namespace.Key)
	step(o)
	if ok {
		p.host = h
	}
	return ok
}

// rebuild assembles the host from every unit. dupes records whether two
// units planned the same element (say, one physical interface for two
// flat networks on one physical network): splicing cannot tell whose
// element stays, so the host is then rebuilt on every change.
func (p *Planner) rebuild() {
	h := desired.Host{Sysctls: slices.Clone(l2.HostSysctls)}
	ids := make([]string, 0, len(p.netUnits))
	for id := range p.netUnits {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		u := &p.netUnits[id].l2.Host
		h.Bridges = append(h.Bridges, u.Bridges...)
		h.VXLANs = append(h.VXLANs, u.VXLANs...)
		h.VLANs = append(h.VLANs, u.VLANs...)
		h.GRETaps = append(h.GRETaps, u.GRETaps...)
		h.BridgePorts = append(h.BridgePorts, u.BridgePorts...)
		h.FDB = append(h.FDB, u.FDB...)
		h.Neighs = append(h.Neighs, u.Neighs...)
		h.Namespaces = append(h.Namespaces, u.Namespaces...)
	}
	p.addRouterHostParts(&h)
	n := len(h.Bridges) + len(h.VXLANs) + len(h.VLANs) + len(h.GRETaps) + len(h.BridgePorts) + len(h.FDB) + len(h.Neighs) + len(h.Namespaces)
	h.Normalize()
	p.dupes = n != len(h.Bridges)+len(h.VXLANs)+len(h.VLANs)+len(h.GRETaps)+len(h.BridgePorts)+len(h.FDB)+len(h.Neighs)+len(h.Namespaces)
	p.host = h
	p.mergeRouters()
}

// mergeRouters sets the host's namespaces to the networks' DHCP
// namespaces and the routers' (each unit's lists are already sorted;
// only namespaces are merged).
func (p *Planner) mergeRouters() {
	ns := make([]desired.Namespace, 0, len(p.netUnits)+len(p.routers))
	for _, u := range p.netUnits {
		ns = append(ns, u.l2.Host.Namespaces...)
	}
	shared := false
	for _, u := range p.routers {
		ns = append(ns, u.router.Namespace)
		ns = append(ns, u.router.Extra...)
		shared = shared || len(u.router.Extra) > 0
	}
	slices.SortFunc(ns, func(a, b desired.Namespace) int { return strings.Compare(a.Name, b.Name) })
	if shared {
		ns = mergeShared(ns)
	}
	p.host.Namespaces = slices.CompactFunc(ns, func(a, b desired.Namespace) bool { return a.Name == b.Name })
}
