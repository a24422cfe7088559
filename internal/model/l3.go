package model

// GatewayInfo is a router's external gateway (ext-gw-mode).
type GatewayInfo struct {
	NetworkID        string    `json:"network_id"`
	EnableSNAT       bool      `json:"enable_snat"`
	ExternalFixedIPs []FixedIP `json:"external_fixed_ips"`
}

// Route is an extra route of a router.
type Route struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nexthop"`
}

// Router is a Neutron router with the dvr, l3-ha, extraroute and
// availability-zone attributes. Its interfaces are the ports whose
// device_id is the router.
type Router struct {
	Standard
	Name                  string       `json:"name"`
	AdminStateUp          bool         `json:"admin_state_up"`
	Status                string       `json:"status"`
	ExternalGatewayInfo   *GatewayInfo `json:"external_gateway_info"`
	Routes                []Route      `json:"routes"`
	Distributed           bool         `json:"distributed"`
	HA                    bool         `json:"ha"`
	AvailabilityZoneHints []string     `json:"availability_zone_hints"`
	AvailabilityZones     []string     `json:"availability_zones"`
	FlavorID              *string      `json:"flavor_id"`
	// GatewayPortID is the network:router_gateway port (internal).
	GatewayPortID string `json:"neutrino:gw_port_id,omitempty"`
}

// FloatingIP is a Neutron floating IP. Its address is held by a hidden
// network:floatingip port on the external network.
type FloatingIP struct {
	Standard
	FloatingNetworkID string  `json:"floating_network_id"`
	FloatingIPAddress string  `json:"floating_ip_address"`
	PortID            *string `json:"port_id"`
	FixedIPAddress    *string `json:"fixed_ip_address"`
	RouterID          *string `json:"router_id"`
	Status            string  `json:"status"`
	PortForwardings   []any   `json:"port_forwardings"`
	// FIPPortID is the hidden port holding the address (internal).
	FIPPortID string `json:"neutrino:fip_port_id,omitempty"`
}

// Agent is a Neutron agent record. Liveness is not stored here: it is
// computed from the agent's heartbeat when rendered.
type Agent struct {
	ID                 string         `json:"id"`
	AgentType          string         `json:"agent_type"`
	Binary             string         `json:"binary"`
	Topic              string         `json:"topic"`
	Host               string         `json:"host"`
	AdminStateUp       bool           `json:"admin_state_up"`
	Description        string         `json:"description"`
	CreatedAt          string         `json:"created_at"`
	StartedAt          string         `json:"started_at"`
	HeartbeatTimestamp string         `json:"heartbeat_timestamp"`
	Configurations     map[string]any `json:"configurations"`
	AvailabilityZone   *string        `json:"availability_zone"`
	ResourcesSynced    *bool          `json:"resources_synced"`
	ResourceVersions   map[string]any `json:"resource_versions"`
}

// Std lets agents use the generic storage helpers; agents have no
// project.
func (a *Agent) Std() *Standard { return &Standard{ID: a.ID} }

// Agent types, as upstream names them.
const (
	AgentTypeL3       = "L3 agent"
	AgentTypeDHCP     = "DHCP agent"
	AgentTypeMetadata = "Metadata agent"
	AgentTypeL2       = "Linux bridge agent"
)

// AgentTimeFormat is the agent timestamp layout (no zone, space).
const AgentTimeFormat = "2006-01-02 15:04:05"

// L3 agent modes.
const (
	ModeLegacy        = "legacy"
	ModeDVR           = "dvr"
	ModeDVRSNAT       = "dvr_snat"
	ModeDVRNoExternal = "dvr_no_external"
)

// Binding records which agents host a router (L3) or a network (DHCP).
type Binding struct {
	ID       string   `json:"id"` // router or network id
	AgentIDs []string `json:"agent_ids"`
	// ActiveAgentID is, for an HA router, the agent holding its
	// addresses (the others are standbys). It changes only by placement
	// (the active agent left the binding) or by a standby's granted
	// claim (docs/ha.md).
	ActiveAgentID string `json:"active_agent_id,omitempty"`
	// Demoted is the active agent that left the binding (disabled,
	// deleted, unassigned) while no other holds the role yet: nobody
	// holds the router's addresses until that agent's host has applied
	// a view as of this binding's revision or been silent for the fence
	// time (docs/ha.md).
	Demoted *Demotion `json:"demoted,omitempty"`
}

// Demotion is an HA router's active agent being demoted.
type Demotion struct {
	AgentID string `json:"agent_id"`
	Host    string `json:"host"`
	// Heartbeat (unix ms) is the agent's last heartbeat then, and
	// FenceMS the fence time its host must be silent for.
	Heartbeat int64 `json:"heartbeat_ms"`
	FenceMS   int64 `json:"fence_ms"`
}

// HAState is an HA router's ha_state on an agent of its binding.
func (b *Binding) HAState(agentID string) string {
	if b.ActiveAgentID == agentID {
		return "active"
	}
	return "standby"
}

// Std lets bindings use the generic storage helpers.
func (b *Binding) Std() *Standard { return &Standard{ID: b.ID} }

// DVRMAC is a host's distributed-router MAC address.
type DVRMAC struct {
	Host       string `json:"host"`
	MACAddress string `json:"mac_address"`
}

// Std lets DVR MACs use the generic storage helpers.
func (d *DVRMAC) Std() *Standard { return &Standard{ID: d.Host} }

// More resource kinds.
const (
	KindL3Binding   = "l3_binding"
	KindDHCPBinding = "dhcp_binding"
	KindDVRMAC      = "dvr_mac"
)
