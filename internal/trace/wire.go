package trace

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// anyVID matches every wire: the upstream router's view, which does not
// say on which provider segment the external network is.
const anyVID = -1

// wire is a bridge's way off its host onto a provider network: its
// physical interface (a flat network, vid 0) or its 802.1Q
// sub-interface (a VLAN network, the segment's id). Two hosts' bridges
// meet on the wire when their segments are the same; which physical
// network each interface is on is the hosts' own configuration, not in
// the plan, so the walk assumes the mapped interfaces share one.
type wire struct {
	dev string
	vid int
}

func wireOf(h *desired.Host, br string) (wire, bool) {
	for _, p := range h.BridgePorts {
		if p.Bridge == br && p.PortID == "" {
			return wire{dev: p.Name}, true
		}
	}
	for _, v := range h.VLANs {
		if v.Bridge == br {
			return wire{dev: v.Name, vid: v.VID}, true
		}
	}
	return wire{}, false
}

// on reports whether the wire is on segment vid (anyVID: any).
func (w wire) on(vid int) bool { return vid == anyVID || w.vid == vid }

// name is how a hop names the segment.
func (w wire) name() string {
	if w.vid == 0 {
		return "external network"
	}
	return fmt.Sprintf("VLAN %d", w.vid)
}

// claim is a station on a wire: a namespace's veth or an instance port
// behind a bridge with a wire, or a proxy-ARP device answering for an
// address its namespace routes elsewhere.
type claim struct {
	host, br, ns, dev, mac, port string
	wire                         wire
	proxy                        bool
	addrs                        []netip.Prefix     // the station's own addresses
	nsp                          *desired.Namespace // a veth's namespace (nil for a port)
}

func (c claim) who() string {
	switch {
	case c.port != "":
		return "port " + c.port + " on " + c.host
	case c.proxy:
		return c.dev + " in " + c.ns + " on " + c.host + " (proxy ARP)"
	}
	return c.dev + " in " + c.ns + " on " + c.host
}

// stations are the namespace veths and then the instance ports of every
// host (in name order) behind a bridge whose wire is on segment vid.
func (t *walker) stations(vid int) []claim {
	var out []claim
	for _, name := range t.hostNames() {
		h := t.w.Hosts[name]
		for i := range h.Namespaces {
			ns := &h.Namespaces[i]
			for _, v := range ns.Veths {
				if v.PeerNamespace != "" || v.Bridge == "" {
					continue
				}
				if w, ok := wireOf(h, v.Bridge); ok && w.on(vid) {
					out = append(out, claim{host: name, br: v.Bridge, wire: w, ns: ns.Name, dev: v.Inner, mac: v.MAC, addrs: v.Addrs, nsp: ns})
				}
			}
		}
		for _, p := range t.w.Ports {
			if p.Host != name {
				continue
			}
			br := bridgeOfPort(h, p.Dev)
			if w, ok := wireOf(h, br); ok && w.on(vid) {
				out = append(out, claim{host: name, br: br, wire: w, dev: p.Dev, mac: p.MAC, port: cmpOr(p.Name, p.ID), addrs: []netip.Prefix{p.Addr}})
			}
		}
	}
	return out
}

// wireClaim finds the station that answers ARP for ip on segment vid: a
// namespace or instance address, or a proxy-ARP device whose namespace
// routes ip elsewhere (DVR's fip-).
func (t *walker) wireClaim(ip netip.Addr, vid int) (claim, bool) {
	for _, c := range t.stations(vid) {
		if hasAddr(c.addrs, ip) {
			return c, true
		}
		if c.nsp != nil && proxyARP(*c.nsp, c.dev) && routesElsewhere(*c.nsp, ip, c.dev) {
			c.proxy = true
			return c, true
		}
	}
	return claim{}, false
}

// wireStation finds the station with mac on segment vid on another host
// than host (the MAC the bridge learned from its wire).
func (t *walker) wireStation(host, mac string, vid int) (claim, bool) {
	for _, c := range t.stations(vid) {
		if c.host != host && c.mac == mac {
			return c, true
		}
	}
	return claim{}, false
}

// leaveWire puts the frame on the wire: to the upstream router (out of
// the cloud) or to another host's station on the same segment.
func (t *walker) leaveWire(host string, w wire) {
	if t.p.dstMAC == upstreamMAC {
		t.hop(host, w.dev, "to the upstream router %s", t.w.ExternalGateway)
		t.deliver("", "", "leaves the cloud by %s on host %s to the upstream router %s, source %s", w.dev, host, t.w.ExternalGateway, t.p.src)
		return
	}
	c, ok := t.wireStation(host, t.p.dstMAC, w.vid)
	if !ok {
		t.drop(host, w.dev, "%s: nobody has MAC %s", w.name(), t.p.dstMAC)
		return
	}
	t.hop(host, w.dev, "%s to %s", w.name(), c.host)
	t.bridge(c.host, c.br, c.wire.dev)
}

func proxyARP(ns desired.Namespace, dev string) bool {
	return slices.Contains(ns.Sysctls, desired.Sysctl{Key: "net/ipv4/conf/" + dev + "/proxy_arp", Value: "1"})
}

// routesElsewhere: the main table has a host route for ip through
// another device (proxy ARP answers only for what it routes elsewhere).
func routesElsewhere(ns desired.Namespace, ip netip.Addr, dev string) bool {
	for _, r := range ns.Routes {
		if r.TableOrMain() == desired.MainTable && r.Dst.Bits() == 32 && r.Dst.Addr() == ip && r.Dev != dev {
			return true
		}
	}
	return false
}

// externalDeliver sends the packet on the external network towards ip
// (the upstream router's view): to the host that claims it.
func (t *walker) externalDeliver(ip netip.Addr, fromHost string) {
	c, ok := t.wireClaim(ip, anyVID)
	if !ok {
		t.drop("", "external network", "ARP: nobody answers who-has %s", ip)
		return
	}
	t.hop("", "external network", "%s answers ARP for %s; the frame goes to %s", c.who(), ip, c.host)
	t.p.dstMAC = c.mac
	t.bridge(c.host, c.br, c.wire.dev)
}
