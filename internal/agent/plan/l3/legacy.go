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
	"strings"

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
	// Unplugged returns why a network cannot be plugged on this host
	// (the unmapped physical network), "" when it can; nil: all can.
	Unplugged func(*model.Network) string
	// LinkLocal returns the /31 of a DVR router's rfp-/fpr- link on
	// this host (a persistent allocation, see internal/agent/linklocal);
	// nil: DVR floating IPs are not planned.
	LinkLocal func(routerID string) (netip.Prefix, error)
	// TunnelPorts matches the bridge ports that leave the host (VXLAN
	// devices; physical interfaces of flat and VLAN networks), where
	// DVR rewrites gateway MACs to the host's DVR MAC: nft interface
	// names, "*" suffix for a prefix. Empty: "vxlan-*".
	TunnelPorts []string
}

// Router is one planned router: desired state only.
type Router struct {
	ID        string
	Namespace desired.Namespace
	// Extra are the router's other namespaces on this host: a DVR
	// router's snat- namespace, and its share of the fip- namespace of
	// its external network (merged by name with the other routers'
	// shares: their common parts are equal).
	Extra []desired.Namespace
	// Host are the router's entries outside its namespaces' own lists.
	Host HostParts
	// Networks whose bridges the router's ports plug into.
	Networks []string
}

// HostParts are a DVR router's entries in the host's lists: static FDB
// entries for its gateway MACs on this host's qr- ports, permanent
// neighbours inside its namespaces, and rules of the host's bridge-family
// table (DVR MAC rewrite, gateway ARP and MAC kept on the host).
type HostParts struct {
	FDB         []desired.FDB
	Neighs      []desired.Neigh
	BridgeRules []desired.NftRule
}

// Empty reports whether there are no host entries.
func (h *HostParts) Empty() bool {
	return len(h.FDB) == 0 && len(h.Neighs) == 0 && len(h.BridgeRules) == 0
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
	// BindingFailed are the router's ports that cannot be plugged on
	// this host (its gateway, its legacy qr- and SNAT sg- interfaces),
	// with why: the physical network it does not map or the kernel
	// feature it lacks.
	BindingFailed map[string]string
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
	return !r.Distributed && r.AdminStateUp && boundHere(s, host, r)
}

// boundHere reports whether the router is bound to this host's L3 agent.
func boundHere(s *hostmodel.Snapshot, host string, r *model.Router) bool {
	l3 := s.AgentsOf(host)[model.AgentTypeL3]
	b := s.L3Bindings[r.ID]
	return l3 != nil && b != nil && slices.Contains(b.AgentIDs, l3.ID)
}

// Serves reports whether this host plans router r (upstream's agent
// modes, l3-dataplane.md §4.1): legacy and dvr_snat agents run the
// centralized routers bound to them; dvr, dvr_snat and dvr_no_external
// agents run a distributed router's local part where a DVR-serviceable
// port sits on one of its subnets, and dvr_snat also where the router
// is bound (its central SNAT part).
func Serves(s *hostmodel.Snapshot, cfg Config, r *model.Router) bool {
	if !r.Distributed {
		return (cfg.Mode == model.ModeLegacy || cfg.Mode == model.ModeDVRSNAT) && HostedLegacy(s, cfg.Host, r)
	}
	if !r.AdminStateUp || !dvrMode(cfg.Mode) {
		return false
	}
	return snatHere(s, cfg, r) || localServiceable(s, cfg.Host, r)
}

func dvrMode(mode string) bool {
	return mode == model.ModeDVR || mode == model.ModeDVRSNAT || mode == model.ModeDVRNoExternal
}

// PlanAny plans a router this host serves, legacy or distributed.
func PlanAny(s *hostmodel.Snapshot, cfg Config, r *model.Router) (Router, Facts) {
	if r.Distributed {
		return PlanDVR(s, cfg, r)
	}
	return PlanRouter(s, cfg, r)
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
		if Serves(s, cfg, r) {
			rt, f := PlanAny(s, cfg, r)
			res.Routers = append(res.Routers, rt)
			res.Facts[r.ID] = f
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
	for _, p := range s.PortsOfDevice(routerID) {
		if slices.Contains(owners, p.DeviceOwner) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *model.Port) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// routerFIPs returns the router's floating IPs by id.
func routerFIPs(s *hostmodel.Snapshot, routerID string) []*model.FloatingIP {
	out := slices.Clone(s.FloatingIPsOfRouter(routerID))
	slices.SortFunc(out, func(a, b *model.FloatingIP) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// legacy is one namespace holding a router's gateway being planned: a
// legacy router's qrouter-, or a distributed router's snat-.
type legacy struct {
	s     *hostmodel.Snapshot
	r     *model.Router
	ns    desired.Namespace
	out   Router
	facts Facts
	// fips are the floating IPs this namespace serves.
	fips []*model.FloatingIP
	// internal matches the internal devices (qr-* or sg-*).
	internal string
	// unplugged is Config.Unplugged: internal devices on a network it
	// names are left out.
	unplugged func(*model.Network) string
	// The nftables chains, filled by the parts of the plan.
	pre, output, post, input desired.NftChain
	maps                     []desired.NftMap
}

// newLegacy starts a gateway namespace; metadata adds the redirect of
// the metadata address to the namespace's proxy (qrouter- only).
func newLegacy(s *hostmodel.Snapshot, r *model.Router, name string, metadata bool) *legacy {
	l := &legacy{s: s, r: r, out: Router{ID: r.ID}, facts: Facts{FIPStatus: map[string]string{}},
		ns: desired.Namespace{Name: name, Sysctls: append([]desired.Sysctl(nil), routerSysctls...)}, internal: "qr-*"}
	l.pre = desired.NftChain{Name: "prerouting", Type: "nat", Hook: "prerouting", Priority: -100}
	l.output = desired.NftChain{Name: "output", Type: "nat", Hook: "output", Priority: -100}
	l.post = desired.NftChain{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: 100}
	l.input = desired.NftChain{Name: "input", Type: "filter", Hook: "input", Priority: 0}
	if metadata {
		l.pre.Rules = append(l.pre.Rules, metadataRedirect)
		l.input.Rules = append(l.input.Rules, metadataGuard)
	}
	return l
}

var (
	metadataRedirect = desired.NftRule{IifName: "qr-*", Daddr: MetadataAddr, TCPDport: 80, RedirectTo: MetadataPort, Comment: "metadata"}
	// Only redirected requests may reach the metadata proxy.
	metadataGuard = desired.NftRule{TCPDport: MetadataPort, CtStateNotDNAT: true, Drop: true, Comment: "metadata proxy only via redirect"}
)

// PlanRouter plans one legacy router this host serves. It reads only
// the router, its ports and floating IPs (through the snapshot's
// indexes), and their subnets and networks.
func PlanRouter(s *hostmodel.Snapshot, cfg Config, r *model.Router) (Router, Facts) {
	l := newLegacy(s, r, cfg.NS.Build(names.PrefixRouter, r.ID), true)
	l.unplugged = cfg.Unplugged
	l.fips = routerFIPs(s, r.ID)
	l.interfaces(model.OwnerRouterInterface, names.RouterInterface)
	l.facts.MetadataNetworks = slices.Clone(l.out.Networks)
	l.gatewayPart(cfg)
	if haNamespace(s, cfg.Host, r, &l.ns) {
		l.facts.FIPStatus = map[string]string{}
	}
	return l.finish()
}

// gatewayPart plans the gateway, its floating IPs and the extra routes.
func (l *legacy) gatewayPart(cfg Config) {
	gw := gatewayPort(l.s, l.r)
	if gw != nil && l.r.ExternalGatewayInfo != nil && cfg.Unplugged != nil {
		// A gateway on a physical network this host does not map is
		// left out (binding failed): the router still routes between
		// its internal subnets.
		if n := l.s.Networks[gw.NetworkID]; n != nil {
			if why := cfg.Unplugged(n); why != "" {
				l.bindingFailed(gw.ID, why)
				gw = nil
			}
		}
	}
	if gw != nil && l.r.ExternalGatewayInfo != nil {
		l.gateway(gw)
	} else {
		for _, f := range l.fips {
			l.facts.FIPStatus[f.ID] = "DOWN"
		}
	}
	l.extraRoutes()
}

// unpluggedNetwork is why network id cannot be plugged on this host, ""
// if it can (or is unknown: the device then waits for its bridge).
func unpluggedNetwork(s *hostmodel.Snapshot, unplugged func(*model.Network) string, id string) string {
	if unplugged == nil {
		return ""
	}
	if n := s.Networks[id]; n != nil {
		return unplugged(n)
	}
	return ""
}

// finish puts the chains and maps in the namespace's table.
func (l *legacy) finish() (Router, Facts) {
	l.ns.Nft = []desired.NftTable{{Family: desired.FamilyIP, Name: desired.NftOwnedPrefix, Maps: l.maps,
		Chains: []desired.NftChain{l.pre, l.output, l.post, l.input}}}
	l.out.Namespace = l.ns
	return l.out, l.facts
}

// bindingFailed records a router port this host cannot plug.
func (l *legacy) bindingFailed(id, why string) {
	if l.facts.BindingFailed == nil {
		l.facts.BindingFailed = map[string]string{}
	}
	l.facts.BindingFailed[id] = why
}

// interfaces plans a device per router port with the owner (qr- or
// sg-), plugged into the network's bridge, with the port's MAC and
// fixed IPs. A port on a network this host cannot plug (no bridge
// would take the device) is left out, its binding failed, as an
// instance port's: the router routes between the rest.
func (l *legacy) interfaces(owner string, name func(string) string) {
	for _, p := range routerPorts(l.s, l.r.ID, owner) {
		if why := unpluggedNetwork(l.s, l.unplugged, p.NetworkID); why != "" {
			l.bindingFailed(p.ID, why)
			continue
		}
		v := desired.Veth{Inner: name(p.ID), Outer: names.Tap(p.ID), Bridge: names.Bridge(p.NetworkID), MAC: p.MACAddress, MTU: mtuOf(l.s, p.NetworkID), PortID: p.ID}
		for _, ip := range p.FixedIPs {
			if pfx, _, ok := prefixOn(l.s, ip); ok {
				v.Addrs = append(v.Addrs, pfx)
				l.ns.GARP = append(l.ns.GARP, desired.GARP{Dev: v.Inner, Addr: pfx.Addr()})
			}
		}
		l.ns.Veths = append(l.ns.Veths, v)
		l.out.Networks = append(l.out.Networks, p.NetworkID)
	}
}

// gateway plans the qg- device with its fixed IPs, the default route via
// the external subnet's gateway, the floating IPs and SNAT.
func (l *legacy) gateway(gw *model.Port) {
	qg := names.RouterGateway(gw.ID)
	v := desired.Veth{Inner: qg, Outer: names.Tap(gw.ID), Bridge: names.Bridge(gw.NetworkID), MAC: gw.MACAddress, MTU: mtuOf(l.s, gw.NetworkID), PortID: gw.ID}
	var gwIP netip.Addr
	for _, ip := range gw.FixedIPs {
		pfx, sub, ok := prefixOn(l.s, ip)
		if !ok {
			continue
		}
		v.Addrs = append(v.Addrs, pfx)
		l.ns.GARP = append(l.ns.GARP, desired.GARP{Dev: qg, Addr: pfx.Addr()})
		if pfx.Addr().Is4() && !gwIP.IsValid() {
			gwIP = pfx.Addr()
			l.defaultRoute(qg, pfx, sub)
		}
	}
	v.Addrs = append(v.Addrs, l.floatingIPs(qg)...)
	l.pre.Rules = append(l.pre.Rules, desired.NftRule{DNATMap: "fip_dnat", Comment: "floating ip in"})
	l.output.Rules = append(l.output.Rules, desired.NftRule{DNATMap: "fip_dnat", Comment: "floating ip from the router itself"})
	l.post.Rules = append(l.post.Rules,
		desired.NftRule{NotOifName: qg, CtStateNotDNAT: true, Accept: true, Comment: "east-west is not translated"},
		desired.NftRule{SNATMap: "fip_snat", Comment: "floating ip out"})
	if gwIP.IsValid() {
		if l.r.ExternalGatewayInfo.EnableSNAT {
			l.post.Rules = append(l.post.Rules, desired.NftRule{OifName: qg, SNATTo: gwIP, Comment: "snat to gateway"})
		}
		l.post.Rules = append(l.post.Rules, desired.NftRule{IifName: l.internal, CtStateDNAT: true, SNATTo: gwIP, Comment: "hairpin to a floating ip"})
	}
	l.ns.Veths = append(l.ns.Veths, v)
	l.out.Networks = append(l.out.Networks, gw.NetworkID)
}

func (l *legacy) defaultRoute(qg string, pfx netip.Prefix, sub *model.Subnet) {
	if sub.GatewayIP == nil {
		return
	}
	via, err := netip.ParseAddr(*sub.GatewayIP)
	if err != nil {
		return
	}
	if !pfx.Masked().Contains(via) {
		l.ns.Routes = append(l.ns.Routes, desired.Route{Dst: netip.PrefixFrom(via, 32), Dev: qg})
	}
	l.ns.Routes = append(l.ns.Routes, desired.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: via, Dev: qg})
}

// floatingIPs plans the floating IPs: NAT through the two maps, and the
// /32 addresses it returns for qg-.
func (l *legacy) floatingIPs(qg string) []netip.Prefix {
	fips := l.fips
	dnat := desired.NftMap{Name: "fip_dnat", Elements: make(map[netip.Addr]netip.Addr, len(fips))}
	snat := desired.NftMap{Name: "fip_snat", Elements: make(map[netip.Addr]netip.Addr, len(fips))}
	addrs := make([]netip.Prefix, 0, len(fips))
	l.ns.GARP = slices.Grow(l.ns.GARP, len(fips))
	for _, f := range fips {
		fip, err1 := netip.ParseAddr(f.FloatingIPAddress)
		if f.FixedIPAddress == nil || err1 != nil {
			l.facts.FIPStatus[f.ID] = "DOWN"
			continue
		}
		fixed, err2 := netip.ParseAddr(*f.FixedIPAddress)
		if err2 != nil {
			l.facts.FIPStatus[f.ID] = "ERROR"
			continue
		}
		dnat.Elements[fip] = fixed
		snat.Elements[fixed] = fip
		addrs = append(addrs, netip.PrefixFrom(fip, 32))
		l.ns.GARP = append(l.ns.GARP, desired.GARP{Dev: qg, Addr: fip})
		l.facts.FIPStatus[f.ID] = "ACTIVE"
	}
	l.maps = []desired.NftMap{dnat, snat}
	return addrs
}

// extraRoutes plans the router's routes, through the device whose
// subnet holds the nexthop.
func (l *legacy) extraRoutes() { l.ns.Routes = appendExtraRoutes(l.ns.Routes, l.r, l.ns.Veths) }

// appendExtraRoutes adds the router's routes through the devices whose
// subnets hold their nexthops.
func appendExtraRoutes(routes []desired.Route, r *model.Router, veths []desired.Veth) []desired.Route {
	for _, rt := range r.Routes {
		dst, err1 := netip.ParsePrefix(rt.Destination)
		via, err2 := netip.ParseAddr(rt.NextHop)
		if err1 != nil || err2 != nil {
			continue
		}
		if dev := deviceFor(veths, via); dev != "" {
			routes = append(routes, desired.Route{Dst: dst.Masked(), Via: via, Dev: dev})
		}
	}
	return routes
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
