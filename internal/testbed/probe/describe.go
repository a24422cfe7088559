package probe

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Describe renders a captured frame in one line for reports: direction,
// its 802.1Q VLAN if tagged, the VXLAN VNI or GRE key if it is a tunnel
// packet (then the inner frame is described), and the payload kind with
// its addresses (ARP, ICMP, TCP, UDP, other).
func Describe(f Frame) string {
	dir := "in"
	if f.Outgoing {
		dir = "out"
	}
	if vid, ok := f.VLANTag(); ok {
		dir += fmt.Sprintf(" vlan %d", vid)
	}
	if inner, vni, ok := f.VXLANInner(); ok {
		return fmt.Sprintf("%s vxlan %d: %s", dir, vni, describeEth(inner))
	}
	if inner, key, _, ok := f.GREInner(); ok {
		return fmt.Sprintf("%s gre key %d: %s", dir, key, describeEth(inner))
	}
	return dir + " " + describeEth(f.untagged())
}

func describeEth(d []byte) string {
	if len(d) < 14 {
		return "runt"
	}
	if op, tpa, ok := IsARP(d); ok {
		_, _, spa, _ := parseARP(d)
		if op == 1 {
			return fmt.Sprintf("ARP who-has %s tell %s", tpa, spa)
		}
		return fmt.Sprintf("ARP reply %s to %s", spa, tpa)
	}
	if binary.BigEndian.Uint16(d[12:14]) != etherTypeIPv4 || len(d) < 34 {
		return fmt.Sprintf("ethertype %#04x", binary.BigEndian.Uint16(d[12:14]))
	}
	ip := d[14:]
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	proto := map[byte]string{1: "ICMP", 6: "TCP", 17: "UDP"}[ip[9]]
	if proto == "" {
		proto = fmt.Sprintf("proto %d", ip[9])
	}
	ihl := int(ip[0]&0x0f) * 4
	if (ip[9] == 6 || ip[9] == 17) && len(ip) >= ihl+4 {
		sp, dp := binary.BigEndian.Uint16(ip[ihl:]), binary.BigEndian.Uint16(ip[ihl+2:])
		return fmt.Sprintf("%s %s:%d > %s:%d", proto, src, sp, dst, dp)
	}
	return fmt.Sprintf("%s %s > %s", proto, src, dst)
}

// Summarize counts frames by Describe and renders the counts, most
// frequent first, one per line.
func Summarize(frames []Frame) string {
	n := map[string]int{}
	for _, f := range frames {
		n[Describe(f)]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if n[keys[i]] != n[keys[j]] {
			return n[keys[i]] > n[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%5d %s\n", n[k], k)
	}
	return b.String()
}
