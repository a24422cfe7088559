package ipam

import (
	"net/netip"
)

// EUI64 returns the SLAAC address of a port with MAC mac on IPv6 subnet
// prefix (RFC 4291 appendix A, as upstream's get_ipv6_addr_by_EUI64): the
// prefix's upper 64 bits followed by the modified EUI-64 interface id — the
// MAC with ff:fe inserted in the middle and the universal/local bit
// (0x02 of the first octet) flipped. E.g. 2001:db8::/64 with
// fa:16:3e:01:02:03 gives 2001:db8::f816:3eff:fe01:203.
//
// Errors (*InvalidInputError): an IPv4 prefix ("Unable to generate IP
// address by EUI64 for IPv4 prefix"), a prefix longer than /64, or an
// unparsable MAC.
func EUI64(prefix netip.Prefix, mac string) (netip.Addr, error) {
	if !prefix.IsValid() || prefix.Addr().Is4() {
		return netip.Addr{}, invalidInput("Unable to generate IP address by EUI64 for IPv4 prefix")
	}
	if prefix.Bits() > 64 {
		return netip.Addr{}, invalidInput("Invalid CIDR %s for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64", prefix)
	}
	m, err := ParseMAC(mac)
	if err != nil {
		return netip.Addr{}, err
	}
	b := prefix.Masked().Addr().As16()
	b[8] = m[0] ^ 0x02
	b[9] = m[1]
	b[10] = m[2]
	b[11] = 0xff
	b[12] = 0xfe
	b[13] = m[3]
	b[14] = m[4]
	b[15] = m[5]
	return netip.AddrFrom16(b), nil
}
