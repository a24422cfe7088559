package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Reply returns the answer to req on network n, as dnsmasq configured by
// Neutron would give it:
//
//   - DISCOVER: OFFER of the lease's address.
//   - REQUEST: ACK when the address asked for (option 50, or ciaddr when
//     renewing) is the lease's, NAK otherwise; nil when the client selected
//     another server (option 54 is not ours).
//   - INFORM: ACK with the options but no address or lease times.
//   - RELEASE, DECLINE: nil; leases are static, there is nothing to free.
//
// It returns nil, nil for anything it does not answer: unknown MACs
// (static hosts only, as upstream), replies, non-Ethernet clients. An error
// means the network itself is inconsistent (a lease on a subnet that is not
// served, a subnet without a server address).
func Reply(n *Network, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	if n == nil || req == nil || req.OpCode != dhcpv4.OpcodeBootRequest ||
		req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return nil, nil
	}
	mac := req.ClientHWAddr.String() // lower case
	l, ok := n.Leases[mac]
	if !ok {
		return nil, nil
	}
	s := n.Subnet(l.SubnetID)
	switch {
	case s == nil:
		return nil, fmt.Errorf("network %s: lease %s %s on subnet %s, which is not served", n.ID, mac, l.IP, l.SubnetID)
	case !l.IP.Is4() || !s.CIDR.Contains(l.IP):
		return nil, fmt.Errorf("network %s: lease %s %s is not in subnet %s %s", n.ID, mac, l.IP, s.ID, s.CIDR)
	case !s.ServerIP.Is4():
		return nil, fmt.Errorf("network %s: subnet %s has no DHCP port address", n.ID, s.ID)
	}
	server := s.ServerIP.AsSlice()
	yiaddr := net.IP(l.IP.AsSlice())

	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		return newReply(req, dhcpv4.MessageTypeOffer, server, yiaddr, net.IPv4zero, options(n, s, &l, true))

	case dhcpv4.MessageTypeRequest:
		var want net.IP
		switch sid := req.ServerIdentifier(); {
		case sid != nil: // SELECTING
			if !sid.Equal(server) {
				return nil, nil
			}
			want = req.RequestedIPAddress()
			if want == nil {
				want = req.ClientIPAddr
			}
		case req.RequestedIPAddress() != nil: // INIT-REBOOT
			want = req.RequestedIPAddress()
		default: // RENEWING, REBINDING
			want = req.ClientIPAddr
			if want == nil || want.IsUnspecified() {
				return nil, nil // malformed
			}
		}
		if !want.Equal(yiaddr) {
			return newReply(req, dhcpv4.MessageTypeNak, server, net.IPv4zero, net.IPv4zero,
				dhcpv4.OptionsFromList(dhcpv4.OptMessage("address not available")))
		}
		return newReply(req, dhcpv4.MessageTypeAck, server, yiaddr, req.ClientIPAddr, options(n, s, &l, true))

	case dhcpv4.MessageTypeInform:
		return newReply(req, dhcpv4.MessageTypeAck, server, net.IPv4zero, req.ClientIPAddr, options(n, s, &l, false))
	}
	return nil, nil
}

func newReply(req *dhcpv4.DHCPv4, typ dhcpv4.MessageType, server, yiaddr, ciaddr net.IP, opts dhcpv4.Options) (*dhcpv4.DHCPv4, error) {
	if ciaddr == nil {
		ciaddr = net.IPv4zero
	}
	resp, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithYourIP(yiaddr),
		dhcpv4.WithClientIP(ciaddr),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server)),
	)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", typ, err)
	}
	for code, v := range opts {
		if code == siaddrCode {
			resp.ServerIPAddr = net.IP(v)
			continue
		}
		resp.Options[code] = v
	}
	return resp, nil
}

// options are the lease's options: the subnet's, as Neutron writes them
// into dnsmasq's opts file, then the port's extra_dhcp_opts over them.
// withLease adds the lease times (not sent in reply to INFORM).
func options(n *Network, s *Subnet, l *Lease, withLease bool) dhcpv4.Options {
	o := dhcpv4.Options{}
	set := func(opt dhcpv4.Option) { o.Update(opt) }

	set(dhcpv4.OptSubnetMask(net.CIDRMask(s.CIDR.Bits(), 32)))
	set(dhcpv4.OptBroadcastAddress(broadcast(s.CIDR).AsSlice()))
	gw := s.Gateway
	if gw != nil && !gw.Is4() {
		gw = nil
	}
	if gw != nil {
		set(dhcpv4.OptRouter(gw.AsSlice()))
	}
	if len(s.DNS) > 0 {
		var ips []net.IP
		for _, a := range s.DNS {
			if a.Is4() {
				ips = append(ips, a.AsSlice())
			}
		}
		if len(ips) > 0 {
			set(dhcpv4.OptDNS(ips...))
		}
	}
	set(dhcpv4.OptHostName(hostname(l)))
	if n.DomainName != "" {
		set(dhcpv4.OptDomainName(n.DomainName))
	}
	if n.MTU > 0 && n.MTU <= 0xffff {
		set(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(n.MTU >> 8), byte(n.MTU)}))
	}
	routes := ClasslessRoutes(n, s)
	if len(routes) > 0 {
		b := encodeRoutes(routes)
		set(dhcpv4.OptGeneric(dhcpv4.OptionClasslessStaticRoute, b))
		set(dhcpv4.OptGeneric(optionMSClasslessRoute, b))
	}
	if withLease {
		lt := n.LeaseTime
		switch {
		case lt < 0:
			set(dhcpv4.OptGeneric(dhcpv4.OptionIPAddressLeaseTime, []byte{0xff, 0xff, 0xff, 0xff}))
		default:
			if lt == 0 {
				lt = DefaultLeaseTime
			}
			lt = lt.Truncate(time.Second)
			// RFC 2131 4.4.5 defaults, which dnsmasq also sends.
			set(dhcpv4.OptIPAddressLeaseTime(lt))
			set(dhcpv4.OptRenewTimeValue((lt / 2).Truncate(time.Second)))
			set(dhcpv4.OptRebindingTimeValue((lt * 7 / 8).Truncate(time.Second)))
		}
	}

	for _, e := range l.ExtraOpts {
		code, data, err := ParseOpt(e)
		if err != nil {
			continue
		}
		switch {
		case data == nil && code == dhcpv4.OptionRouter.Code():
			// No router: drop the default route from 121 too, or
			// clients would still install it.
			o.Del(dhcpv4.OptionRouter)
			if len(routes) > 0 {
				var kept []Route
				for _, r := range routes {
					if r.Destination.Bits() != 0 {
						kept = append(kept, r)
					}
				}
				setRoutes(o, kept)
			}
		case code == dhcpv4.OptionClasslessStaticRoute.Code():
			setRoutesBytes(o, data)
		case data == nil:
			delete(o, code)
		default:
			o[code] = data
		}
	}
	return o
}

// optionMSClasslessRoute is Microsoft's pre-RFC 3442 code for classless
// static routes, which upstream sends alongside 121.
var optionMSClasslessRoute = dhcpv4.GenericOptionCode(249)

func setRoutes(o dhcpv4.Options, rs []Route) {
	if len(rs) == 0 {
		setRoutesBytes(o, nil)
		return
	}
	setRoutesBytes(o, encodeRoutes(rs))
}

func setRoutesBytes(o dhcpv4.Options, b []byte) {
	if b == nil {
		o.Del(dhcpv4.OptionClasslessStaticRoute)
		o.Del(optionMSClasslessRoute)
		return
	}
	o[dhcpv4.OptionClasslessStaticRoute.Code()] = b
	o[optionMSClasslessRoute.Code()] = b
}

// ClasslessRoutes returns the option 121 routes of subnet s, in upstream's
// order: the network's other IPv4 subnets on link (next hop 0.0.0.0), the
// subnet's host routes, the metadata route, and, when there is any route
// and a gateway, the default route (RFC 3442: a client that gets 121
// ignores option 3). A destination given twice keeps its first route, so a
// user's host route wins over the generated ones.
func ClasslessRoutes(n *Network, s *Subnet) []Route {
	var rs []Route
	for _, o := range n.Subnets {
		if o.ID != s.ID && o.CIDR.Addr().Is4() && o.CIDR.Masked() != s.CIDR.Masked() {
			rs = append(rs, Route{Destination: o.CIDR.Masked(), NextHop: netip.IPv4Unspecified()})
		}
	}
	for _, r := range s.HostRoutes {
		if r.Destination.Addr().Is4() && r.NextHop.Is4() {
			rs = append(rs, Route{Destination: r.Destination.Masked(), NextHop: r.NextHop})
		}
	}
	gw := s.Gateway
	if gw != nil && !gw.Is4() {
		gw = nil
	}
	meta := netip.PrefixFrom(MetadataAddr, 32)
	switch {
	case n.ForceMetadata || (n.IsolatedMetadata && !s.HasRouter):
		if s.ServerIP.Is4() {
			rs = append(rs, Route{Destination: meta, NextHop: s.ServerIP})
		}
	case s.HasRouter && gw != nil:
		rs = append(rs, Route{Destination: meta, NextHop: *gw})
	}
	if len(rs) > 0 && gw != nil {
		rs = append(rs, Route{Destination: netip.PrefixFrom(netip.IPv4Unspecified(), 0), NextHop: *gw})
	}
	seen := map[netip.Prefix]bool{}
	out := rs[:0]
	for _, r := range rs {
		if !seen[r.Destination] {
			seen[r.Destination] = true
			out = append(out, r)
		}
	}
	return out
}

// hostname is option 12: the port's DNS name, or upstream's "host-" form
// of its address.
func hostname(l *Lease) string {
	if l.Hostname != "" {
		return l.Hostname
	}
	return "host-" + strings.ReplaceAll(l.IP.String(), ".", "-")
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	if p.Bits() == 0 {
		host = ^uint32(0)
	}
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
