package dataplane

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DeleteConntrack deletes the IPv4 conntrack entries in namespace ns whose
// original or reply tuple has any of addrs as source or destination, and
// returns how many it deleted. Used when a floating IP is disassociated or
// moved: established flows keep their NAT binding otherwise (KERNEL.md
// §4.8). It is Neutron's `conntrack -D -d <FIP>` plus `conntrack -D -q
// <FIP>`, and also catches the other directions.
func DeleteConntrack(ns netns.Handle, addrs ...netip.Addr) (int, error) {
	f := addrFilter{}
	for _, a := range addrs {
		if a.Is4() {
			f[a] = true
		}
	}
	if len(f) == 0 {
		return 0, nil
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return 0, fmt.Errorf("conntrack: netlink in netns: %w", err)
	}
	defer h.Close()
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, netlink.FAMILY_V4, f)
	if err != nil {
		return int(n), fmt.Errorf("conntrack delete %v: %w", addrs, err)
	}
	return int(n), nil
}

// addrFilter matches a flow that involves any of its addresses.
type addrFilter map[netip.Addr]bool

func (f addrFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	for _, ip := range []net.IP{flow.Forward.SrcIP, flow.Forward.DstIP, flow.Reverse.SrcIP, flow.Reverse.DstIP} {
		if a, ok := netip.AddrFromSlice(ip); ok && f[a.Unmap()] {
			return true
		}
	}
	return false
}
