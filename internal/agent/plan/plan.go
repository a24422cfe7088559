// Package plan turns the host's view (a hostmodel.Snapshot) into what
// the host should look like, as two separate things: the desired kernel
// state (internal/desired), which internal/dataplane applies, and Facts,
// what the agent reports to the server and serves in-process (statuses,
// DHCP data, metadata listeners). Pure: no kernel access.
//
// Sub-planners: l2 (bridges, VXLAN, FDB, taps, DHCP namespaces), l3
// (legacy routers; dvr and secgroup come next) and dhcpnet (what the DHCP
// server serves).
package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/dhcp/dhcpdata"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l3"
	"github.com/neutrino-net/neutrino/internal/agent/plan/secgroup"
	"github.com/neutrino-net/neutrino/internal/model"
)

// HostConfig is what planning needs of the agent's configuration.
type HostConfig struct {
	Host               string
	Mode               string // agent_mode
	LocalIP            netip.Addr
	PhysicalInterfaces map[string]string
	Bridges            map[string]string
	ARPResponder       bool
	L2Population       bool
	IsolatedMetadata   bool
	DNSDomain          string
	NS                 names.Namespaces
	// LinkLocal allocates DVR rfp-/fpr- link addresses per router (nil:
	// no DVR floating IPs); ReleaseLinkLocal frees a router's.
	LinkLocal        func(routerID string) (netip.Prefix, error)
	ReleaseLinkLocal func(routerID string)
	// SecurityGroups enforces security groups and port security on the
	// host's instance ports ([securitygroup] enable_security_group).
	SecurityGroups bool
	// AllowARPSpoofing is prevent_arp_spoofing = False: the anti-spoofing
	// lets any ARP through.
	AllowARPSpoofing bool
	// LacksVLAN and LacksGRE: the kernel cannot make 802.1Q
	// sub-interfaces or GRE taps (see l2.Config).
	LacksVLAN, LacksGRE bool
	// TunnelTypes: see l2.Config (nil: every type).
	TunnelTypes []string
}

func (c HostConfig) l2() l2.Config {
	return l2.Config{Host: c.Host, LocalIP: c.LocalIP, PhysicalInterfaces: c.PhysicalInterfaces, Bridges: c.Bridges,
		ARPResponder: c.ARPResponder, L2Population: c.L2Population, IsolatedMetadata: c.IsolatedMetadata, NS: c.NS,
		LacksVLAN: c.LacksVLAN, LacksGRE: c.LacksGRE, TunnelTypes: c.TunnelTypes}
}

func (c HostConfig) l3() l3.Config {
	l2cfg := c.l2()
	return l3.Config{Host: c.Host, Mode: c.Mode, NS: c.NS, Unplugged: func(n *model.Network) string { return l2.Unpluggable(l2cfg, n) },
		LinkLocal: c.LinkLocal, TunnelPorts: c.tunnelPorts()}
}

// tunnelPorts are the bridge ports that leave the host: VXLAN devices,
// GRE taps, the physical interfaces of flat networks and their VLAN
// sub-interfaces (nftables matches "prefix*").
func (c HostConfig) tunnelPorts() []string {
	out := []string{"vxlan-*"}
	var rest []string
	if !c.LacksGRE {
		rest = append(rest, names.PrefixGRE+"*")
	}
	for _, dev := range c.PhysicalInterfaces {
		rest = append(rest, dev)
		if c.LacksVLAN {
			continue
		}
		for _, pre := range names.VLANSubPrefixes(dev) {
			rest = append(rest, pre+"*")
		}
	}
	slices.Sort(rest)
	return append(out, slices.Compact(rest)...)
}

// Facts are what the agent reports and serves, never part of the
// desired kernel state.
type Facts struct {
	// Routers are the routers this host serves, by id: their namespace
	// (reported ACTIVE once it is applied).
	Routers map[string]string
	// FloatingIPs are the status to report per floating IP once its
	// router's namespace is applied.
	FloatingIPs map[string]FloatingIP
	// Ports are the host's ports whose status this agent reports (by
	// id: administratively up). ACTIVE needs their device plugged.
	Ports map[string]bool
	// RouterMetadata are the router namespaces that get a metadata
	// listener, with the networks behind their qr- devices.
	RouterMetadata map[string][]string
	// IsolatedMetadata are the qdhcp namespaces that serve metadata
	// themselves (enable_isolated_metadata, no router): namespace ->
	// network id.
	IsolatedMetadata map[string]string
	// DHCP are the networks served by DHCP, by namespace.
	DHCP map[string]DHCPServer
	// BindingFailed are the host's ports that cannot be bound here, with
	// the physical network this host does not map or the kernel feature
	// it lacks (l2.KernelReason): they stay DOWN with binding:vif_type
	// binding_failed.
	BindingFailed map[string]string
	// ConntrackFlush are the host namespace's conntrack entries to delete
	// once this plan is applied: security group filtering that lost a
	// rule or a remote member (see secgroup.Shrunk).
	ConntrackFlush []secgroup.Flush
}

// FloatingIP is a floating IP's status and the namespace it depends on.
type FloatingIP struct {
	Status    string
	Namespace string
}

// DHCPServer is one network's DHCP service: the device it listens on in
// its namespace and the data it serves.
type DHCPServer struct {
	Namespace string
	Device    string
	Network   *dhcpdata.Network
}

func newFacts() Facts {
	return Facts{Routers: map[string]string{}, FloatingIPs: map[string]FloatingIP{}, Ports: map[string]bool{},
		RouterMetadata: map[string][]string{}, IsolatedMetadata: map[string]string{}, DHCP: map[string]DHCPServer{},
		BindingFailed: map[string]string{}}
}

func (f Facts) addRouter(r l3.Router, rf l3.Facts) {
	f.Routers[r.ID] = r.Namespace.Name
	for id, st := range rf.FIPStatus {
		f.FloatingIPs[id] = FloatingIP{Status: st, Namespace: r.Namespace.Name}
	}
	if len(rf.MetadataNetworks) > 0 {
		f.RouterMetadata[r.Namespace.Name] = rf.MetadataNetworks
	}
	for id, why := range rf.BindingFailed {
		f.BindingFailed[id] = why
	}
}

// String renders the facts as sorted lines (for `neutrino-agent plan`
// and golden tests).
func (f Facts) String() string {
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	for id, ns := range f.Routers {
		add("router %s namespace %s", id, ns)
	}
	for id, fip := range f.FloatingIPs {
		add("floatingip %s status %s (after %s)", id, fip.Status, fip.Namespace)
	}
	for id, up := range f.Ports {
		add("port %s admin_up %v", id, up)
	}
	for ns, nets := range f.RouterMetadata {
		add("metadata %s networks %v", ns, nets)
	}
	for ns, net := range f.IsolatedMetadata {
		add("metadata %s isolated network %s", ns, net)
	}
	for id, why := range f.BindingFailed {
		if l2.KernelReason(why) {
			add("port %s binding_failed: %s", id, why)
		} else {
			add("port %s binding_failed: physical network %s not mapped", id, why)
		}
	}
	for ns, d := range f.DHCP {
		add("dhcp %s dev %s subnets %d leases %d", ns, d.Device, len(d.Network.Subnets), len(d.Network.Leases))
	}
	slices.Sort(lines)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
