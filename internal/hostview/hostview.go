// Package hostview decides what each host needs to know: the set of
// stored objects an agent on that host receives through the sync stream.
// It is deterministic and does no I/O: it reads a store view, walking the
// cache's secondary indexes so that a host's view costs what the host
// holds, not what the cloud holds.
//
// What a host gets (upstream's RPC payloads, flattened):
//   - its own agents, and the ports bound to it (binding:host_id), with
//     their networks, subnets and security groups (+ rules), and the
//     member ports of the groups those rules name as remote groups;
//   - for networks scheduled to its DHCP agent: the network and all its
//     ports (static leases);
//   - every router it serves — legacy or central SNAT part (bound to its
//     L3 agent), DVR part (it has a port on one of the router's subnets)
//     — with the router's ports, floating IPs and binding;
//   - for every network present on the host: all ports of that network
//     and the L2 agents of the hosts holding them (l2population: FDB and
//     ARP entries, tunnel endpoints);
//   - its own DVR host MAC.
package hostview

import (
	"slices"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Index names maintained in the store cache.
const (
	ByHost    = "host"    // port: binding:host_id; agent: host
	ByNetwork = "network" // port: network_id
	ByDevice  = "device"  // port: device_id
	BySubnet  = "subnet"  // port: subnet ids of fixed_ips
	ByRouter  = "router"  // floatingip: router_id
	ByPort    = "port"    // floatingip: port_id
	ByAgent   = "agent"   // l3/dhcp binding: agent ids
	ByGroup   = "group"   // security group rule: security_group_id; port: security_groups
	ByType    = "type"    // agent: agent_type (schedulers look for one type among every host's agents)
	ByL3Mode  = "l3mode"  // L3 agent: agent_mode, legacy when unset (L3 schedulers want legacy or dvr_snat, not every compute host's dvr agent)
)

// typed makes an index function of T's: an object of another type has
// no keys (it cannot be found through the index) instead of panicking
// the store.
func typed[T any](fn func(T) []string) store.IndexFunc {
	return func(o any) []string {
		if t, ok := o.(T); ok {
			return fn(t)
		}
		return nil
	}
}

// Indexes are the store options the server opens its store with.
func Indexes() []store.Option {
	port := func(fn func(p *model.Port) []string) store.IndexFunc {
		return typed(fn)
	}
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	ptr := func(s *string) []string {
		if s == nil {
			return nil
		}
		return one(*s)
	}
	return []store.Option{
		store.WithIndex(model.KindPort, ByHost, port(func(p *model.Port) []string { return one(p.HostID) })),
		store.WithIndex(model.KindPort, ByNetwork, port(func(p *model.Port) []string { return one(p.NetworkID) })),
		store.WithIndex(model.KindPort, ByDevice, port(func(p *model.Port) []string { return one(p.DeviceID) })),
		store.WithIndex(model.KindPort, BySubnet, port(func(p *model.Port) []string {
			var out []string
			for _, ip := range p.FixedIPs {
				if !slices.Contains(out, ip.SubnetID) {
					out = append(out, ip.SubnetID)
				}
			}
			return out
		})),
		store.WithIndex(model.KindFIP, ByRouter, typed(func(f *model.FloatingIP) []string { return ptr(f.RouterID) })),
		store.WithIndex(model.KindFIP, ByPort, typed(func(f *model.FloatingIP) []string { return ptr(f.PortID) })),
		store.WithIndex(model.KindAgent, ByHost, typed(func(a *model.Agent) []string { return one(a.Host) })),
		store.WithIndex(model.KindAgent, ByType, typed(func(a *model.Agent) []string { return one(a.AgentType) })),
		store.WithIndex(model.KindAgent, ByL3Mode, typed(func(a *model.Agent) []string {
			if a.AgentType != model.AgentTypeL3 {
				return nil
			}
			return []string{agentMode(a)}
		})),
		store.WithIndex(model.KindL3Binding, ByAgent, typed(func(b *model.Binding) []string { return b.AgentIDs })),
		store.WithIndex(model.KindDHCPBinding, ByAgent, typed(func(b *model.Binding) []string { return b.AgentIDs })),
		store.WithIndex(model.KindSGRule, ByGroup, typed(func(r *model.SecurityGroupRule) []string { return one(r.SecurityGroupID) })),
		store.WithIndex(model.KindPort, ByGroup, port(func(p *model.Port) []string { return p.SecurityGroups })),
		claimedIndex(),
	}
}

// View is the set of objects a host needs, by key.
type View map[syncproto.Key]*store.Entry

func (hv View) add(kind string, e *store.Entry) {
	if e != nil {
		hv[syncproto.Key{Kind: kind, ID: e.ID}] = e
	}
}

// L3Mode returns the agent_mode of the host's L3 agent ("" if none).
func L3Mode(v *store.View, host string) (string, *model.Agent) {
	for _, e := range v.Index(model.KindAgent, ByHost, host) {
		ag, ok := store.As[*model.Agent](e)
		if !ok {
			continue
		}
		if ag.AgentType == model.AgentTypeL3 {
			return agentMode(ag), ag
		}
	}
	return "", nil
}

// agentMode is an L3 agent's agent_mode, legacy when unset (as
// control.AgentMode).
func agentMode(ag *model.Agent) string {
	if m, ok := ag.Configurations["agent_mode"].(string); ok && m != "" {
		return m
	}
	return model.ModeLegacy
}

// DVRRoutersOfPort returns the distributed routers with an interface on
// one of the port's subnets.
func DVRRoutersOfPort(v *store.View, p *model.Port) []string {
	var out []string
	for _, ip := range p.FixedIPs {
		for _, rp := range v.Index(model.KindPort, BySubnet, ip.SubnetID) {
			q, ok := store.As[*model.Port](rp)
			if !ok {
				continue
			}
			if q.DeviceOwner == model.OwnerRouterInterfaceD && !slices.Contains(out, q.DeviceID) {
				out = append(out, q.DeviceID)
			}
		}
	}
	return out
}

// RoutersOfHost returns the routers the host serves: bound to its L3
// agent (legacy, or the central SNAT part of a DVR router), and, in a DVR
// mode, the distributed routers of its local ports' subnets.
func RoutersOfHost(v *store.View, host string) []string {
	mode, l3 := L3Mode(v, host)
	if l3 == nil {
		return nil
	}
	var out []string
	for _, b := range v.Index(model.KindL3Binding, ByAgent, l3.ID) {
		out = append(out, b.ID)
	}
	if mode == model.ModeDVR || mode == model.ModeDVRSNAT || mode == model.ModeDVRNoExternal {
		for _, pe := range v.Index(model.KindPort, ByHost, host) {
			p, ok := store.As[*model.Port](pe)
			if !ok {
				continue
			}
			if model.DVRServiceable(p.DeviceOwner) {
				for _, r := range DVRRoutersOfPort(v, p) {
					if !slices.Contains(out, r) {
						out = append(out, r)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// Compute returns the view of one host.
func Compute(v *store.View, host string) View {
	c := &computation{v: v, host: host, hv: View{}, nets: map[string]bool{}, served: map[string]bool{}}
	c.addAgents()
	for _, pe := range v.Index(model.KindPort, ByHost, host) {
		c.addPort(pe)
	}
	for _, rid := range RoutersOfHost(v, host) {
		c.addRouter(rid)
	}
	c.addNetworks()
	c.addGroups()
	// The host's own DVR MAC: the others' are of no use to a Linux
	// bridge agent (it rewrites no source MACs of other hosts), and with
	// them every view would grow with the number of hosts.
	if e, ok := v.Get(model.KindDVRMAC, host); ok {
		c.hv.add(model.KindDVRMAC, e)
	}
	return c.hv
}

// computation is one host's view being computed.
type computation struct {
	v      *store.View
	host   string
	hv     View
	nets   map[string]bool // networks present here
	served map[string]bool // networks this host's DHCP agent serves
	groups []string        // security groups of the host's ports
}

// addPort adds one of the host's own ports (or a router's), with its
// network and security groups.
func (c *computation) addPort(pe *store.Entry) {
	p, ok := store.As[*model.Port](pe)
	if ok && p.DeviceOwner == model.OwnerRouterHA {
		// HA ports are API bookkeeping: no agent plugs them (the
		// standbys probe the active host over the tunnel network,
		// docs/ha.md), so no host's view carries them or their
		// hidden network.
		return
	}
	c.hv.add(model.KindPort, pe)
	if !ok {
		return
	}
	c.nets[p.NetworkID] = true
	for _, g := range p.SecurityGroups {
		if !slices.Contains(c.groups, g) {
			c.groups = append(c.groups, g)
		}
	}
}

// addAgents adds the host's agents and, for its DHCP agent, the
// networks it serves.
func (c *computation) addAgents() {
	for _, ae := range c.v.Index(model.KindAgent, ByHost, c.host) {
		c.hv.add(model.KindAgent, ae)
		ag, ok := store.As[*model.Agent](ae)
		if !ok {
			continue
		}
		if ag.AgentType == model.AgentTypeDHCP {
			for _, be := range c.v.Index(model.KindDHCPBinding, ByAgent, ag.ID) {
				c.hv.add(model.KindDHCPBinding, be)
				c.nets[be.ID], c.served[be.ID] = true, true
			}
		}
	}
}

// addRouter adds a router present on the host with its binding, the
// agents hosting it, its ports and the floating IPs this host serves.
func (c *computation) addRouter(rid string) {
	v, host := c.v, c.host
	re, ok := v.Get(model.KindRouter, rid)
	if !ok {
		return
	}
	c.hv.add(model.KindRouter, re)
	r, ok := store.As[*model.Router](re)
	if !ok {
		return
	}
	if be, b, ok := store.GetAs[*model.Binding](v, model.KindL3Binding, rid); ok {
		c.hv.add(model.KindL3Binding, be)
		// The agents hosting the router where its SNAT lives: a
		// distributed router is also bound to the dvr agent of every
		// host it has a port on, which no other host needs (each
		// would make every view grow with the router's hosts).
		for _, id := range b.AgentIDs {
			if ae, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, id); ok && !(r.Distributed && ag.Host != host && dvrOnly(ag)) {
				c.hv.add(model.KindAgent, ae)
			}
		}
	}
	for _, pe := range v.Index(model.KindPort, ByDevice, rid) {
		c.addPort(pe)
	}
	if r.ExternalGatewayInfo != nil {
		c.nets[r.ExternalGatewayInfo.NetworkID] = true
	}
	if r.Distributed && !snatHost(v, host, rid) {
		// Only the floating IPs of this host's ports: read them by
		// port, so that another host's floating IP is no read of this
		// view (agent streams skip recomputes by what a view read).
		for _, pe := range v.Index(model.KindPort, ByHost, host) {
			for _, fe := range v.Index(model.KindFIP, ByPort, pe.ID) {
				if f, ok := store.As[*model.FloatingIP](fe); ok && f.RouterID != nil && *f.RouterID == rid {
					c.hv.add(model.KindFIP, fe)
				}
			}
		}
		return
	}
	for _, fe := range v.Index(model.KindFIP, ByRouter, rid) {
		f, ok := store.As[*model.FloatingIP](fe)
		if !ok {
			continue
		}
		if r.Distributed && !centralFIP(v, host, f) {
			continue
		}
		c.hv.add(model.KindFIP, fe)
	}
}

// addNetworks adds everything on the networks present here:
// l2population, DHCP leases, DVR ARP entries, and the L2 agents of the
// other hosts with ports on them. The hidden ports holding floating IP
// addresses are left out: they are plugged nowhere and their address
// travels in the floating IP itself; with them, every host on an
// external network would receive (and replan for) every floating IP of
// the cloud.
func (c *computation) addNetworks() {
	v := c.v
	hosts := map[string]bool{}
	for nid := range c.nets {
		ne, ok := v.Get(model.KindNetwork, nid)
		if !ok {
			continue
		}
		c.hv.add(model.KindNetwork, ne)
		n, ok := store.As[*model.Network](ne)
		if !ok {
			continue
		}
		for _, sid := range n.Subnets {
			if se, ok := v.Get(model.KindSubnet, sid); ok {
				c.hv.add(model.KindSubnet, se)
			}
		}
		if ownPortsOnly(n, c.served[nid]) {
			continue
		}
		for _, pe := range v.Index(model.KindPort, ByNetwork, nid) {
			p, ok := store.As[*model.Port](pe)
			if !ok || p.DeviceOwner == model.OwnerFloatingIP {
				continue
			}
			c.hv.add(model.KindPort, pe)
			if h := p.HostID; h != "" && h != c.host {
				hosts[h] = true
			}
		}
	}
	for h := range hosts {
		for _, ae := range v.Index(model.KindAgent, ByHost, h) {
			if ag, ok := store.As[*model.Agent](ae); ok && ag.AgentType == model.AgentTypeL2 {
				c.hv.add(model.KindAgent, ae)
			}
		}
	}
}

// addGroups adds the security groups of the host's ports with their
// rules, the address groups the rules allow and the members of the
// remote groups they name.
func (c *computation) addGroups() {
	v := c.v
	var remote []string
	for _, g := range c.groups {
		ge, ok := v.Get(model.KindSG, g)
		if !ok {
			continue
		}
		c.hv.add(model.KindSG, ge)
		for _, re := range v.Index(model.KindSGRule, ByGroup, g) {
			c.hv.add(model.KindSGRule, re)
			r, ok := store.As[*model.SecurityGroupRule](re)
			if !ok {
				continue
			}
			if r.RemoteGroupID != nil && !slices.Contains(remote, *r.RemoteGroupID) {
				remote = append(remote, *r.RemoteGroupID)
			}
			// The address group a rule allows (its CIDRs fill the
			// agent's address group sets).
			if r.RemoteAddressGroupID != nil {
				if ae, ok := v.Get(model.KindAddressGroup, *r.RemoteAddressGroupID); ok {
					c.hv.add(model.KindAddressGroup, ae)
				}
			}
		}
	}
	// The members of remote groups (their addresses fill the agent's
	// member sets), wherever they are: not as the host's own ports, so
	// their networks are not pulled in.
	for _, g := range remote {
		for _, pe := range v.Index(model.KindPort, ByGroup, g) {
			c.hv.add(model.KindPort, pe)
		}
	}
}

// ownPortsOnly reports whether the host needs none of the other hosts'
// ports on network n (its own ports and its routers' are in the view
// already): an external network that is not tunnelled (flat or VLAN: no
// l2population entries; no router interface, so no DVR ARP entries)
// and whose DHCP this host does not serve. Every DVR host is on the
// external network through its floating IP agent gateway port: with
// the other hosts' such ports (and their L2 agents), each view would
// grow with the number of hosts, and each gateway port created would
// make every stream recompute its view.
func ownPortsOnly(n *model.Network, dhcp bool) bool {
	return n.External && n.NetworkType != "vxlan" && !dhcp
}

// dvrOnly reports whether ag is an L3 agent that runs no central SNAT
// (mode dvr or dvr_no_external).
func dvrOnly(ag *model.Agent) bool {
	mode, _ := ag.Configurations["agent_mode"].(string)
	return ag.AgentType == model.AgentTypeL3 && (mode == model.ModeDVR || mode == model.ModeDVRNoExternal)
}

// snatHost reports whether the host runs the central SNAT part of the
// distributed router: a dvr_snat L3 agent the router is bound to.
func snatHost(v *store.View, host, rid string) bool {
	mode, l3 := L3Mode(v, host)
	if l3 == nil || mode != model.ModeDVRSNAT {
		return false
	}
	_, b, ok := store.GetAs[*model.Binding](v, model.KindL3Binding, rid)
	return ok && slices.Contains(b.AgentIDs, l3.ID)
}

// centralFIP reports whether a DVR router's floating IP is served on this
// host, the router's SNAT host: where its port is bound, or here when the
// port is not bound to a host that can serve it.
func centralFIP(v *store.View, host string, f *model.FloatingIP) bool {
	if f.PortID == nil {
		return false
	}
	_, p, ok := store.GetAs[*model.Port](v, model.KindPort, *f.PortID)
	if !ok {
		return false
	}
	ph := p.HostID
	if ph == host {
		return true
	}
	mode, _ := L3Mode(v, ph)
	// Unbound or on a dvr_no_external host: the SNAT host serves it.
	return ph == "" || (mode != model.ModeDVR && mode != model.ModeDVRSNAT)
}

// SubnetsOf returns a network's subnets in creation order.
func SubnetsOf(v *store.View, n *model.Network) []*model.Subnet {
	var out []*model.Subnet
	for _, sid := range n.Subnets {
		if _, s, ok := store.GetAs[*model.Subnet](v, model.KindSubnet, sid); ok {
			out = append(out, s)
		}
	}
	return out
}
