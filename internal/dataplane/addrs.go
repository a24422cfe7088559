package dataplane

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// applyAddrs makes the link's global addresses (have: the link's
// addresses as dumped at the start of the apply) exactly want (the new
// are added before the old are removed).
func applyAddrs(h *netlink.Handle, res *Result, nsName string, l netlink.Link, want []netip.Prefix, have []netlink.Addr) ([]netip.Prefix, error) {
	var added []netip.Prefix
	cur := map[netip.Prefix]netlink.Addr{}
	for _, a := range have {
		if a.Scope == unix.RT_SCOPE_LINK && a.IP.To4() == nil {
			continue // IPv6 link-local belongs to the kernel
		}
		p, ok := prefixOf(a.IPNet)
		if ok {
			cur[p] = a
		}
	}
	for _, p := range want {
		if _, ok := cur[p]; ok {
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if err := ignoreExist(h.AddrAdd(l, a)); err != nil {
			return added, fmt.Errorf("add %s to %s in %s: %w", p, l.Attrs().Name, nsName, err)
		}
		res.did("add address %s dev %s in %s", p, l.Attrs().Name, nsName)
		added = append(added, p)
	}
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, p := range want {
		wanted[p] = true
	}
	for p, a := range cur {
		if !wanted[p] {
			if err := h.AddrDel(l, &a); err != nil {
				return added, fmt.Errorf("delete %s from %s: %w", p, l.Attrs().Name, err)
			}
			res.did("delete address %s dev %s in %s", p, l.Attrs().Name, nsName)
		}
	}
	return added, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
