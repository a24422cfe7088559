package dhcp

import "github.com/neutrino-net/neutrino/internal/agent/dhcp/dhcpdata"

// The served data is defined in package dhcpdata (kernel-free, built by
// the planner); these names keep the server's API.
type (
	Network = dhcpdata.Network
	Subnet  = dhcpdata.Subnet
	Route   = dhcpdata.Route
	Lease   = dhcpdata.Lease
	Opt     = dhcpdata.Opt
)

// DefaultLeaseTime is upstream's dhcp_lease_duration default.
const DefaultLeaseTime = dhcpdata.DefaultLeaseTime

// MetadataAddr is the metadata service address routed by option 121.
var MetadataAddr = dhcpdata.MetadataAddr
