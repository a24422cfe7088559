// Package claims names the store's uniqueness claims. A claim (group,
// member) -> owner makes "at most one X per Y" hold across servers: two
// transactions claiming the same member race on one etcd key. Every
// group and member name is built here so the server's packages agree on
// them byte for byte; the names are stored in etcd, so they never change.
package claims

import (
	"strconv"
	"strings"
)

// IP is the group of a subnet's allocated addresses (member: address).
func IP(subnetID string) string { return "ip:" + subnetID }

// MAC is the group of a network's port MACs (member: MAC).
func MAC(networkID string) string { return "mac:" + networkID }

// FIPFixed is the group that lets one fixed IP carry at most one
// floating IP per external network.
func FIPFixed(externalNetworkID string) string { return "fipfixed:" + externalNetworkID }

// FIPFixedMember is the FIPFixed member of a port's fixed address.
func FIPFixedMember(fixedIP, portID string) string { return fixedIP + "@" + portID }

// Segment is the group of a provider segment: VLAN ids are unique per
// physical network, flat networks one per physical network, local
// networks never exclusive, tunnel ids unique per type.
func Segment(networkType, physnet string) string {
	switch networkType {
	case "vlan":
		return "seg:vlan:" + physnet
	case "flat":
		return "seg:flat"
	case "local":
		return "seg:local"
	}
	return "seg:" + networkType
}

// SegmentMember is the Segment member of a segment.
func SegmentMember(networkType, physnet string, segmentationID int) string {
	switch networkType {
	case "flat":
		return physnet
	case "local":
		return "-"
	}
	return strconv.Itoa(segmentationID)
}

// DHCPPort holds, per agent id, the DHCP port the agent has on the
// network: one port per (network, agent).
func DHCPPort(networkID string) string { return "dhcpport:" + networkID }

// FGPort holds the DVR floating IP agent gateway port of each
// FGMember(host, external network).
const FGPort = "fgport"

// FGMember is the FGPort member of a host's port on an external network.
func FGMember(host, networkID string) string { return host + "@" + networkID }

// SplitFGMember is the inverse of FGMember.
func SplitFGMember(m string) (host, networkID string) {
	i := strings.LastIndexByte(m, '@')
	if i < 0 {
		return m, ""
	}
	return m[:i], m[i+1:]
}

// Agent makes one agent of a type per host (member: AgentMember).
const Agent = "agent"

// AgentMember is the Agent member of an agent type on a host.
func AgentMember(agentType, host string) string { return agentType + "@" + host }

// DVRMAC makes hosts' DVR MACs unique (member: MAC, owner: host).
const DVRMAC = "dvrmac"

// DefaultSG holds each project's default security group (member:
// project).
const DefaultSG = "defaultsg"

// HANetwork holds each project's hidden HA network (member: project,
// owner: network id).
const HANetwork = "hanet"

// HAPort holds an HA router's HA port on each agent (member:
// HAPortMember, owner: port id).
func HAPort(routerID string) string { return "haport:" + routerID }
