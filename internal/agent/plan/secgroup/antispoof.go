package secgroup

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// Well-known ports and ICMPv6 types.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58

	dhcpServer, dhcpClient     = 67, 68
	dhcp6Client, dhcp6Server   = 546, 547
	icmp6RouterAdvert          = 134
	icmp6RouterSol             = 133
	icmp6NeighSol, icmp6NeighA = 135, 136
	icmp6MLDQuery              = 130
	icmp6MLDReport             = 131
	icmp6MLDDone               = 132
	icmp6MLDv2Report           = 143
)

// pair is one source an instance may use: a MAC with an address or
// prefix (its fixed IPs, its allowed address pairs).
type pair struct {
	mac    string
	prefix netip.Prefix
}

// sources returns the port's allowed sources, sorted: fixed IPs with the
// port's MAC, allowed address pairs with theirs (default: the port's).
func sources(lp localPort) []pair {
	mac := strings.ToLower(lp.p.MACAddress)
	var out []pair
	for _, ip := range lp.p.FixedIPs {
		if a, err := netip.ParseAddr(ip.IPAddress); err == nil {
			out = append(out, pair{mac, netip.PrefixFrom(a, a.BitLen())})
		}
	}
	for _, ap := range lp.p.AllowedAddressPairs {
		m := mac
		if ap.MACAddress != "" {
			m = strings.ToLower(ap.MACAddress)
		}
		if p, ok := parsePrefix(ap.IPAddress); ok {
			out = append(out, pair{m, p})
		}
	}
	slices.SortFunc(out, func(a, b pair) int {
		if c := strings.Compare(a.mac, b.mac); c != 0 {
			return c
		}
		return strings.Compare(a.prefix.String(), b.prefix.String())
	})
	return slices.Compact(out)
}

// parsePrefix reads an address or a prefix (masked).
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// linkLocal is the EUI-64 IPv6 link-local address of a MAC.
func linkLocal(mac string) (netip.Prefix, bool) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return netip.Prefix{}, false
	}
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15] = hw[0]^2, hw[1], hw[2], 0xff, 0xfe, hw[3], hw[4], hw[5]
	return netip.PrefixFrom(netip.AddrFrom16(b), 128), true
}

// antiSpoof is the port's src- chain: mark the source port, then let
// through only what the instance may send (upstream's anti-spoofing):
// ARP as itself, DHCP requests, IPv4/IPv6 from its addresses; never DHCP
// server replies or router advertisements. Everything else is dropped.
//
// allowARP ([securitygroup] prevent_arp_spoofing = False) accepts any
// ARP instead of checking its sender.
func antiSpoof(lp localPort, allowARP bool) []desired.NftRule {
	mac := strings.ToLower(lp.p.MACAddress)
	srcs := sources(lp)
	rules := []desired.NftRule{{SetMarkOp: "set", SetMark: lp.idx << 16}}
	if allowARP {
		rules = append(rules, desired.NftRule{L3Proto: "arp", Accept: true, Comment: "ARP (prevent_arp_spoofing off)"})
	} else {
		for _, s := range srcs {
			if s.prefix.Addr().Is4() {
				rules = append(rules, desired.NftRule{L3Proto: "arp", EtherSaddr: s.mac, ARPSenderMAC: s.mac, ARPSenderIP: s.prefix, Accept: true})
			}
		}
		rules = append(rules, desired.NftRule{L3Proto: "arp", Drop: true, Comment: "ARP spoofing"})
	}
	rules = append(rules,
		desired.NftRule{EtherSaddr: mac, Saddr: netip.MustParsePrefix("0.0.0.0/32"), Daddr: netip.MustParsePrefix("255.255.255.255/32"),
			L4Proto: protoUDP, SportMin: dhcpClient, DportMin: dhcpServer, Accept: true, Comment: "DHCP discover"},
		desired.NftRule{L3Proto: "ip", L4Proto: protoUDP, SportMin: dhcpServer, DportMin: dhcpClient, Drop: true, Comment: "DHCP server"},
		desired.NftRule{L3Proto: "ip6", L4Proto: protoUDP, SportMin: dhcp6Server, DportMin: dhcp6Client, Drop: true, Comment: "DHCPv6 server"},
		desired.NftRule{L3Proto: "ip6", L4Proto: protoICMPv6, MatchICMPType: true, ICMPType: icmp6RouterAdvert, Drop: true, Comment: "router advertisement"},
		// Duplicate address detection and MLD come from ::.
		desired.NftRule{EtherSaddr: mac, Saddr: netip.MustParsePrefix("::/128"), L4Proto: protoICMPv6, Accept: true})
	macs := []string{mac}
	for _, s := range srcs {
		macs = append(macs, s.mac)
	}
	slices.Sort(macs)
	for _, m := range slices.Compact(macs) {
		if ll, ok := linkLocal(m); ok {
			rules = append(rules, desired.NftRule{EtherSaddr: m, Saddr: ll, Accept: true})
		}
	}
	for _, s := range srcs {
		rules = append(rules, desired.NftRule{EtherSaddr: s.mac, Saddr: s.prefix, Accept: true})
	}
	return append(rules, desired.NftRule{Drop: true, Comment: "spoofed or not IP"})
}
