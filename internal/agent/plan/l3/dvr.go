package l3

// Distributed routers (l3-dataplane.md §4, KERNEL.md §4). On every host
// with a DVR-serviceable port on one of the router's subnets:
//
//   - qrouter-<id> with a qr- device per subnet carrying the subnet's
//     gateway IP and MAC, the same on every host; permanent neighbours
//     for every port of those subnets (ARP for remote instances is never
//     flooded between hosts); metadata redirect as in a legacy router;
//   - in the host's bridges: a static FDB entry pinning each gateway MAC
//     to this host's qr- port, and bridge-family rules on the ports that
//     leave the host: the gateway MAC is rewritten to the host's DVR MAC
//     as source, frames to a gateway MAC and ARP for a gateway IP are
//     dropped (each host answers its own instances);
//   - north-south without a floating IP: per subnet, a policy rule
//     `from <subnet> lookup N priority N` (N = the gateway IP as an
//     integer) to `default via <sg- address>`, the subnet's SNAT port in
//     snat-<id> on the router's dvr_snat host;
//   - floating IPs of this host's ports: see dvrfip.go.
//
// On the dvr_snat host the router is bound to, snat-<id> holds an sg-
// device per SNAT port and the qg- gateway, SNAT as a legacy router does,
// and the floating IPs no compute serves (ports unbound or on
// dvr_no_external hosts).

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// dvrSysctls are added to routerSysctls in a DVR qrouter-: the SNAT
// path hairpins out of the qr- port it came in by, which must not send
// ICMP redirects (KERNEL.md §4.4).
var dvrSysctls = []desired.Sysctl{
	{Key: "net/ipv4/conf/all/send_redirects", Value: "0"},
	{Key: "net/ipv4/conf/default/send_redirects", Value: "0"},
}

// isRouterInterface reports whether a port is a router's interface
// (never given a DVR neighbour entry: it is the router itself).
func isRouterInterface(owner string) bool {
	return owner == model.OwnerRouterInterface || owner == model.OwnerRouterInterfaceD || owner == model.OwnerHARouterInterface
}

// localServiceable reports whether a DVR-serviceable port of this host
// has an address on one of the router's subnets.
func localServiceable(s *hostmodel.Snapshot, host string, r *model.Router) bool {
	for _, ip := range routerPorts(s, r.ID, model.OwnerRouterInterfaceD) {
		subnets := map[string]bool{}
		for _, f := range ip.FixedIPs {
			subnets[f.SubnetID] = true
		}
		for _, p := range s.PortsOfNetwork(ip.NetworkID) {
			if p.HostID != host || !model.DVRServiceable(p.DeviceOwner) {
				continue
			}
			for _, f := range p.FixedIPs {
				if subnets[f.SubnetID] {
					return true
				}
			}
		}
	}
	return false
}

// snatHere reports whether this host runs the router's central SNAT
// part: a dvr_snat agent the router is bound to.
func snatHere(s *hostmodel.Snapshot, cfg Config, r *model.Router) bool {
	return cfg.Mode == model.ModeDVRSNAT && boundHere(s, cfg.Host, r)
}

// u32 is an IPv4 address as an integer: upstream numbers DVR's per
// subnet and per router tables (and their rules' priorities) so.
func u32(a netip.Addr) int {
	b := a.As4()
	return int(binary.BigEndian.Uint32(b[:]))
}

// dvr is one distributed router being planned on this host.
type dvr struct {
	s     *hostmodel.Snapshot
	cfg   Config
	r     *model.Router
	ns    desired.Namespace
	out   Router
	facts Facts
	// The qrouter-'s nftables chains and maps.
	pre, post, input desired.NftChain
	maps             []desired.NftMap
	// tunnelPorts match the bridge ports leaving the host.
	tunnelPorts []string
}

// PlanDVR plans a distributed router on this host: its qrouter- part,
// the fip- share of its floating IPs here, and its snat- namespace when
// this host runs its central SNAT.
func PlanDVR(s *hostmodel.Snapshot, cfg Config, r *model.Router) (Router, Facts) {
	d := &dvr{s: s, cfg: cfg, r: r, out: Router{ID: r.ID}, facts: Facts{FIPStatus: map[string]string{}},
		ns: desired.Namespace{Name: cfg.NS.Build(names.PrefixRouter, r.ID),
			Sysctls: append(append([]desired.Sysctl(nil), routerSysctls...), dvrSysctls...)},
		tunnelPorts: cfg.TunnelPorts}
	if len(d.tunnelPorts) == 0 {
		d.tunnelPorts = []string{"vxlan-*"}
	}
	d.pre = desired.NftChain{Name: "prerouting", Type: "nat", Hook: "prerouting", Priority: -100, Rules: []desired.NftRule{metadataRedirect}}
	d.post = desired.NftChain{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: 100}
	d.input = desired.NftChain{Name: "input", Type: "filter", Hook: "input", Priority: 0, Rules: []desired.NftRule{metadataGuard}}
	gw := d.gatewayPort()
	d.interfaces(gw != nil)
	d.facts.MetadataNetworks = slices.Clone(d.out.Networks)
	if gw != nil && cfg.Mode != model.ModeDVRNoExternal {
		d.floatingIPs(gw)
	}
	d.extraRoutes()
	if snatHere(s, cfg, r) && gw != nil {
		d.snat()
	}
	d.ns.Nft = []desired.NftTable{{Family: desired.FamilyIP, Name: desired.NftOwnedPrefix, Maps: d.maps,
		Chains: []desired.NftChain{d.pre, d.post, d.input}}}
	d.out.Namespace = d.ns
	return d.out, d.facts
}

// gatewayPort is the router's gateway port when it has one this host
// can plug into (nil otherwise: the router then only routes east-west).
func (d *dvr) gatewayPort() *model.Port {
	gw := gatewayPort(d.s, d.r)
	if gw == nil || d.r.ExternalGatewayInfo == nil {
		return nil
	}
	if n := d.s.Networks[gw.NetworkID]; n != nil && d.cfg.Unplugged != nil {
		if why := d.cfg.Unplugged(n); why != "" {
			if snatHere(d.s, d.cfg, d.r) {
				d.facts.BindingFailed = map[string]string{gw.ID: why}
			}
			return nil
		}
	}
	return gw
}

// interfaces plans the qr- devices with their host entries, neighbours
// and, when the router has a gateway, the SNAT redirect of their
// subnets. A port on a network this host cannot plug is left out here
// but not reported as a binding failure: it is distributed, bound on
// every routing host, and other hosts may plug it (the missing kernel
// feature or physical network is logged once by the agent).
func (d *dvr) interfaces(hasGateway bool) {
	snatPorts := routerPorts(d.s, d.r.ID, model.OwnerRouterSNAT)
	var dvrMAC string
	if m := d.s.DVRMACs[d.cfg.Host]; m != nil {
		dvrMAC = m.MACAddress
	}
	for _, p := range routerPorts(d.s, d.r.ID, model.OwnerRouterInterfaceD) {
		if unpluggedNetwork(d.s, d.cfg.Unplugged, p.NetworkID) != "" {
			continue
		}
		qr := names.RouterInterface(p.ID)
		tap := names.Tap(p.ID)
		v := desired.Veth{Inner: qr, Outer: tap, Bridge: names.Bridge(p.NetworkID), MAC: p.MACAddress, MTU: mtuOf(d.s, p.NetworkID), PortID: p.ID}
		d.out.Host.FDB = append(d.out.Host.FDB, desired.FDB{Dev: tap, MAC: p.MACAddress, Master: true})
		for _, out := range d.tunnelPorts {
			if dvrMAC != "" {
				d.bridgeRule(desired.NftRule{OifName: out, EtherSaddr: p.MACAddress, SetEtherSaddr: dvrMAC, Comment: "dvr mac " + qr})
			}
			d.bridgeRule(desired.NftRule{OifName: out, EtherDaddr: p.MACAddress, Drop: true, Comment: "gateway mac stays on host " + qr})
		}
		for _, ip := range p.FixedIPs {
			pfx, sub, ok := prefixOn(d.s, ip)
			if !ok {
				continue
			}
			v.Addrs = append(v.Addrs, pfx)
			if pfx.Addr().Is4() {
				// Announced to this host's instances only (the rules
				// below keep gateway ARP off the tunnel): one that asked
				// before the interface existed, or holds a removed
				// interface's MAC, learns the gateway at once.
				d.ns.GARP = append(d.ns.GARP, desired.GARP{Dev: qr, Addr: pfx.Addr()})
				for _, out := range d.tunnelPorts {
					d.bridgeRule(desired.NftRule{OifName: out, ARPTargetIP: pfx.Addr(), Drop: true, Comment: "gateway arp stays on host " + qr})
				}
			}
			d.neighbours(d.ns.Name, qr, p.NetworkID, sub.ID)
			if hasGateway && pfx.Addr().Is4() {
				d.snatRedirect(qr, pfx, sub.ID, snatPorts)
			}
		}
		d.ns.Veths = append(d.ns.Veths, v)
		d.out.Networks = append(d.out.Networks, p.NetworkID)
	}
}

func (d *dvr) bridgeRule(r desired.NftRule) {
	d.out.Host.BridgeRules = append(d.out.Host.BridgeRules, r)
}

// neighbours adds a permanent entry on dev (in namespace ns) for every
// port with an address on the subnet that is not a router interface
// (instances, DHCP, SNAT ports), and for their single-address allowed
// address pairs (upstream §4.4).
func (d *dvr) neighbours(ns, dev, netID, subnetID string) {
	sub := d.s.Subnets[subnetID]
	cidr, err := netip.ParsePrefix(sub.CIDR)
	if err != nil {
		return
	}
	add := func(ip, mac string) {
		a, err := netip.ParseAddr(ip)
		if err == nil && mac != "" && cidr.Contains(a) {
			d.out.Host.Neighs = append(d.out.Host.Neighs, desired.Neigh{Namespace: ns, Dev: dev, IP: a, MAC: mac})
		}
	}
	for _, p := range d.s.PortsOfNetwork(netID) {
		if isRouterInterface(p.DeviceOwner) || p.DeviceOwner == model.OwnerFloatingIP {
			continue
		}
		for _, ip := range p.FixedIPs {
			if ip.SubnetID == subnetID {
				add(ip.IPAddress, p.MACAddress)
			}
		}
		for _, pair := range p.AllowedAddressPairs {
			if pfx, err := netip.ParsePrefix(pair.IPAddress); err == nil && !pfx.IsSingleIP() {
				continue
			}
			mac := pair.MACAddress
			if mac == "" {
				mac = p.MACAddress
			}
			add(trimHostBits(pair.IPAddress), mac)
		}
	}
}

// trimHostBits turns "10.0.0.5/32" into "10.0.0.5".
func trimHostBits(s string) string {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Addr().String()
	}
	return s
}

// snatRedirect sends the subnet's traffic that no earlier rule routes
// (not east-west, no floating IP) to its SNAT port: a table and rule
// numbered by the gateway address, as upstream.
func (d *dvr) snatRedirect(qr string, gw netip.Prefix, subnetID string, snatPorts []*model.Port) {
	for _, sp := range snatPorts {
		for _, ip := range sp.FixedIPs {
			if ip.SubnetID != subnetID {
				continue
			}
			via, err := netip.ParseAddr(ip.IPAddress)
			if err != nil {
				continue
			}
			n := u32(gw.Addr())
			d.ns.Routes = append(d.ns.Routes, desired.Route{Table: n, Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: via, Dev: qr})
			d.ns.Rules = append(d.ns.Rules, desired.Rule{Priority: n, From: gw.Masked(), Table: n})
			return
		}
	}
}

// extraRoutes plans the router's routes in qrouter- (upstream applies
// them to the snat- namespace too, see snat).
func (d *dvr) extraRoutes() { d.ns.Routes = appendExtraRoutes(d.ns.Routes, d.r, d.ns.Veths) }
