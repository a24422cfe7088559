package trace

import (
	"github.com/neutrino-net/neutrino/internal/desired"
)

// bridge forwards the current frame that entered bridge br of host by
// inDev: the FDB (static entries, else what the kernel learns from local
// ports and namespaces), the host's bridge-family and br_netfilter
// tables, then the out device: a tap (delivered), a namespace's veth, a
// VXLAN or GRE tunnel to another host, or the wire (the physical
// interface or VLAN sub-interface).
func (t *walker) bridge(host, br, inDev string) {
	if t.tooLong() {
		return
	}
	h := t.w.Hosts[host]
	st, ok := t.bridgePrerouting(h, host, br, inDev)
	if !ok {
		return
	}
	out, how := t.fdbLookup(h, host, br)
	if out == "" {
		t.drop(host, br, "FDB: no port for %s (flooded, nobody takes it)", t.p.dstMAC)
		return
	}
	t.hop(host, br, "frame from %s to %s: %s", inDev, t.p.dstMAC, how)
	if !t.bridgeForward(h, st, inDev, out) {
		return
	}
	for _, p := range t.w.Ports {
		if p.Host == host && p.Dev == out {
			if t.p.dst != p.Addr.Addr() {
				t.drop(host, "port "+cmpOr(p.Name, p.ID), "the instance: %s is not its address (%s)", t.p.dst, p.Addr.Addr())
				return
			}
			t.deliver(host, p.ID, "delivered to port %s on host %s", cmpOr(p.Name, p.ID), host)
			return
		}
	}
	for _, vx := range h.VXLANs {
		if vx.Name == out {
			t.tunnel(host, vx)
			return
		}
	}
	for _, g := range h.GRETaps {
		if g.Name == out {
			t.greTunnel(host, g)
			return
		}
	}
	for _, bv := range bridgedVeths(h, br) {
		if bv.v.Outer == out {
			t.namespace(host, bv.ns, bv.v.Inner)
			return
		}
	}
	if w, ok := wireOf(h, br); ok && out == w.dev {
		t.leaveWire(host, w)
		return
	}
	t.drop(host, br, "out device %s is nothing the walk knows", out)
}

// fdbLookup finds the bridge port for the frame's destination MAC.
func (t *walker) fdbLookup(h *desired.Host, host, br string) (dev, how string) {
	mac := t.p.dstMAC
	for _, f := range h.FDB {
		if f.Master && f.MAC == mac && bridgeOfPort(h, f.Dev) == br {
			return f.Dev, "static FDB entry -> " + f.Dev
		}
	}
	for _, p := range t.w.Ports {
		if p.Host == host && p.MAC == mac && bridgeOfPort(h, p.Dev) == br {
			return p.Dev, "learned MAC of port " + cmpOr(p.Name, p.ID) + " -> " + p.Dev
		}
	}
	for _, bv := range bridgedVeths(h, br) {
		if bv.v.MAC == mac {
			return bv.v.Outer, "learned MAC of " + bv.v.Inner + " in " + bv.ns + " -> " + bv.v.Outer
		}
	}
	if w, ok := wireOf(h, br); ok {
		if mac == upstreamMAC {
			return w.dev, "upstream router -> " + w.dev
		}
		if c, ok := t.wireStation(host, mac, w.vid); ok {
			return w.dev, "learned (" + c.who() + ") -> " + w.dev
		}
	}
	return "", ""
}

// tunnel sends the frame through a VXLAN device: the self FDB entry of
// its MAC names the remote VTEP, whose host takes it on its device of
// the same VNI.
func (t *walker) tunnel(host string, vx desired.VXLAN) {
	h := t.w.Hosts[host]
	for _, f := range h.FDB {
		if f.Dev == vx.Name && f.MAC == t.p.dstMAC && f.Dst.IsValid() {
			rh, rbr, rdev := t.vtepHost(f.Dst, vx.VNI)
			if rh == "" {
				t.drop(host, vx.Name, "tunnel FDB: VTEP %s is no host's", f.Dst)
				return
			}
			t.hop(host, vx.Name, "VXLAN VNI %d to VTEP %s (%s), src MAC %s", vx.VNI, f.Dst, rh, t.p.srcMAC)
			t.bridge(rh, rbr, rdev)
			return
		}
	}
	t.drop(host, vx.Name, "tunnel FDB: no VTEP for %s", t.p.dstMAC)
}
