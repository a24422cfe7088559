package dataplane

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DeleteConntrackZone deletes the conntrack entries (IPv4 and IPv6) of
// zone in namespace ns that involve any of addrs, and returns how many
// it deleted: a port's flows after its security group filtering lost a
// rule or a remote member (established flows outlive the rule that let
// them in otherwise).
func DeleteConntrackZone(ns netns.Handle, zone uint16, addrs []netip.Addr) (int, error) {
	f := zoneFilter{zone: zone, addrs: map[netip.Addr]bool{}}
	for _, a := range addrs {
		f.addrs[a.Unmap()] = true
	}
	if len(f.addrs) == 0 {
		return 0, nil
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	if err != nil {
		return 0, fmt.Errorf("conntrack: netlink in netns: %w", err)
	}
	defer h.Close()
	total := 0
	for _, fam := range []netlink.InetFamily{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, f)
		total += int(n)
		if err != nil {
			return total, fmt.Errorf("conntrack delete zone %d %v: %w", zone, addrs, err)
		}
	}
	return total, nil
}

type zoneFilter struct {
	zone  uint16
	addrs map[netip.Addr]bool
}

func (f zoneFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Zone != f.zone {
		return false
	}
	for _, ip := range []net.IP{flow.Forward.SrcIP, flow.Forward.DstIP, flow.Reverse.SrcIP, flow.Reverse.DstIP} {
		if a, ok := netip.AddrFromSlice(ip); ok && f.addrs[a.Unmap()] {
			return true
		}
	}
	return false
}
