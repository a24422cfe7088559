package model

import (
	"fmt"
	"net/netip"
)

// Stored addresses and prefixes are strings (upstream's JSON). The API
// checks them when it decodes a stored object (Validate), so the parsed
// forms below are valid for every object read from the store: request
// handlers use them instead of parsing, and bad stored data can never
// panic a request. An unparsable value yields the zero netip value.

// Validator is implemented by stored kinds whose strings must parse.
type Validator interface{ Validate() error }

// Prefix is the subnet's CIDR.
func (s *Subnet) Prefix() netip.Prefix {
	p, _ := netip.ParsePrefix(s.CIDR)
	return p
}

// Gateway is the subnet's gateway_ip, if it has one.
func (s *Subnet) Gateway() (netip.Addr, bool) {
	if s.GatewayIP == nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(*s.GatewayIP)
	return a, err == nil
}

// Validate checks the subnet's CIDR and gateway.
func (s *Subnet) Validate() error {
	if _, err := netip.ParsePrefix(s.CIDR); err != nil {
		return fmt.Errorf("subnet %s: cidr: %w", s.ID, err)
	}
	if s.GatewayIP != nil {
		if _, err := netip.ParseAddr(*s.GatewayIP); err != nil {
			return fmt.Errorf("subnet %s: gateway_ip: %w", s.ID, err)
		}
	}
	return nil
}

// Addr is the fixed IP's address.
func (ip FixedIP) Addr() netip.Addr {
	a, _ := netip.ParseAddr(ip.IPAddress)
	return a
}

// Validate checks the port's fixed IPs.
func (p *Port) Validate() error {
	for _, ip := range p.FixedIPs {
		if _, err := netip.ParseAddr(ip.IPAddress); err != nil {
			return fmt.Errorf("port %s: fixed_ips: %w", p.ID, err)
		}
	}
	return nil
}

// NextHopAddr is the route's nexthop.
func (r Route) NextHopAddr() netip.Addr {
	a, _ := netip.ParseAddr(r.NextHop)
	return a
}

// Validate checks the router's routes and gateway addresses.
func (r *Router) Validate() error {
	if g := r.ExternalGatewayInfo; g != nil {
		for _, ip := range g.ExternalFixedIPs {
			if _, err := netip.ParseAddr(ip.IPAddress); err != nil {
				return fmt.Errorf("router %s: external_fixed_ips: %w", r.ID, err)
			}
		}
	}
	for _, rt := range r.Routes {
		if _, err := netip.ParseAddr(rt.NextHop); err != nil {
			return fmt.Errorf("router %s: routes: nexthop: %w", r.ID, err)
		}
		if _, err := netip.ParsePrefix(rt.Destination); err != nil {
			return fmt.Errorf("router %s: routes: destination: %w", r.ID, err)
		}
	}
	return nil
}

// FixedAddr is the floating IP's fixed_ip_address, if associated.
func (f *FloatingIP) FixedAddr() (netip.Addr, bool) {
	if f.FixedIPAddress == nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(*f.FixedIPAddress)
	return a, err == nil
}

// Validate checks the floating IP's addresses.
func (f *FloatingIP) Validate() error {
	if _, err := netip.ParseAddr(f.FloatingIPAddress); err != nil {
		return fmt.Errorf("floatingip %s: floating_ip_address: %w", f.ID, err)
	}
	if f.FixedIPAddress != nil {
		if _, err := netip.ParseAddr(*f.FixedIPAddress); err != nil {
			return fmt.Errorf("floatingip %s: fixed_ip_address: %w", f.ID, err)
		}
	}
	return nil
}
