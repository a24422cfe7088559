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
	for _, ns := range h.Namespaces {
		for _, v := range ns.Veths {
			if v.Outer == dev && v.PeerNamespace == "" {
				return v.Bridge
			}
		}
	}
	return ""
}

// physicalPort is the bridge's physical interface (a bridge port that
// carries no Neutron port), "" if none.
func physicalPort(h *desired.Host, br string) string {
	for _, p := range h.BridgePorts {
		if p.Bridge == br && p.PortID == "" {
			return p.Name
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
	if phys := physicalPort(h, br); phys != "" && phys != fromDev {
		if c, ok := t.externalClaim(ip); ok {
			t.hop(host, br, "ARP over %s: %s answers %s is-at %s", phys, c.who(), ip, c.mac)
			return c.mac, true
		}
		if ip == t.w.ExternalGateway {
			t.hop(host, br, "ARP over %s: the upstream router answers for %s", phys, ip)
			return upstreamMAC, true
		}
	}
	if mac, ok := t.arpOverTunnels(host, br, ip); ok {
		return mac, true
	}
	t.drop(host, br, "ARP: nobody answers who-has %s", ip)
	return "", false
}

// arpOverTunnels floods the request to the VTEPs of br's VXLAN flood
// list, unless the host's bridge table keeps it (DVR's gateway ARP).
func (t *walker) arpOverTunnels(host, br string, ip netip.Addr) (string, bool) {
	h := t.w.Hosts[host]
	for _, vx := range h.VXLANs {
		if vx.Bridge != br {
			continue
		}
		if r, ok := bridgeARPDrop(h, vx.Name, ip); ok {
			t.hop(host, br, "ARP for %s not sent by %s: %q", ip, vx.Name, r.Comment)
			continue
		}
		for _, f := range h.FDB {
			if f.Dev != vx.Name || !f.Dst.IsValid() || f.MAC != "00:00:00:00:00:00" {
				continue
			}
			rh, rbr, _ := t.vtepHost(f.Dst, vx.VNI)
			if rh == "" {
				continue
			}
			for _, bv := range bridgedVeths(t.w.Hosts[rh], rbr) {
				if hasAddr(bv.v.Addrs, ip) {
					t.hop(host, br, "ARP flooded by %s: %s in %s on %s answers %s is-at %s", vx.Name, bv.v.Inner, bv.ns, rh, ip, bv.v.MAC)
					return bv.v.MAC, true
				}
			}
			for _, p := range t.w.Ports {
				if p.Host == rh && p.Addr.Addr() == ip && bridgeOfPort(t.w.Hosts[rh], p.Dev) == rbr {
					t.hop(host, br, "ARP flooded by %s: port %s on %s answers %s is-at %s", vx.Name, cmpOr(p.Name, p.ID), rh, ip, p.MAC)
					return p.MAC, true
				}
			}
		}
	}
	return "", false
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

// claim is who answers ARP for an address on the external network.
type claim struct {
	host, br, phys, ns, dev, mac string
	proxy                        bool
}

func (c claim) who() string {
	if c.proxy {
		return c.dev + " in " + c.ns + " on " + c.host + " (proxy ARP)"
	}
	return c.dev + " in " + c.ns + " on " + c.host
}

// externalClaim finds the host that answers ARP for ip on the external
// network: a namespace address on a bridge with a physical port, or a
// proxy-ARP device whose namespace routes ip elsewhere (DVR's fip-).
func (t *walker) externalClaim(ip netip.Addr) (claim, bool) {
	for _, name := range t.hostNames() {
		h := t.w.Hosts[name]
		for _, ns := range h.Namespaces {
			for _, v := range ns.Veths {
				if v.PeerNamespace != "" || v.Bridge == "" {
					continue
				}
				phys := physicalPort(h, v.Bridge)
				if phys == "" {
					continue
				}
				c := claim{host: name, br: v.Bridge, phys: phys, ns: ns.Name, dev: v.Inner, mac: v.MAC}
				if hasAddr(v.Addrs, ip) {
					return c, true
				}
				if proxyARP(ns, v.Inner) && routesElsewhere(ns, ip, v.Inner) {
					c.proxy = true
					return c, true
				}
			}
		}
	}
	return claim{}, false
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
	c, ok := t.externalClaim(ip)
	if !ok {
		t.drop("", "external network", "ARP: nobody answers who-has %s", ip)
		return
	}
	t.hop("", "external network", "%s answers ARP for %s; the frame goes to %s", c.who(), ip, c.host)
	t.p.dstMAC = c.mac
	t.bridge(c.host, c.br, c.phys)
}
