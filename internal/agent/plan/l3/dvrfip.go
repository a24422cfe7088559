package l3

// Floating IPs of a distributed router on a compute host (l3-dataplane.md
// §4.5–4.7, KERNEL.md §4.4–4.5), for the router's floating IPs whose port
// is bound to this host:
//
//   - rfp-<router> in qrouter- and fpr-<router> in fip-<ext net>, a veth
//     pair on a link-local /31 that survives restarts (linklocal);
//   - in qrouter-: `from <fixed> lookup 16` per floating IP, table 16
//     holding `default via <fpr>`; DNAT of packets coming in by rfp- and
//     SNAT of those leaving by it through two maps, so the thousandth
//     floating IP costs what the first did;
//   - in fip-: the fg- port (the host's floating IP agent gateway port)
//     with proxy ARP, `<FIP>/32 via <rfp>` per floating IP (which is what
//     makes proxy ARP answer for it on the external network), gratuitous
//     ARP when one appears, and a per-router table for what comes back
//     from qrouter-: `iif fpr-<router> lookup N priority N` (N = the fpr
//     address as an integer) to `default via <external gateway>`.
//
// Every floating IP rule in qrouter- has one priority, FIPRulePriority:
// their sources are distinct host addresses, so their order does not
// matter, and a shared priority needs no allocator nor file to come out
// the same after a restart (upstream allocates one per floating IP and
// keeps them in a file).

import (
	"net/netip"

	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// FIPTable is the qrouter- table of floating IP traffic (upstream's
// FIP_RT_TBL).
const FIPTable = 16

// FIPRulePriority is the priority of the floating IP rules in qrouter-.
const FIPRulePriority = 57481

var defaultRoute = netip.MustParsePrefix("0.0.0.0/0")

// localFIPs splits the floating IPs the host view holds for the router
// into those of ports bound to this host and the others (which only the
// router's SNAT host receives: it serves them centrally).
func (d *dvr) localFIPs() (local, central []*model.FloatingIP) {
	for _, f := range routerFIPs(d.s, d.r.ID) {
		if f.PortID == nil {
			continue
		}
		if p := d.s.Ports[*f.PortID]; p != nil && p.HostID == d.cfg.Host {
			local = append(local, f)
		} else {
			central = append(central, f)
		}
	}
	return local, central
}

// fgPort is this host's floating IP agent gateway port on the network.
func (d *dvr) fgPort(netID string) *model.Port {
	var fg *model.Port
	for _, p := range d.s.PortsOfNetwork(netID) {
		if p.DeviceOwner == model.OwnerFIPAgentGateway && p.HostID == d.cfg.Host && (fg == nil || p.ID < fg.ID) {
			fg = p
		}
	}
	return fg
}

// floatingIPs plans the local floating IPs (see the file comment).
func (d *dvr) floatingIPs(gw *model.Port) {
	local, _ := d.localFIPs()
	if len(local) == 0 {
		return
	}
	status := func(st string) {
		for _, f := range local {
			d.facts.FIPStatus[f.ID] = st
		}
	}
	fg := d.fgPort(gw.NetworkID)
	if fg == nil || d.cfg.LinkLocal == nil {
		status("DOWN") // the server has not made this host's fg- port yet
		return
	}
	pair, err := d.cfg.LinkLocal(d.r.ID)
	if err != nil {
		status("ERROR")
		return
	}
	fipNS := d.fipNamespace(fg)
	if fipNS == nil {
		status("DOWN")
		return
	}
	rfp, fpr := names.RouterToFIP(d.r.ID), names.FIPToRouter(d.r.ID)
	rfpIP := pair.Addr()
	fprIP := rfpIP.Next()
	d.ns.Veths = append(d.ns.Veths, desired.Veth{Inner: rfp, Outer: fpr, PeerNamespace: fipNS.Name, MTU: mtuOf(d.s, gw.NetworkID),
		Addrs: []netip.Prefix{netip.PrefixFrom(rfpIP, 31)}, PeerAddrs: []netip.Prefix{netip.PrefixFrom(fprIP, 31)}})
	d.ns.Routes = append(d.ns.Routes, desired.Route{Table: FIPTable, Dst: defaultRoute, Via: fprIP, Dev: rfp})
	extGW := fipNS.Routes[len(fipNS.Routes)-1].Via // the main default route, added last
	n := u32(fprIP)
	fipNS.Routes = append(fipNS.Routes, desired.Route{Table: n, Dst: defaultRoute, Via: extGW, Dev: fipNS.Veths[0].Inner})
	fipNS.Rules = append(fipNS.Rules, desired.Rule{Priority: n, IifName: fpr, Table: n})
	dnat := desired.NftMap{Name: "fip_dnat", Elements: make(map[netip.Addr]netip.Addr, len(local))}
	snat := desired.NftMap{Name: "fip_snat", Elements: make(map[netip.Addr]netip.Addr, len(local))}
	for _, f := range local {
		fip, err1 := netip.ParseAddr(f.FloatingIPAddress)
		if f.FixedIPAddress == nil || err1 != nil {
			d.facts.FIPStatus[f.ID] = "DOWN"
			continue
		}
		fixed, err2 := netip.ParseAddr(*f.FixedIPAddress)
		if err2 != nil || !fixed.Is4() {
			d.facts.FIPStatus[f.ID] = "ERROR"
			continue
		}
		dnat.Elements[fip] = fixed
		snat.Elements[fixed] = fip
		d.ns.Rules = append(d.ns.Rules, desired.Rule{Priority: FIPRulePriority, From: netip.PrefixFrom(fixed, 32), Table: FIPTable})
		fipNS.Routes = append(fipNS.Routes, desired.Route{Dst: netip.PrefixFrom(fip, 32), Via: rfpIP, Dev: fpr})
		fipNS.GARP = append(fipNS.GARP, desired.GARP{Dev: fipNS.Veths[0].Inner, Addr: fip})
		d.facts.FIPStatus[f.ID] = "ACTIVE"
	}
	d.maps = append(d.maps, dnat, snat)
	d.pre.Rules = append(d.pre.Rules, desired.NftRule{IifName: rfp, DNATMap: "fip_dnat", Comment: "floating ip in"})
	d.post.Rules = append(d.post.Rules,
		desired.NftRule{NotOifName: rfp, CtStateNotDNAT: true, Accept: true, Comment: "only what leaves by rfp- is translated"},
		desired.NftRule{SNATMap: "fip_snat", Comment: "floating ip out"})
	d.out.Extra = append(d.out.Extra, *fipNS)
	d.out.Networks = append(d.out.Networks, gw.NetworkID)
}

// fipNamespace is the fip- namespace of fg's external network as every
// router sharing it plans it: fg- with its addresses and proxy ARP, and
// the default route via the external subnet's gateway (last in Routes).
// nil when the port has no usable IPv4 address and gateway.
func (d *dvr) fipNamespace(fg *model.Port) *desired.Namespace {
	dev := names.FIPGateway(fg.ID)
	ns := &desired.Namespace{Name: d.cfg.NS.Build(names.PrefixFIP, fg.NetworkID), Sysctls: []desired.Sysctl{
		{Key: "net/ipv4/ip_forward", Value: "1"},
		{Key: "net/ipv4/conf/" + dev + "/proxy_arp", Value: "1"},
	}}
	v := desired.Veth{Inner: dev, Outer: names.Tap(fg.ID), Bridge: names.Bridge(fg.NetworkID), MAC: fg.MACAddress, MTU: mtuOf(d.s, fg.NetworkID), PortID: fg.ID}
	var route []desired.Route
	for _, ip := range fg.FixedIPs {
		pfx, sub, ok := prefixOn(d.s, ip)
		if !ok {
			continue
		}
		v.Addrs = append(v.Addrs, pfx)
		if route != nil || !pfx.Addr().Is4() || sub.GatewayIP == nil {
			continue
		}
		via, err := netip.ParseAddr(*sub.GatewayIP)
		if err != nil {
			continue
		}
		if !pfx.Masked().Contains(via) {
			route = append(route, desired.Route{Dst: netip.PrefixFrom(via, 32), Dev: dev})
		}
		route = append(route, desired.Route{Dst: defaultRoute, Via: via, Dev: dev})
	}
	if route == nil {
		return nil
	}
	ns.Veths = []desired.Veth{v}
	ns.Routes = route
	return ns
}

// snat plans snat-<router>: an sg- device per SNAT port with permanent
// neighbours for the ports behind it (KERNEL.md §4.8), the qg- gateway
// with SNAT as a legacy router, and the floating IPs served centrally.
func (d *dvr) snat() {
	_, central := d.localFIPs()
	l := newLegacy(d.s, d.r, d.cfg.NS.Build(names.PrefixSNAT, d.r.ID), false)
	l.internal, l.unplugged = "sg-*", d.cfg.Unplugged
	l.fips = central
	l.interfaces(model.OwnerRouterSNAT, names.SNATInterface)
	for _, p := range routerPorts(d.s, d.r.ID, model.OwnerRouterSNAT) {
		if _, failed := l.facts.BindingFailed[p.ID]; failed {
			continue
		}
		for _, ip := range p.FixedIPs {
			if d.s.Subnets[ip.SubnetID] != nil {
				d.neighbours(l.ns.Name, names.SNATInterface(p.ID), p.NetworkID, ip.SubnetID)
			}
		}
	}
	l.gatewayPart(d.cfg)
	rt, f := l.finish()
	if haNamespace(d.s, d.cfg.Host, d.r, &rt.Namespace) {
		// The active copy serves and reports the central floating IPs.
		f.FIPStatus = nil
	}
	d.out.Extra = append(d.out.Extra, rt.Namespace)
	d.out.Networks = append(d.out.Networks, rt.Networks...)
	for id, st := range f.FIPStatus {
		d.facts.FIPStatus[id] = st
	}
	for id, why := range f.BindingFailed {
		if d.facts.BindingFailed == nil {
			d.facts.BindingFailed = map[string]string{}
		}
		d.facts.BindingFailed[id] = why
	}
}
