// Package l2 plans a host's layer 2: a Linux bridge per network present
// on the host, a VXLAN device per tunnelled network with learning off and
// FDB entries for exactly the remote hosts and ports of that network
// (l2population), permanent neighbour entries on the bridge for remote
// ports (ARP responder, answered by the bridge through neigh_suppress),
// instance taps and physical interfaces in their bridges, and the DHCP
// namespaces with their ports. Pure: no kernel access.
package l2

import (
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// Config is what the L2 plan needs of the agent's configuration.
type Config struct {
	Host               string
	LocalIP            netip.Addr
	PhysicalInterfaces map[string]string
	Bridges            map[string]string
	ARPResponder       bool
	L2Population       bool
	IsolatedMetadata   bool
	NS                 names.Namespaces
}

// MetadataIP is the link-local metadata address.
var MetadataIP = netip.MustParsePrefix("169.254.169.254/32")

// flood is the all-zeros MAC of a VXLAN flood-list entry.
const flood = "00:00:00:00:00:00"

// HostSysctls keep bridged traffic out of the host namespace's ip
// hooks (br_netfilter defaults to on in every new netns; KERNEL.md §4.7).
var HostSysctls = []desired.Sysctl{
	{Key: "net/bridge/bridge-nf-call-iptables", Value: "0"},
	{Key: "net/bridge/bridge-nf-call-ip6tables", Value: "0"},
	{Key: "net/bridge/bridge-nf-call-arptables", Value: "0"},
	{Key: TCPLooseSysctl, Value: "1"},
}

// TCPLooseSysctl is conntrack's mid-stream pickup of TCP flows in the
// host namespace (the kernel's default, 1, while nothing is filtered).
// Security groups turn it off: when a rule goes, the agent deletes the
// flows it admitted, and with pickup on the instance's next packet
// (egress is open) would re-create the flow from its side and the
// peer's packets would pass back in as replies.
const TCPLooseSysctl = "net/netfilter/nf_conntrack_tcp_loose"

// IsRouterOwned reports whether a port is plugged by the L3 part (into a
// router, SNAT or FIP namespace) rather than being an instance tap.
func IsRouterOwned(owner string) bool {
	switch owner {
	case model.OwnerRouterInterface, model.OwnerRouterInterfaceD, model.OwnerRouterGateway,
		model.OwnerRouterSNAT, model.OwnerFIPAgentGateway, model.OwnerHARouterInterface, model.OwnerFloatingIP:
		return true
	}
	return false
}

// DHCPAgentID returns this host's DHCP agent id ("" if none).
func DHCPAgentID(s *hostmodel.Snapshot, host string) string {
	if a := s.AgentsOf(host)[model.AgentTypeDHCP]; a != nil {
		return a.ID
	}
	return ""
}

// DHCPNetworks returns the networks this host serves DHCP for, each with
// its DHCP port on this host (nil if the server has not made it yet).
func DHCPNetworks(s *hostmodel.Snapshot, host string) map[string]*model.Port {
	out := map[string]*model.Port{}
	agentID := DHCPAgentID(s, host)
	if agentID == "" {
		return out
	}
	for netID, b := range s.DHCPBindings {
		for _, id := range b.AgentIDs {
			if id == agentID {
				out[netID] = nil
			}
		}
	}
	for _, p := range s.Ports {
		if p.DeviceOwner == model.OwnerDHCP && p.HostID == host {
			if _, ok := out[p.NetworkID]; ok {
				out[p.NetworkID] = p
			}
		}
	}
	return out
}

// Present returns the networks that need a bridge on this host: those of
// its ports, its DHCP networks, and extra (the L3 part's networks).
func Present(s *hostmodel.Snapshot, host string, extra []string) map[string]bool {
	nets := map[string]bool{}
	for _, p := range s.Ports {
		if p.HostID == host {
			nets[p.NetworkID] = true
		}
	}
	for n := range DHCPNetworks(s, host) {
		nets[n] = true
	}
	for _, n := range extra {
		nets[n] = true
	}
	return nets
}

// Plan computes the host's L2 desired state. extraNetworks are networks
// the L3 part plugs router ports into.
func Plan(s *hostmodel.Snapshot, cfg Config, extraNetworks []string) *desired.Host {
	h := &desired.Host{Sysctls: append([]desired.Sysctl(nil), HostSysctls...)}
	agentID := DHCPAgentID(s, cfg.Host)
	for netID := range Present(s, cfg.Host, extraNetworks) {
		nw := PlanNetwork(s, cfg, agentID, netID, true)
		h.Bridges = append(h.Bridges, nw.Host.Bridges...)
		h.VXLANs = append(h.VXLANs, nw.Host.VXLANs...)
		h.BridgePorts = append(h.BridgePorts, nw.Host.BridgePorts...)
		h.FDB = append(h.FDB, nw.Host.FDB...)
		h.Neighs = append(h.Neighs, nw.Host.Neighs...)
		h.Namespaces = append(h.Namespaces, nw.Host.Namespaces...)
	}
	h.Normalize()
	return h
}

// Network is one network's share of the host's layer 2: its bridge,
// VXLAN device, FDB and neighbour entries, taps and physical interface,
// and its DHCP namespace. Networks share nothing in the kernel, so a
// host's layer 2 is the union of its networks'.
type Network struct {
	ID      string
	Present bool // the host needs the network (see PlanNetwork)
	Host    desired.Host
	// DHCP is set when this host serves DHCP for the network; DHCPPort
	// is its port here (nil until the server has made it).
	DHCP     bool
	DHCPPort *model.Port
}

// PlanNetwork plans one network on this host. The network is present
// when a port of this host is on it, when this host's DHCP agent
// (agentID) serves it, or when routed (the L3 part plugs a router into
// it); otherwise its plan is empty.
func PlanNetwork(s *hostmodel.Snapshot, cfg Config, agentID, netID string, routed bool) Network {
	out := Network{ID: netID, Present: routed}
	ports := s.PortsOfNetwork(netID)
	for _, p := range ports {
		out.Present = out.Present || p.HostID == cfg.Host
	}
	out.DHCPPort, out.DHCP = DHCPPort(s, cfg.Host, agentID, netID)
	out.Present = out.Present || out.DHCP
	n := s.Networks[netID]
	if !out.Present || n == nil || !Bridged(cfg, n) {
		return out
	}
	h := &out.Host
	planNetwork(h, s, cfg, n, ports)
	for _, p := range ports {
		if p.HostID != cfg.Host || IsRouterOwned(p.DeviceOwner) || p.DeviceOwner == model.OwnerDHCP {
			continue
		}
		h.BridgePorts = append(h.BridgePorts, desired.BridgePort{Name: names.Tap(p.ID), Bridge: names.Bridge(n.ID), MTU: n.MTU, PortID: p.ID})
	}
	if out.DHCPPort != nil {
		h.Namespaces = append(h.Namespaces, dhcpNamespace(s, cfg, n, out.DHCPPort))
	}
	h.Normalize()
	return out
}

// DHCPPort reports whether this host's DHCP agent (agentID) serves the
// network, and its DHCP port on this host (nil if the server has not
// made it yet; the lowest id if there are several).
func DHCPPort(s *hostmodel.Snapshot, host, agentID, netID string) (*model.Port, bool) {
	b := s.DHCPBindings[netID]
	if agentID == "" || b == nil || !slices.Contains(b.AgentIDs, agentID) {
		return nil, false
	}
	var port *model.Port
	for _, p := range s.PortsOfNetwork(netID) {
		if p.DeviceOwner == model.OwnerDHCP && p.HostID == host && (port == nil || p.ID < port.ID) {
			port = p
		}
	}
	return port, true
}

// Bridged reports whether this host can attach the network at all.
func Bridged(cfg Config, n *model.Network) bool {
	switch n.NetworkType {
	case "vxlan":
		return cfg.LocalIP.IsValid()
	case "flat":
		phys := physnetOf(n)
		return cfg.PhysicalInterfaces[phys] != "" || cfg.Bridges[phys] != ""
	case "local":
		return true
	}
	// VLAN and GRE need kernel modules this agent does not use (802.1Q,
	// gretap); such networks are accepted by the API but not plugged.
	return false
}

// UnmappedPhysnet returns the physical network of a flat network that
// this host does not map to an interface or bridge ("" if the network
// is not such a one): its ports cannot be bound here.
func UnmappedPhysnet(cfg Config, n *model.Network) string {
	if n.NetworkType != "flat" || Bridged(cfg, n) {
		return ""
	}
	return physnetOf(n)
}

func physnetOf(n *model.Network) string {
	if n.PhysicalNetwork == nil {
		return ""
	}
	return *n.PhysicalNetwork
}

func planNetwork(h *desired.Host, s *hostmodel.Snapshot, cfg Config, n *model.Network, ports []*model.Port) {
	if !Bridged(cfg, n) {
		return
	}
	br := names.Bridge(n.ID)
	h.Bridges = append(h.Bridges, desired.Bridge{Name: br, MTU: n.MTU})
	switch n.NetworkType {
	case "flat":
		if dev := cfg.PhysicalInterfaces[physnetOf(n)]; dev != "" {
			h.BridgePorts = append(h.BridgePorts, desired.BridgePort{Name: dev, Bridge: br, MTU: n.MTU})
		}
		return
	case "local":
		return
	}
	vni := 0
	if n.SegmentationID != nil {
		vni = *n.SegmentationID
	}
	vx := names.VXLAN(vni)
	h.VXLANs = append(h.VXLANs, desired.VXLAN{Name: vx, VNI: vni, Local: cfg.LocalIP, Bridge: br, MTU: n.MTU, NeighSuppress: cfg.ARPResponder})
	if !cfg.L2Population {
		return
	}
	vteps := map[string]netip.Addr{}
	for _, p := range ports {
		if p.HostID == "" || p.HostID == cfg.Host || p.DeviceOwner == model.OwnerRouterInterfaceD {
			continue
		}
		vtep, seen := vteps[p.HostID]
		var err error
		if !seen {
			vtep, err = netip.ParseAddr(s.TunnelIP(p.HostID))
			vteps[p.HostID] = vtep
		} else if !vtep.IsValid() {
			err = errNoVTEP
		}
		if err != nil || vtep == cfg.LocalIP {
			continue
		}
		h.FDB = append(h.FDB,
			desired.FDB{Dev: vx, MAC: flood, Dst: vtep},
			desired.FDB{Dev: vx, MAC: p.MACAddress, Dst: vtep},
			desired.FDB{Dev: vx, MAC: p.MACAddress, Master: true})
		if cfg.ARPResponder {
			for _, ip := range p.FixedIPs {
				if a, err := netip.ParseAddr(ip.IPAddress); err == nil && a.Is4() {
					h.Neighs = append(h.Neighs, desired.Neigh{Dev: br, IP: a, MAC: p.MACAddress})
				}
			}
		}
	}
}

func dhcpNamespace(s *hostmodel.Snapshot, cfg Config, n *model.Network, p *model.Port) desired.Namespace {
	v := desired.Veth{Inner: names.DHCPInner(p.ID), Outer: names.Tap(p.ID), Bridge: names.Bridge(n.ID), MAC: p.MACAddress, MTU: n.MTU, PortID: p.ID}
	for _, ip := range p.FixedIPs {
		sub := s.Subnets[ip.SubnetID]
		addr, err := netip.ParseAddr(ip.IPAddress)
		if sub == nil || err != nil {
			continue
		}
		cidr, err := netip.ParsePrefix(sub.CIDR)
		if err != nil {
			continue
		}
		v.Addrs = append(v.Addrs, netip.PrefixFrom(addr, cidr.Bits()))
	}
	if cfg.IsolatedMetadata {
		v.Addrs = append(v.Addrs, MetadataIP)
	}
	return desired.Namespace{Name: cfg.NS.Build(names.PrefixDHCP, n.ID), Veths: []desired.Veth{v}}
}

var errNoVTEP = errors.New("no tunnel address")

// owned reports whether a host-namespace link name is one this plan
// manages (for removal of leftovers): bridges and VXLAN devices.
func Owned(name string) bool {
	return strings.HasPrefix(name, "brq") || strings.HasPrefix(name, "vxlan-")
}
