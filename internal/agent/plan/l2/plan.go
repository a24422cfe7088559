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
	"fmt"
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
	// LacksVLAN and LacksGRE say that the host's kernel cannot make
	// 802.1Q sub-interfaces or GRE taps (the agent's probe at start):
	// networks that need them are not plugged and their ports' binding
	// fails with LacksVLANReason / LacksGREReason.
	LacksVLAN, LacksGRE bool
	// TunnelTypes are the tunnel network types the agent serves ([agent]
	// tunnel_types); nil: every type (plans made without an agent's
	// configuration). A VXLAN or GRE network of a type not listed is not
	// plugged, and its ports fail to bind, as upstream's mechanism
	// drivers refuse a segment type the agent does not report.
	TunnelTypes []string
}

// Why a network's ports cannot be bound on a host whose kernel lacks
// what the network type needs (the binding failure's reason, logged
// once per feature by the agent).
const (
	LacksVLANReason = "kernel lacks 802.1Q VLAN support (8021q module)"
	LacksGREReason  = "kernel lacks GRE support (ip_gre module)"
)

// KernelReason reports whether a binding failure's reason is a missing
// kernel feature (else it names an unmapped physical network).
func KernelReason(why string) bool { return why == LacksVLANReason || why == LacksGREReason }

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
		h.VLANs = append(h.VLANs, nw.Host.VLANs...)
		h.GRETaps = append(h.GRETaps, nw.Host.GRETaps...)
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
		return cfg.LocalIP.IsValid() && cfg.tunnels("vxlan")
	case "gre":
		return cfg.LocalIP.IsValid() && cfg.tunnels("gre") && !cfg.LacksGRE
	case "flat":
		phys := physnetOf(n)
		return cfg.PhysicalInterfaces[phys] != "" || cfg.Bridges[phys] != ""
	case "vlan":
		// A sub-interface needs an interface to hang from: a physnet
		// mapped only to a bridge (bridge_mappings) carries flat only.
		return cfg.PhysicalInterfaces[physnetOf(n)] != "" && !cfg.LacksVLAN
	case "local":
		return true
	}
	return false
}

// Unpluggable returns why this host cannot bind ports of the network
// ("" if it can, or if the network is not one this host could ever
// plug): the physical network of a flat or VLAN network that it does
// not map, or the kernel feature a VLAN or GRE network needs that its
// kernel lacks.
func Unpluggable(cfg Config, n *model.Network) string {
	if Bridged(cfg, n) {
		return ""
	}
	switch n.NetworkType {
	case "flat":
		return physnetOf(n)
	case "vlan":
		if cfg.PhysicalInterfaces[physnetOf(n)] == "" {
			return physnetOf(n)
		}
		return LacksVLANReason
	case "vxlan", "gre":
		switch {
		case !cfg.LocalIP.IsValid():
		case !cfg.tunnels(n.NetworkType):
			return fmt.Sprintf("tunnel type %s not in [agent] tunnel_types %v", n.NetworkType, cfg.TunnelTypes)
		case n.NetworkType == "gre":
			return LacksGREReason
		}
	}
	return ""
}

// tunnels reports whether the agent serves networks of a tunnel type.
func (cfg Config) tunnels(typ string) bool {
	return cfg.TunnelTypes == nil || slices.Contains(cfg.TunnelTypes, typ)
}

func physnetOf(n *model.Network) string {
	if n.PhysicalNetwork == nil {
		return ""
	}
	return *n.PhysicalNetwork
}

func segmentOf(n *model.Network) int {
	if n.SegmentationID == nil {
		return 0
	}
	return *n.SegmentationID
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
	case "vlan":
		// As upstream's linuxbridge agent: the bridge gets the
		// sub-interface, the physical interface itself stays out.
		dev, vid := cfg.PhysicalInterfaces[physnetOf(n)], segmentOf(n)
		h.VLANs = append(h.VLANs, desired.VLAN{Name: names.VLANSub(dev, vid), Parent: dev, VID: vid, Bridge: br, MTU: n.MTU})
	case "vxlan":
		planVXLAN(h, s, cfg, n, ports)
	case "gre":
		planGRE(h, s, cfg, n, ports)
	}
}

// remotePort is a port of the network on another host, with that host's
// tunnel address.
type remotePort struct {
	port *model.Port
	vtep netip.Addr
}

// remotePorts are the network's ports on other hosts with a known tunnel
// address (l2population's view): not DVR router interfaces, which every
// routing host has with the same MAC, and not hosts sharing this one's
// address.
func remotePorts(s *hostmodel.Snapshot, cfg Config, ports []*model.Port) []remotePort {
	var out []remotePort
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
		out = append(out, remotePort{p, vtep})
	}
	return out
}

// arpResponder adds the bridge's permanent neighbours for a remote
// port's IPv4 addresses.
func arpResponder(h *desired.Host, br string, p *model.Port) {
	for _, ip := range p.FixedIPs {
		if a, err := netip.ParseAddr(ip.IPAddress); err == nil && a.Is4() {
			h.Neighs = append(h.Neighs, desired.Neigh{Dev: br, IP: a, MAC: p.MACAddress})
		}
	}
}

func planVXLAN(h *desired.Host, s *hostmodel.Snapshot, cfg Config, n *model.Network, ports []*model.Port) {
	br, vni := names.Bridge(n.ID), segmentOf(n)
	vx := names.VXLAN(vni)
	h.VXLANs = append(h.VXLANs, desired.VXLAN{Name: vx, VNI: vni, Local: cfg.LocalIP, Bridge: br, MTU: n.MTU, NeighSuppress: cfg.ARPResponder})
	if !cfg.L2Population {
		return
	}
	for _, r := range remotePorts(s, cfg, ports) {
		h.FDB = append(h.FDB,
			desired.FDB{Dev: vx, MAC: flood, Dst: r.vtep},
			desired.FDB{Dev: vx, MAC: r.port.MACAddress, Dst: r.vtep},
			desired.FDB{Dev: vx, MAC: r.port.MACAddress, Master: true})
		if cfg.ARPResponder {
			arpResponder(h, br, r.port)
		}
	}
}

// planGRE makes a GRE tap per remote host with a port on the network
// (the hosts l2population would put in a VXLAN flood list), keyed by
// the segmentation id, and points each remote port's MAC at its host's
// tap. A gretap has no FDB of its own: the bridge floods to every tap
// (head-end replication) and the taps' isolation keeps it from flooding
// a frame that came in from one tunnel out to the others. Without
// l2population there is no other source of remote hosts, so GRE uses
// its view either way.
func planGRE(h *desired.Host, s *hostmodel.Snapshot, cfg Config, n *model.Network, ports []*model.Port) {
	br, key := names.Bridge(n.ID), segmentOf(n)
	// A host that routes into the network without a port on it (a
	// distributed router's qr- on a compute serving the router's other
	// networks) is in no one's list, yet sends here: the receive tap
	// takes its packets.
	h.GRETaps = append(h.GRETaps, desired.GRETap{Name: names.GREAny(key), GREKey: key, Local: cfg.LocalIP, Bridge: br, MTU: n.MTU,
		NeighSuppress: cfg.ARPResponder})
	for _, r := range remotePorts(s, cfg, ports) {
		tap := names.GRE(key, r.vtep)
		h.GRETaps = append(h.GRETaps, desired.GRETap{Name: tap, GREKey: key, Local: cfg.LocalIP, Remote: r.vtep, Bridge: br, MTU: n.MTU,
			NeighSuppress: cfg.ARPResponder})
		h.FDB = append(h.FDB, desired.FDB{Dev: tap, MAC: r.port.MACAddress, Master: true})
		if cfg.ARPResponder {
			arpResponder(h, br, r.port)
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

// Owned reports whether a host-namespace link name is one this plan
// manages (for removal of leftovers): bridges, VXLAN devices and GRE
// taps. VLAN sub-interfaces carry their parent's name: the dataplane
// recognises its own by kind and parent, not by name.
func Owned(name string) bool {
	return strings.HasPrefix(name, "brq") || strings.HasPrefix(name, "vxlan-") || strings.HasPrefix(name, names.PrefixGRE)
}
