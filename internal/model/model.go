// Package model holds Neutrino's resources as Go types with upstream
// Neutron's JSON names. What is stored in etcd is exactly the JSON of these
// types; the API renders them, hiding admin-only attributes from others.
// No I/O here.
package model

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Resource kinds, as used in store keys and policy rules.
const (
	KindNetwork  = "network"
	KindSubnet   = "subnet"
	KindPort     = "port"
	KindSG       = "security_group"
	KindSGRule   = "security_group_rule"
	KindQuota    = "quota"
	KindRouter   = "router"
	KindFIP      = "floatingip"
	KindAgent    = "agent"
	KindTemplate = "default_security_group_rule"
)

// Standard holds the attributes every Neutron resource has.
type Standard struct {
	ID             string   `json:"id"`
	ProjectID      string   `json:"project_id"`
	TenantID       string   `json:"tenant_id"`
	Description    string   `json:"description"`
	RevisionNumber int      `json:"revision_number"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
	Tags           []string `json:"tags"`
}

// Std gives access to the standard attributes of any resource.
func (s *Standard) Std() *Standard { return s }

// Owner is the project of a resource; the store counts resources per
// kind and owner (store.Owned) for quota checks.
func (s *Standard) Owner() string { return s.ProjectID }

// Resource is any stored resource.
type Resource interface{ Std() *Standard }

// TimeFormat is upstream's resource timestamp layout (UTC, whole seconds).
const TimeFormat = "2006-01-02T15:04:05Z"

// Stamp formats t as a resource timestamp.
func Stamp(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Network is a Neutron network with the provider, external-net, mtu and
// port-security extensions.
type Network struct {
	Standard
	Name                  string   `json:"name"`
	AdminStateUp          bool     `json:"admin_state_up"`
	Status                string   `json:"status"`
	Subnets               []string `json:"subnets"`
	Shared                bool     `json:"shared"`
	External              bool     `json:"router:external"`
	NetworkType           string   `json:"provider:network_type"`
	PhysicalNetwork       *string  `json:"provider:physical_network"`
	SegmentationID        *int     `json:"provider:segmentation_id"`
	MTU                   int      `json:"mtu"`
	PortSecurityEnabled   bool     `json:"port_security_enabled"`
	AvailabilityZoneHints []string `json:"availability_zone_hints"`
	AvailabilityZones     []string `json:"availability_zones"`
	IPv4AddressScope      *string  `json:"ipv4_address_scope"`
	IPv6AddressScope      *string  `json:"ipv6_address_scope"`
	L2Adjacency           bool     `json:"l2_adjacency"`
	IsDefault             bool     `json:"is_default"`
	// SharedWith and ExternalTo are the target projects ("*" = all) of
	// the network's access_as_shared and access_as_external RBAC
	// policies, kept with the network so that visibility needs no scan
	// (internal). Shared is set when SharedWith holds "*", External when
	// ExternalTo is not empty; a network stored before RBAC policies
	// existed has neither list, its flags meaning "all projects".
	SharedWith []string `json:"neutrino:shared_with,omitempty"`
	ExternalTo []string `json:"neutrino:external_to,omitempty"`
}

// SharedTo reports whether the network is shared with project.
func (n *Network) SharedTo(project string) bool {
	return n.Shared || project != "" && slices.Contains(n.SharedWith, project)
}

// ExternalFor reports whether project may use the network as external
// (router gateways, floating IPs).
func (n *Network) ExternalFor(project string) bool {
	if !n.External {
		return false
	}
	return len(n.ExternalTo) == 0 || slices.Contains(n.ExternalTo, RBACWildcard) || project != "" && slices.Contains(n.ExternalTo, project)
}

// Segment is a network's provider attributes.
type Segment struct {
	NetworkType     string
	PhysicalNetwork string
	SegmentationID  int // 0 = none (flat)
}

// Segment returns the network's segment.
func (n *Network) Segment() Segment {
	s := Segment{NetworkType: n.NetworkType}
	if n.PhysicalNetwork != nil {
		s.PhysicalNetwork = *n.PhysicalNetwork
	}
	if n.SegmentationID != nil {
		s.SegmentationID = *n.SegmentationID
	}
	return s
}

// Pool is an allocation pool.
type Pool struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// HostRoute is a subnet host route.
type HostRoute struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nexthop"`
}

// Subnet is a Neutron subnet.
type Subnet struct {
	Standard
	Name              string      `json:"name"`
	NetworkID         string      `json:"network_id"`
	IPVersion         int         `json:"ip_version"`
	CIDR              string      `json:"cidr"`
	SubnetPoolID      *string     `json:"subnetpool_id"`
	GatewayIP         *string     `json:"gateway_ip"`
	AllocationPools   []Pool      `json:"allocation_pools"`
	DNSNameservers    []string    `json:"dns_nameservers"`
	HostRoutes        []HostRoute `json:"host_routes"`
	EnableDHCP        bool        `json:"enable_dhcp"`
	IPv6RAMode        *string     `json:"ipv6_ra_mode"`
	IPv6AddressMode   *string     `json:"ipv6_address_mode"`
	SegmentID         *string     `json:"segment_id"`
	ServiceTypes      []string    `json:"service_types"`
	DNSPublishFixedIP bool        `json:"dns_publish_fixed_ip"`
	External          bool        `json:"router:external"`
}

// FixedIP is one address of a port.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// AddressPair is an allowed address pair.
type AddressPair struct {
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address"`
}

// DHCPOpt is an extra DHCP option.
type DHCPOpt struct {
	OptName   string `json:"opt_name"`
	OptValue  string `json:"opt_value"`
	IPVersion int    `json:"ip_version"`
}

// Port is a Neutron port with binding, security-group, allowed-address-pairs
// and extra_dhcp_opt attributes.
type Port struct {
	Standard
	Name                string         `json:"name"`
	NetworkID           string         `json:"network_id"`
	AdminStateUp        bool           `json:"admin_state_up"`
	MACAddress          string         `json:"mac_address"`
	FixedIPs            []FixedIP      `json:"fixed_ips"`
	DeviceID            string         `json:"device_id"`
	DeviceOwner         string         `json:"device_owner"`
	Status              string         `json:"status"`
	SecurityGroups      []string       `json:"security_groups"`
	AllowedAddressPairs []AddressPair  `json:"allowed_address_pairs"`
	PortSecurityEnabled bool           `json:"port_security_enabled"`
	ExtraDHCPOpts       []DHCPOpt      `json:"extra_dhcp_opts"`
	HostID              string         `json:"binding:host_id"`
	VNICType            string         `json:"binding:vnic_type"`
	VIFType             string         `json:"binding:vif_type"`
	VIFDetails          map[string]any `json:"binding:vif_details"`
	Profile             map[string]any `json:"binding:profile"`
	// Trusted is port-trusted-vif's admin-set flag (SR-IOV trusted VFs);
	// nil until set, and mirrored into Profile["trusted"] as upstream
	// does for nova.
	Trusted       *bool             `json:"trusted"`
	IPAllocation  string            `json:"ip_allocation"`
	DNSName       string            `json:"dns_name"`
	DNSAssignment []json.RawMessage `json:"dns_assignment,omitempty"`
}

// SecurityGroup is a Neutron security group; its rules are separate
// resources, embedded when rendered.
type SecurityGroup struct {
	Standard
	Name     string `json:"name"`
	Stateful bool   `json:"stateful"`
	Shared   bool   `json:"shared"`
	// Default marks the project's "default" group (not an upstream
	// attribute, hidden from the API).
	Default bool `json:"neutrino:default,omitempty"`
}

// SecurityGroupRule is one rule; rules are immutable.
type SecurityGroupRule struct {
	Standard
	SecurityGroupID      string  `json:"security_group_id"`
	Direction            string  `json:"direction"`
	EtherType            string  `json:"ethertype"`
	Protocol             *string `json:"protocol"`
	PortRangeMin         *int    `json:"port_range_min"`
	PortRangeMax         *int    `json:"port_range_max"`
	RemoteIPPrefix       *string `json:"remote_ip_prefix"`
	NormalizedCIDR       *string `json:"normalized_cidr"`
	RemoteGroupID        *string `json:"remote_group_id"`
	RemoteAddressGroupID *string `json:"remote_address_group_id"`
	BelongsToDefaultSG   bool    `json:"belongs_to_default_sg"`
}

// Quota is a project's non-default limits.
type Quota struct {
	ProjectID string         `json:"project_id"`
	Limits    map[string]int `json:"limits"`
}

// Std makes Quota a Resource for storage helpers (it has no standard
// attributes; the project id is its key).
func (q *Quota) Std() *Standard { return &Standard{ID: q.ProjectID} }

// VIFTypeBindingFailed is binding:vif_type of a port its host cannot
// plug (upstream's value).
const VIFTypeBindingFailed = "binding_failed"

// Device owners with special handling.
const (
	OwnerDHCP              = "network:dhcp"
	OwnerRouterInterface   = "network:router_interface"
	OwnerRouterInterfaceD  = "network:router_interface_distributed"
	OwnerRouterGateway     = "network:router_gateway"
	OwnerRouterSNAT        = "network:router_centralized_snat"
	OwnerFloatingIP        = "network:floatingip"
	OwnerFIPAgentGateway   = "network:floatingip_agent_gateway"
	OwnerDistributed       = "network:distributed"
	OwnerHARouterInterface = "network:ha_router_replicated_interface"
	// OwnerRouterHA is an HA router's port on its project's hidden HA
	// network, one per (router, agent) (docs/ha.md).
	OwnerRouterHA = "network:router_ha_interface"
)

// DVRServiceable reports whether a port makes its host serve the
// distributed routers of its subnets (upstream: compute ports, DHCP
// ports with host_dvr_for_dhcp, trunk subports).
func DVRServiceable(owner string) bool {
	return strings.HasPrefix(owner, "compute:") || owner == OwnerDHCP || owner == "trunk:subport"
}

// AutoDeletedOwner reports whether ports with this owner are removed with
// their network or subnet instead of blocking the delete.
func AutoDeletedOwner(owner string) bool {
	return owner == OwnerDHCP || owner == OwnerDistributed || owner == OwnerFIPAgentGateway || owner == OwnerRouterHA
}
