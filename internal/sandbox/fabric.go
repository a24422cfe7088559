package sandbox

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// buildFabric creates the node namespaces and wires them:
//
//	<p>-fabric:   br-tun (10.0.1.0/24 switch), br-ext (203.0.113.0/24 switch)
//	<p>-<host>:   eth0 on br-tun with the host's tunnel IP, eth1 on br-ext (no address)
//	<p>-upstream: eth0 203.0.113.1/24 on br-ext, eth1 198.51.100.1/24, forwarding
//	<p>-internet: eth0 198.51.100.10/24, default via 198.51.100.1
func buildFabric(prefix string, hosts []Host) error {
	fab := NodeNS(prefix, NodeFabric)
	nodes := []string{NodeFabric}
	for _, h := range hosts {
		nodes = append(nodes, h.Name)
	}
	nodes = append(nodes, NodeUpstream, NodeInternet)
	for _, n := range nodes {
		if err := createNS(NodeNS(prefix, n)); err != nil {
			return err
		}
	}
	if err := setSysctls(fab, bridgeNFOff); err != nil {
		return err
	}
	fh, err := handle(fab)
	if err != nil {
		return err
	}
	defer fh.Close()
	bridges := map[string]int{}
	for _, name := range []string{BridgeTunnel, BridgeExternal} {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: FabricMTU}}
		if err := fh.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s in %s: %w", name, fab, err)
		}
		l, err := fh.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find bridge %s in %s: %w", name, fab, err)
		}
		if err := fh.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up in %s: %w", name, fab, err)
		}
		bridges[name] = l.Attrs().Index
	}
	// plug connects node's ifName to a fabric bridge.
	plug := func(node, bridge, ifName string) error {
		return vethInto(fh, fab, fabricPort(bridge, node), bridges[bridge], NodeNS(prefix, node), ifName, FabricMTU, nil)
	}
	for _, h := range hosts {
		ns := NodeNS(prefix, h.Name)
		if err := plug(h.Name, BridgeTunnel, HostTunnelIf); err != nil {
			return err
		}
		if err := plug(h.Name, BridgeExternal, HostExternalIf); err != nil {
			return err
		}
		if err := configure(ns, HostTunnelIf, netip.PrefixFrom(h.TunnelIP, TunnelNet.Bits()), netip.Addr{}); err != nil {
			return err
		}
		if err := configure(ns, HostExternalIf, netip.Prefix{}, netip.Addr{}); err != nil {
			return err
		}
		if err := setSysctls(ns, bridgeNFOff); err != nil {
			return err
		}
	}
	up := NodeNS(prefix, NodeUpstream)
	inet := NodeNS(prefix, NodeInternet)
	if err := plug(NodeUpstream, BridgeExternal, "eth0"); err != nil {
		return err
	}
	if err := configure(up, "eth0", netip.PrefixFrom(UpstreamExtIP, ExternalNet.Bits()), netip.Addr{}); err != nil {
		return err
	}
	uh, err := handle(up)
	if err != nil {
		return err
	}
	defer uh.Close()
	if err := vethInto(uh, up, "eth1", 0, inet, "eth0", FabricMTU, nil); err != nil {
		return err
	}
	if err := configure(up, "eth1", netip.PrefixFrom(UpstreamInIP, InternetNet.Bits()), netip.Addr{}); err != nil {
		return err
	}
	if err := configure(inet, "eth0", netip.PrefixFrom(InternetIP, InternetNet.Bits()), UpstreamInIP); err != nil {
		return err
	}
	return setSysctls(up, []sysctl{{Key: "net.ipv4.ip_forward", Value: "1"}})
}

// vethInto creates a veth pair: name in the namespace of h (nsName),
// enslaved to master if non-zero and up, and its peer peerName created
// directly in peerNS (down; the caller configures it).
func vethInto(h *netlink.Handle, nsName, name string, master int, peerNS, peerName string, mtu int, peerMAC net.HardwareAddr) error {
	pns, err := netns.GetFromPath(NSPath(peerNS))
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", peerNS, err)
	}
	defer pns.Close()
	v := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: name, MTU: mtu},
		PeerName:         peerName,
		PeerMTU:          uint32(mtu),
		PeerHardwareAddr: peerMAC,
		PeerNamespace:    netlink.NsFd(int(pns)),
	}
	if err := h.LinkAdd(v); err != nil {
		return fmt.Errorf("add veth %s in %s (peer %s in %s): %w", name, nsName, peerName, peerNS, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", name, nsName, err)
	}
	if master != 0 {
		if err := h.LinkSetMasterByIndex(l, master); err != nil {
			return fmt.Errorf("enslave %s in %s: %w", name, nsName, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up in %s: %w", name, nsName, err)
	}
	return nil
}

// configure sets ifName up in ns, with addr if valid and a default
// route via gw if valid.
func configure(ns, ifName string, addr netip.Prefix, gw netip.Addr) error {
	h, err := handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", ifName, ns, err)
	}
	if addr.IsValid() {
		a := &netlink.Addr{IPNet: ipNet(addr)}
		if err := h.AddrReplace(l, a); err != nil {
			return fmt.Errorf("add address %s to %s in %s: %w", addr, ifName, ns, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up in %s: %w", ifName, ns, err)
	}
	if gw.IsValid() {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: defaultDst(gw), Gw: gw.AsSlice()}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("add default route via %s in %s: %w", gw, ns, err)
		}
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func defaultDst(gw netip.Addr) *net.IPNet {
	if gw.Is4() {
		return ipNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
	}
	return ipNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
}
