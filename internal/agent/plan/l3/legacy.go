// Package l3 plans routers: for each router this host serves, its
// namespace, devices, addresses, routes and one nftables table, as plain
// desired state. Pure: no kernel access.
//
// Legacy router layout (as upstream, see neutron-facts/l3-dataplane.md §3),
// in qrouter-<id>:
//   - qr-<port> per internal port, plugged into the network's bridge,
//     with the port's MAC and fixed IPs;
//   - qg-<port> for the gateway, with its fixed IPs and every floating IP
//     as a /32; default route via the external subnet's gateway;
//   - nftables: floating IPs as DNAT/SNAT through two maps (cost does not
//     grow with their number), SNAT of everything else leaving by qg- to
//     the gateway address when enable_snat, hairpin SNAT for instances
//     reaching each other's floating IPs, and the metadata redirect of
//     169.254.169.254:80 to the in-namespace proxy port.
package l3

import (
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// MetadataPort is where the router's metadata proxy listens (upstream's
// metadata_port).
const MetadataPort = 9697

// MetadataAddr is the well-known metadata address.
var MetadataAddr = netip.MustParsePrefix("169.254.169.254/32")

// Config is what the L3 plan needs of the agent's configuration.
type Config struct {
	Host string
	Mode string
	NS   names.Namespaces
}

// Router is one planned router: desired state only.
type Router struct {
	ID        string
	Namespace desired.Namespace
	// Networks whose bridges the router's ports plug into.
	Networks []string
}

// Facts are what the agent reports and serves for one router, kept
// apart from its desired state.
type Facts struct {
	// FIPStatus is the status to report for each of the router's
	// floating IPs once the namespace is applied.
	FIPStatus map[string]string
	// MetadataNetworks are the networks behind the router's qr- devices
	// (its metadata listener resolves callers among their ports).
	MetadataNetworks []string
}

// Result is the L3 part of a host's plan: the routers and, by router id,
// their facts.
type Result struct {
	Routers []Router
	Facts   map[string]Facts
}

// Networks returns every network the routers plug into.
func (r Result) Networks() []string {
	var out []string
	for _, rt := range r.Routers {
		for _, n := range rt.Networks {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// routerSysctls are set in every router namespace (upstream §2).
var routerSysctls = []desired.Sysctl{
	{Key: "net/ipv4/ip_forward", Value: "1"},
	{Key: "net/ipv4/conf/all/arp_ignore", Value: "1"},
	{Key: "net/ipv4/conf/all/arp_announce", Value: "2"},
	{Key: "net/ipv6/conf/all/forwarding", Value: "1"},
	{Key: "net/netfilter/nf_conntrack_tcp_be_liberal", Value: "1"},
}

// HostedLegacy reports whether this host runs router r as a legacy
// (centralized) router: bound to this host's L3 agent, not distributed,
// administratively up.
func HostedLegacy(s *hostmodel.Snapshot, host string, r *model.Router) bool {
	if r.Distributed || !r.AdminStateUp {
		return false
	}
	l3 := s.AgentsOf(host)[model.AgentTypeL3]
	b := s.L3Bindings[r.ID]
	return l3 != nil && b != nil && slices.Contains(b.AgentIDs, l3.ID)
}

// Plan computes the routers of this host.
func Plan(s *hostmodel.Snapshot, cfg Config) Result {
	res := Result{Facts: map[string]Facts{}}
	ids := make([]string, 0, len(s.Routers))
	for id := range s.Routers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r := s.Routers[id]
		if cfg.Mode == model.ModeLegacy || cfg.Mode == model.ModeDVRSNAT {
			if HostedLegacy(s, cfg.Host, r) {
				rt, f := PlanRouter(s, cfg, r)
				res.Routers = append(res.Routers, rt)
				res.Facts[r.ID] = f
			}
		}
	}
	return res
}

func prefixOn(s *hostmodel.Snapshot, ip model.FixedIP) (netip.Prefix, *model.Subnet, bool) {
	sub := s.Subnets[ip.SubnetID]
	addr, err := netip.ParseAddr(ip.IPAddress)
	if sub == nil || err != nil {
		return netip.Prefix{}, nil, false
	}
	cidr, err := netip.ParsePrefix(sub.CIDR)
	if err != nil {
		return netip.Prefix{}, nil, false
	}
	return netip.PrefixFrom(addr, cidr.Bits()), sub, true
}

func mtuOf(s *hostmodel.Snapshot, netID string) int {
	if n := s.Networks[netID]; n != nil {
		return n.MTU
	}
	return 0
}

// routerPorts returns the router's ports with one of the owners, by id.
func routerPorts(s *hostmodel.Snapshot, routerID string, owners ...string) []*model.Port {
	var out []*model.Port
	for _, p := range s.Ports {
		if p.DeviceID == routerID && slices.Contains(owners, p.DeviceOwner) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *model.Port) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// PlanRouter plans one legacy router this host serves.
func PlanRouter(s *hostmodel.Snapshot, cfg Config, r *model.Router) (Router, Facts) {
	out := Router{ID: r.ID}
	facts := Facts{FIPStatus: map[string]string{}}
	ns := desired.Namespace{Name: cfg.NS.Build(names.PrefixRouter, r.ID), Sysctls: append([]desired.Sysctl(nil), routerSysctls...)}
	for _, p := range routerPorts(s, r.ID, model.OwnerRouterInterface) {
		v := desired.Veth{Inner: names.RouterInterface(p.ID), Outer: names.Tap(p.ID), Bridge: names.Bridge(p.NetworkID), MAC: p.MACAddress, MTU: mtuOf(s, p.NetworkID), PortID: p.ID}
		for _, ip := range p.FixedIPs {
			if pfx, _, ok := prefixOn(s, ip); ok {
				v.Addrs = append(v.Addrs, pfx)
				ns.GARP = append(ns.GARP, desired.GARP{Dev: v.Inner, Addr: pfx.Addr()})
			}
		}
		ns.Veths = append(ns.Veths, v)
		out.Networks = append(out.Networks, p.NetworkID)
		facts.MetadataNetworks = append(facts.MetadataNetworks, p.NetworkID)
	}
	table := &desired.NftTable{Family: desired.FamilyIP, Name: desired.NftOwnedPrefix}
	pre := desired.NftChain{Name: "prerouting", Type: "nat", Hook: "prerouting", Priority: -100, Rules: []desired.NftRule{
		{IifName: "qr-*", Daddr: MetadataAddr, TCPDport: 80, RedirectTo: MetadataPort, Comment: "metadata"},
	}}
	output := desired.NftChain{Name: "output", Type: "nat", Hook: "output", Priority: -100}
	post := desired.NftChain{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: 100}
	input := desired.NftChain{Name: "input", Type: "filter", Hook: "input", Priority: 0, Rules: []desired.NftRule{
		// Only redirected requests may reach the metadata proxy.
		{TCPDport: MetadataPort, CtStateNotDNAT: true, Drop: true, Comment: "metadata proxy only via redirect"},
	}}
	gw := gatewayPort(s, r)
	if gw != nil && r.ExternalGatewayInfo != nil {
		qg := names.RouterGateway(gw.ID)
		v := desired.Veth{Inner: qg, Outer: names.Tap(gw.ID), Bridge: names.Bridge(gw.NetworkID), MAC: gw.MACAddress, MTU: mtuOf(s, gw.NetworkID), PortID: gw.ID}
		var gwIP netip.Addr
		for _, ip := range gw.FixedIPs {
			pfx, sub, ok := prefixOn(s, ip)
			if !ok {
				continue
			}
			v.Addrs = append(v.Addrs, pfx)
			ns.GARP = append(ns.GARP, desired.GARP{Dev: qg, Addr: pfx.Addr()})
			if pfx.Addr().Is4() && !gwIP.IsValid() {
				gwIP = pfx.Addr()
				if sub.GatewayIP != nil {
					if via, err := netip.ParseAddr(*sub.GatewayIP); err == nil {
						if !pfx.Masked().Contains(via) {
							ns.Routes = append(ns.Routes, desired.Route{Dst: netip.PrefixFrom(via, 32), Dev: qg})
						}
						ns.Routes = append(ns.Routes, desired.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: via, Dev: qg})
					}
				}
			}
		}
		// Floating IPs: a /32 on qg- each, NAT through the maps.
		dnat := desired.NftMap{Name: "fip_dnat", Elements: map[netip.Addr]netip.Addr{}}
		snat := desired.NftMap{Name: "fip_snat", Elements: map[netip.Addr]netip.Addr{}}
		for _, f := range s.FloatingIPs {
			if f.RouterID == nil || *f.RouterID != r.ID {
				continue
			}
			fip, err1 := netip.ParseAddr(f.FloatingIPAddress)
			if f.FixedIPAddress == nil || err1 != nil {
				facts.FIPStatus[f.ID] = "DOWN"
				continue
			}
			fixed, err2 := netip.ParseAddr(*f.FixedIPAddress)
			if err2 != nil {
				facts.FIPStatus[f.ID] = "ERROR"
				continue
			}
			dnat.Elements[fip] = fixed
			snat.Elements[fixed] = fip
			v.Addrs = append(v.Addrs, netip.PrefixFrom(fip, 32))
			ns.GARP = append(ns.GARP, desired.GARP{Dev: qg, Addr: fip})
			facts.FIPStatus[f.ID] = "ACTIVE"
		}
		table.Maps = []desired.NftMap{dnat, snat}
		pre.Rules = append(pre.Rules, desired.NftRule{DNATMap: "fip_dnat", Comment: "floating ip in"})
		output.Rules = append(output.Rules, desired.NftRule{DNATMap: "fip_dnat", Comment: "floating ip from the router itself"})
		post.Rules = append(post.Rules,
			desired.NftRule{NotOifName: qg, CtStateNotDNAT: true, Accept: true, Comment: "east-west is not translated"},
			desired.NftRule{SNATMap: "fip_snat", Comment: "floating ip out"})
		if gwIP.IsValid() {
			if r.ExternalGatewayInfo.EnableSNAT {
				post.Rules = append(post.Rules, desired.NftRule{OifName: qg, SNATTo: gwIP, Comment: "snat to gateway"})
			}
			post.Rules = append(post.Rules, desired.NftRule{IifName: "qr-*", CtStateDNAT: true, SNATTo: gwIP, Comment: "hairpin to a floating ip"})
		}
		ns.Veths = append(ns.Veths, v)
		out.Networks = append(out.Networks, gw.NetworkID)
	} else {
		for _, f := range s.FloatingIPs {
			if f.RouterID != nil && *f.RouterID == r.ID {
				facts.FIPStatus[f.ID] = "DOWN"
			}
		}
	}
	// Extra routes, through the device whose subnet holds the nexthop.
	for _, rt := range r.Routes {
		dst, err1 := netip.ParsePrefix(rt.Destination)
		via, err2 := netip.ParseAddr(rt.NextHop)
		if err1 != nil || err2 != nil {
			continue
		}
		if dev := deviceFor(ns.Veths, via); dev != "" {
			ns.Routes = append(ns.Routes, desired.Route{Dst: dst.Masked(), Via: via, Dev: dev})
		}
	}
	table.Chains = []desired.NftChain{pre, output, post, input}
	ns.Nft = []desired.NftTable{*table}
	out.Namespace = ns
	return out, facts
}

func deviceFor(veths []desired.Veth, addr netip.Addr) string {
	for _, v := range veths {
		for _, a := range v.Addrs {
			if a.Bits() < 32 && a.Masked().Contains(addr) {
				return v.Inner
			}
		}
	}
	return ""
}

func gatewayPort(s *hostmodel.Snapshot, r *model.Router) *model.Port {
	if p := s.Ports[r.GatewayPortID]; p != nil {
		return p
	}
	if ps := routerPorts(s, r.ID, model.OwnerRouterGateway); len(ps) > 0 {
		return ps[0]
	}
	return nil
}
