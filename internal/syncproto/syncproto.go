// Package syncproto is the wire format between neutrino-server and its
// agents (see docs/agent-protocol.md): registration and heartbeats, the
// list+watch stream of everything a host needs, and status reports.
//
// The stream carries store objects as they are stored (kind, id, mod
// revision, JSON). After applying an event with revision N an agent's
// model equals the server's view of its host at N, so an agent resumes a
// dropped stream by asking for the changes since N: nothing is lost,
// nothing is repeated, and no periodic full resync is needed.
package syncproto

import "encoding/json"

// URL paths, relative to the server's endpoint.
const (
	PathReport = "/agent/v1/report"
	PathStatus = "/agent/v1/status"
	// PathHAClaim is where a standby claims an HA router (docs/ha.md).
	PathHAClaim = "/agent/v1/ha-claim"
	// PathWatch is followed by the host name and "/watch".
	PathHosts = "/agent/v1/hosts/"
)

// ReportRequest registers the agents of one host and is its heartbeat
// (upstream's report_state). Configurations are written only when they
// change; a heartbeat that changes nothing else costs one small write.
type ReportRequest struct {
	Host      string       `json:"host"`
	Agents    []AgentState `json:"agents"`
	StartFlag bool         `json:"start_flag,omitempty"`
	// ReportInterval is the host's heartbeat pace in seconds (its
	// report_interval). The server takes the host's agents for dead
	// after three of them without a report (at most agent_down_time);
	// 0 = unknown: agent_down_time alone.
	ReportInterval float64 `json:"report_interval,omitempty"`
	// AppliedRevision is the revision of the last view of the host that
	// the agent applied in full: a demoted HA router's old active host
	// acknowledges with it that it dropped the router's addresses
	// (docs/ha.md).
	AppliedRevision int64 `json:"applied_revision,omitempty"`
}

// AgentState is what an agent says about itself.
type AgentState struct {
	AgentType        string         `json:"agent_type"`
	Binary           string         `json:"binary"`
	Topic            string         `json:"topic"`
	Configurations   map[string]any `json:"configurations"`
	AvailabilityZone string         `json:"availability_zone,omitempty"`
}

// ReportResponse tells each agent its id and whether it is enabled.
type ReportResponse struct {
	Agents []AgentInfo `json:"agents"`
	// Revived is set when the server had considered the host's agents
	// dead: their routers may have moved away meanwhile.
	Revived bool `json:"revived,omitempty"`
}

// AgentInfo identifies a registered agent.
type AgentInfo struct {
	ID           string `json:"id"`
	AgentType    string `json:"agent_type"`
	AdminStateUp bool   `json:"admin_state_up"`
}

// Key names a stored object.
type Key struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Object is one stored object in a host's view.
type Object struct {
	Kind string          `json:"kind"`
	ID   string          `json:"id"`
	Rev  int64           `json:"rev"`
	Data json.RawMessage `json:"data"`
	// Compact says Data is already as the stream writes it (valid,
	// compact, HTML-escaped: CompactData's output), so WriteLine copies
	// it as is. The server sets it for data it compacted once and
	// shares between streams; a change that concerns 5,000 agents was
	// compacted 5,000 times.
	Compact bool `json:"-"`
}

// Event is one line of the watch stream (newline-delimited JSON).
type Event struct {
	// Revision is the store revision the host's view reflects after
	// this event.
	Revision int64 `json:"revision"`
	// Reset means: forget the model, this event carries the whole view
	// (the first event of a stream without a usable revision).
	Reset   bool     `json:"reset,omitempty"`
	Upserts []Object `json:"upserts,omitempty"`
	Deletes []Key    `json:"deletes,omitempty"`
}

// StatusReport carries the data-plane status of resources an agent
// serves: ports (ACTIVE, DOWN, BUILD, ERROR) and floating IPs (ACTIVE,
// DOWN, ERROR), and routers (ACTIVE, ERROR).
type StatusReport struct {
	Host        string            `json:"host"`
	Ports       map[string]string `json:"ports,omitempty"`
	FloatingIPs map[string]string `json:"floatingips,omitempty"`
	Routers     map[string]string `json:"routers,omitempty"`
	// BindingFailed are ports the host cannot plug (port id -> the
	// physical network it does not map): the server sets their
	// binding:vif_type to binding_failed. Each is also in Ports (DOWN).
	BindingFailed map[string]string `json:"binding_failed,omitempty"`
	// Seen is the mod revision of each object the agent judged from. The
	// server ignores a status about an object that changed since (a late
	// ACTIVE for a floating IP disassociated meanwhile); the agent judges
	// again from the newer object.
	Seen map[string]int64 `json:"seen,omitempty"`
}

// HAClaim asks the server to make AgentID the active agent of the HA
// router RouterID: the standby can no longer reach the active host.
type HAClaim struct {
	Host     string `json:"host"`
	RouterID string `json:"router_id"`
	AgentID  string `json:"agent_id"`
}

// HAClaimResult is the router's active agent after the claim: Granted
// when it is the claimant.
type HAClaimResult struct {
	ActiveAgentID string `json:"active_agent_id"`
	Granted       bool   `json:"granted"`
}
