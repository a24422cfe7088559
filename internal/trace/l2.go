package trace

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// upstreamMAC stands for the upstream router's MAC: the plan does not
// know it, and it is all the walk needs.
const upstreamMAC = "upstream"

// bridgeOfPort is the bridge a host-namespace device is enslaved to.
func bridgeOfPort(h *desired.Host, dev string) string {
	for _, p := range h.BridgePorts {
		if p.Name == dev {
			return p.Bridge
		}
	}
	for _, v := range h.VXLANs {
		if v.Name == dev {
			return v.Bridge
		}
	}
	for _, v := range h.VLANs {
		if v.Name == dev {
			return v.Bridge
		}
	}
	for _, g := range h.GRETaps {
		if g.Name == dev {
			return g.Bridge
		}
	}
	for _, ns := range h.Namespaces {
		for _, v := range ns.Veths {
			if v.Outer == dev && v.PeerNamespace == "" {
				return v.Bridge
			}
		}
	}
	return ""
}

// bridgedVeth is a namespace's veth whose outer end is in a bridge.
type bridgedVeth struct {
	ns string
	v  desired.Veth
}

func bridgedVeths(h *desired.Host, br string) []bridgedVeth {
	var out []bridgedVeth
	for _, ns := range h.Namespaces {
		for _, v := range ns.Veths {
			if v.PeerNamespace == "" && v.Bridge == br {
				out = append(out, bridgedVeth{ns.Name, v})
			}
		}
	}
	return out
}

func hasAddr(ps []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr() == a })
}

// arp resolves ip on bridge br of host as a sender behind fromDev
// would: the bridge's ARP responder entry, a local namespace's or
// instance's own address, the external network (other hosts, proxy
// ARP, the upstream router), or, flooded through the tunnels, a remote
// namespace's address.
func (t *walker) arp(host, br, fromDev string, ip netip.Addr) (string, bool) {
	h := t.w.Hosts[host]
	for _, n := range h.Neighs {
		if n.Namespace == "" && n.Dev == br && n.IP == ip {
			t.hop(host, br, "ARP responder answers %s is-at %s", ip, n.MAC)
			return n.MAC, true
		}
	}
	for _, bv := range bridgedVeths(h, br) {
		if bv.v.Outer != fromDev && hasAddr(bv.v.Addrs, ip) {
			t.hop(host, br, "%s in %s answers ARP: %s is-at %s", bv.v.Inner, bv.ns, ip, bv.v.MAC)
			return bv.v.MAC, true
		}
	}
	for _, p := range t.w.Ports {
		if p.Host == host && p.Dev != fromDev && p.Addr.Addr() == ip && bridgeOfPort(h, p.Dev) == br {
			t.hop(host, br, "instance port %s answers ARP: %s is-at %s", cmpOr(p.Name, p.ID), ip, p.MAC)
			return p.MAC, true
		}
	}
	if w, ok := wireOf(h, br); ok && w.dev != fromDev {
		if c, ok := t.wireClaim(ip, w.vid); ok {
			t.hop(host, br, "ARP over %s: %s answers %s is-at %s", w.dev, c.who(), ip, c.mac)
			return c.mac, true
		}
		if ip == t.w.ExternalGateway {
			t.hop(host, br, "ARP over %s: the upstream router answers for %s", w.dev, ip)
			return upstreamMAC, true
		}
	}
	if mac, ok := t.arpOverTunnels(host, br, ip); ok {
		return mac, true
	}
	t.drop(host, br, "ARP: nobody answers who-has %s", ip)
	return "", false
}

// arpOverTunnels floods the request through br's tunnels (the VTEPs of
// its VXLAN flood list, its GRE taps), unless the host's bridge table
// keeps it (DVR's gateway ARP).
func (t *walker) arpOverTunnels(host, br string, ip netip.Addr) (string, bool) {
	h := t.w.Hosts[host]
	for _, d := range t.tunnelDevs(h, br) {
		if r, ok := bridgeARPDrop(h, d.name, ip); ok {
			t.hop(host, br, "ARP for %s not sent by %s: %q", ip, d.name, r.Comment)
			continue
		}
		for _, p := range d.peers {
			for _, bv := range bridgedVeths(t.w.Hosts[p.host], p.br) {
				if hasAddr(bv.v.Addrs, ip) {
					t.hop(host, br, "ARP flooded by %s: %s in %s on %s answers %s is-at %s", d.name, bv.v.Inner, bv.ns, p.host, ip, bv.v.MAC)
					return bv.v.MAC, true
				}
			}
			for _, port := range t.w.Ports {
				if port.Host == p.host && port.Addr.Addr() == ip && bridgeOfPort(t.w.Hosts[p.host], port.Dev) == p.br {
					t.hop(host, br, "ARP flooded by %s: port %s on %s answers %s is-at %s", d.name, cmpOr(port.Name, port.ID), p.host, ip, port.MAC)
					return port.MAC, true
				}
			}
		}
	}
	return "", false
}

// tunnelDev is a tunnel device of a bridge and where a frame it floods
// arrives.
type tunnelDev struct {
	name  string
	peers []floodPeer
}

// floodPeer is a host and bridge a flooded frame reaches by dev.
type floodPeer struct{ dev, host, br string }

// tunnelDevs are br's VXLAN devices with the hosts of their flood list,
// then its GRE taps, each with the host its remote is.
func (t *walker) tunnelDevs(h *desired.Host, br string) []tunnelDev {
	var out []tunnelDev
	for _, vx := range h.VXLANs {
		if vx.Bridge != br {
			continue
		}
		d := tunnelDev{name: vx.Name}
		for _, f := range h.FDB {
			if f.Dev != vx.Name || !f.Dst.IsValid() || f.MAC != "00:00:00:00:00:00" {
				continue
			}
			if rh, rbr, _ := t.vtepHost(f.Dst, vx.VNI); rh != "" {
				d.peers = append(d.peers, floodPeer{dev: vx.Name, host: rh, br: rbr})
			}
		}
		out = append(out, d)
	}
	for _, p := range t.greFlood(h, br) {
		out = append(out, tunnelDev{name: p.dev, peers: []floodPeer{p}})
	}
	return out
}

// bridgeARPDrop finds a host bridge-table rule that drops ARP for ip
// leaving by dev.
func bridgeARPDrop(h *desired.Host, dev string, ip netip.Addr) (desired.NftRule, bool) {
	for _, tb := range h.Nft {
		for _, c := range tb.Chains {
			for _, r := range c.Rules {
				if r.Drop && r.ARPTargetIP == ip && (r.OifName == "" || globMatch(r.OifName, dev)) {
					return r, true
				}
			}
		}
	}
	return desired.NftRule{}, false
}

func globMatch(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// vtepHost is the host whose VXLAN device of vni has local address
// vtep, with that device's bridge.
func (t *walker) vtepHost(vtep netip.Addr, vni int) (host, br, dev string) {
	for _, name := range t.hostNames() {
		for _, vx := range t.w.Hosts[name].VXLANs {
			if vx.Local == vtep && vx.VNI == vni {
				return name, vx.Bridge, vx.Name
			}
		}
	}
	return "", "", ""
}

func (t *walker) hostNames() []string {
	var ns []string
	for n := range t.w.Hosts {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}
