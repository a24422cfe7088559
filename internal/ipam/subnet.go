package ipam

import (
	"math/big"
	"net/netip"
)

// Version returns 4 for an IPv4 address and 6 otherwise (IPv4-mapped IPv6
// addresses count as 6). It returns 0 for the zero Addr.
func Version(a netip.Addr) int {
	switch {
	case !a.IsValid():
		return 0
	case a.Is4():
		return 4
	default:
		return 6
	}
}

// ParseIP parses an IP address for attribute attr (e.g. "gateway_ip",
// "ip_address"). Zoned addresses are rejected. When ipVersion is 4 or 6 the
// address must be of that version ("<attr> '<addr>' does not match the
// ip_version '<v>'"); 0 skips the check. Errors are *InvalidInputError.
func ParseIP(s, attr string, ipVersion int) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, invalidAttr(attr, "'%s' is not a valid IP address", s)
	}
	if ipVersion != 0 && Version(a) != ipVersion {
		return netip.Addr{}, invalidInput("%s '%s' does not match the ip_version '%d'", attr, s, ipVersion)
	}
	return a, nil
}

// ParseCIDR parses and canonicalises a subnet CIDR: host bits are cleared,
// so "10.0.0.5/24" yields 10.0.0.0/24. ipVersion 4 or 6 enforces the
// version (0 skips that check). Errors (*InvalidInputError), in order:
//
//   - unparsable / no prefix length:  "'<s>' is not a valid IP subnet"
//     (Attribute "cidr")
//   - version mismatch:               "cidr '<s>' does not match the ip_version '<v>'"
//   - prefix length 0:                "0 is not allowed as CIDR prefix length"
//   - IPv6 ::/x:                      "Invalid CIDR <s> for IP version 6"
func ParseCIDR(s string, ipVersion int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, invalidAttr("cidr", "'%s' is not a valid IP subnet", s)
	}
	p = p.Masked()
	if ipVersion != 0 && Version(p.Addr()) != ipVersion {
		return netip.Prefix{}, invalidInput("cidr '%s' does not match the ip_version '%d'", s, ipVersion)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, invalidInput("0 is not allowed as CIDR prefix length")
	}
	if Version(p.Addr()) == 6 && p.Addr() == netip.IPv6Unspecified() {
		return netip.Prefix{}, invalidInput("Invalid CIDR %s for IP version 6", s)
	}
	return p, nil
}

// ValidateSubnetForDHCP applies the extra CIDR rules of a subnet with
// enable_dhcp=true (checked on create, and on update when DHCP is being
// turned on). Errors are *InvalidInputError with upstream reasons:
//
//   - IPv4 prefix > /30, IPv6 > /126: "Subnet has a prefix length that is
//     incompatible with DHCP service enabled"
//   - multicast: "Multicast IP subnet is not supported if enable_dhcp is True"
//   - loopback: "Loopback IP subnet is not supported if enable_dhcp is True"
//   - IPv4 starting at 0.0.0.0: "First IP '0.0.0.0' of network is not
//     supported if enable_dhcp is True."
func ValidateSubnetForDHCP(p netip.Prefix) error {
	p = p.Masked()
	a := p.Addr()
	if (a.Is4() && p.Bits() > 30) || (!a.Is4() && p.Bits() > 126) {
		return invalidInput("Subnet has a prefix length that is incompatible with DHCP service enabled")
	}
	if a.IsMulticast() {
		return invalidInput("Multicast IP subnet is not supported if enable_dhcp is True")
	}
	if a.IsLoopback() {
		return invalidInput("Loopback IP subnet is not supported if enable_dhcp is True")
	}
	if a.Is4() && a == netip.IPv4Unspecified() {
		return invalidInput("First IP '0.0.0.0' of network is not supported if enable_dhcp is True.")
	}
	return nil
}

// Contains reports whether addr lies inside p (false on version mismatch
// or for a zoned address).
func Contains(p netip.Prefix, addr netip.Addr) bool {
	return p.IsValid() && p.Contains(addr)
}

// LastAddr returns the highest address of p (the IPv4 broadcast address).
func LastAddr(p netip.Prefix) netip.Addr {
	if !p.IsValid() {
		return netip.Addr{}
	}
	p = p.Masked()
	if p.Addr().Is4() {
		b := p.Addr().As4()
		setHostBits(b[:], p.Bits())
		return netip.AddrFrom4(b)
	}
	b := p.Addr().As16()
	setHostBits(b[:], p.Bits())
	return netip.AddrFrom16(b)
}

func setHostBits(b []byte, bits int) {
	for i := range b {
		switch {
		case bits >= 8*(i+1):
		case bits <= 8*i:
			b[i] = 0xff
		default:
			b[i] |= 0xff >> (bits - 8*i)
		}
	}
}

// hasReservedEnds reports whether p's first and last addresses are the
// IPv4 network and broadcast addresses (IPv4 prefixes up to /30). /31 and
// /32 (RFC 3021 point-to-point and host routes) have none reserved.
func hasReservedEnds(p netip.Prefix) bool {
	return p.Addr().Is4() && p.Bits() <= 30
}

// UsableRange returns the inclusive range of host addresses of p from
// which allocation pools, gateways and fixed IPs are drawn:
//
//   - IPv4 up to /30: network+1 .. broadcast-1;
//   - IPv4 /31 and /32: every address;
//   - IPv6 up to /127: network+1 .. last (only the subnet-router anycast
//     address, the network address, is excluded; there is no broadcast);
//   - IPv6 /128: the single address.
//
// The range is never empty for a valid prefix; an invalid prefix yields two
// zero Addrs.
func UsableRange(p netip.Prefix) (first, last netip.Addr) {
	if !p.IsValid() {
		return netip.Addr{}, netip.Addr{}
	}
	p = p.Masked()
	first, last = p.Addr(), LastAddr(p)
	switch {
	case hasReservedEnds(p):
		return first.Next(), last.Prev()
	case p.Addr().Is4(), first == last:
		return first, last
	default:
		return first.Next(), last
	}
}

// DefaultGateway returns the default gateway_ip of a subnet: the first host
// address, network+1 (e.g. 10.0.0.1 for 10.0.0.0/24, 2001:db8::1 for
// 2001:db8::/64). For /32 and /128 network+1 lies outside the prefix and the
// zero Addr is returned (no default gateway).
func DefaultGateway(p netip.Prefix) netip.Addr {
	if !p.IsValid() {
		return netip.Addr{}
	}
	p = p.Masked()
	gw := p.Addr().Next()
	if !p.Contains(gw) {
		return netip.Addr{}
	}
	return gw
}

// ValidateGateway checks a gateway_ip against subnet p. The version must
// match ("gateway_ip '<gw>' does not match the ip_version '<v>'"). A
// gateway inside the CIDR must lie in UsableRange(p), i.e. must not be the
// network address nor (IPv4 up to /30) the broadcast address: "Gateway is
// not valid on subnet". A gateway outside the CIDR is accepted (on-link).
// Errors are *InvalidInputError.
func ValidateGateway(p netip.Prefix, gw netip.Addr) error {
	if !gw.IsValid() || gw.Zone() != "" {
		return invalidAttr("gateway_ip", "'%s' is not a valid IP address", gw)
	}
	if Version(gw) != Version(p.Addr()) {
		return invalidInput("gateway_ip '%s' does not match the ip_version '%d'", gw, Version(p.Addr()))
	}
	if p.Contains(gw) {
		first, last := UsableRange(p)
		if gw.Less(first) || last.Less(gw) {
			return invalidInput("Gateway is not valid on subnet")
		}
	}
	return nil
}

// ValidateFixedIP checks a requested fixed IP against subnet p: it must be
// of p's version, inside the CIDR, and not the IPv4 network or broadcast
// address (IPv4 prefixes up to /30). The IPv6 subnet-router anycast address
// (the network address) is accepted, as upstream does when the port owner
// is a router or unknown; see ValidateFixedIPStrict. Errors are
// *InvalidIPForSubnetError.
func ValidateFixedIP(p netip.Prefix, addr netip.Addr) error {
	if !p.IsValid() || !p.Contains(addr) {
		return &InvalidIPForSubnetError{IPAddress: addr.String()}
	}
	p = p.Masked()
	if hasReservedEnds(p) && (addr == p.Addr() || addr == LastAddr(p)) {
		return &InvalidIPForSubnetError{IPAddress: addr.String()}
	}
	return nil
}

// ValidateFixedIPStrict is ValidateFixedIP that additionally rejects the
// IPv6 subnet-router anycast address (network address) unless p is a /128;
// upstream applies it to ports whose owner is known and not a router.
func ValidateFixedIPStrict(p netip.Prefix, addr netip.Addr) error {
	if err := ValidateFixedIP(p, addr); err != nil {
		return err
	}
	p = p.Masked()
	if !addr.Is4() && p.Bits() < 128 && addr == p.Addr() {
		return &InvalidIPForSubnetError{IPAddress: addr.String()}
	}
	return nil
}

// PrefixSize returns the number of addresses in p (2^(bitlen-bits)).
func PrefixSize(p netip.Prefix) *big.Int {
	if !p.IsValid() {
		return new(big.Int)
	}
	return new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
}
