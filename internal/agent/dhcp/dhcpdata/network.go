// Package dhcpdata is what the DHCP server serves for one network, as
// plain data: the planner (internal/agent/plan/dhcpnet) builds it without
// touching the kernel, the server (internal/agent/dhcp) reads it.
package dhcpdata

import (
	"net/netip"
	"time"
)

// DefaultLeaseTime is upstream's dhcp_lease_duration default.
const DefaultLeaseTime = 86400 * time.Second

// MetadataAddr is the metadata service address routed by option 121.
var MetadataAddr = netip.MustParseAddr("169.254.169.254")

// Network is what the DHCP server needs to know about one network. The
// agent builds it from its host model; the server never changes it, so a
// new value must be built (not edited in place) when ports change.
type Network struct {
	ID  string
	MTU int // option 26 when > 0
	// DomainName is [DEFAULT] dns_domain (upstream default
	// "openstacklocal"); option 15 is omitted when empty.
	DomainName string
	// LeaseTime is dhcp_lease_duration: 0 means DefaultLeaseTime, negative
	// means infinite (upstream's -1).
	LeaseTime time.Duration
	// IsolatedMetadata is enable_isolated_metadata: subnets without a
	// router get 169.254.169.254/32 via the DHCP port. (Subnets with a
	// router and a gateway get it via the gateway, as upstream.)
	IsolatedMetadata bool
	// ForceMetadata is force_metadata: every subnet gets the metadata
	// route via the DHCP port, router or not.
	ForceMetadata bool
	// Subnets are the network's IPv4 subnets with enable_dhcp.
	Subnets []Subnet
	// Leases are the network's ports by lower-case MAC ("fa:16:3e:..").
	Leases map[string]Lease
}

// Subnet is one IPv4 subnet served on the network.
type Subnet struct {
	ID         string
	CIDR       netip.Prefix
	Gateway    *netip.Addr // nil when gateway_ip is null
	DNS        []netip.Addr
	HostRoutes []Route
	// ServerIP is the network:dhcp port's address on this subnet: the
	// server identifier, and the next hop of the isolated metadata route.
	ServerIP netip.Addr
	// HasRouter reports whether a router interface is attached to the
	// subnet (upstream: the subnet is not "isolated").
	HasRouter bool
}

// Route is a subnet host route (Neutron host_routes).
type Route struct {
	Destination netip.Prefix
	NextHop     netip.Addr
}

// Lease is a static lease: one port's IPv4 fixed IP.
type Lease struct {
	MAC      string
	IP       netip.Addr
	SubnetID string
	// Hostname is option 12; empty means upstream's "host-10-0-0-5".
	Hostname string
	// ExtraOpts are the port's extra_dhcp_opts with ip_version 4. They
	// override the subnet's options; an empty value removes the option.
	ExtraOpts []Opt
}

// Opt is one extra_dhcp_opt: Name is a number ("26") or a dnsmasq option
// name ("mtu", "option:mtu"); Value is in dnsmasq's syntax (comma-separated
// lists, "a.b.c.d/n,next-hop" pairs for routes).
type Opt struct {
	Name  string
	Value string
}

// Subnet returns the served subnet with the id, nil if none.
func (n *Network) Subnet(id string) *Subnet {
	for i := range n.Subnets {
		if n.Subnets[i].ID == id {
			return &n.Subnets[i]
		}
	}
	return nil
}
