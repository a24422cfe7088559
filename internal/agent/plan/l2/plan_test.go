package l2

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/model"
)

func ptr[T any](v T) *T { return &v }

// twoHosts: network n1 (VNI 101) with ports on compute1 and compute2,
// network n2 (VNI 102) only on compute2, and a DHCP port on network1.
func twoHosts() *hostmodel.Snapshot {
	s := hostmodel.NewSnapshot("compute1")
	s.Networks["n1-0000000000"] = &model.Network{Standard: model.Standard{ID: "n1-0000000000"}, NetworkType: "vxlan", SegmentationID: ptr(101), MTU: 1450}
	s.Networks["n2-0000000000"] = &model.Network{Standard: model.Standard{ID: "n2-0000000000"}, NetworkType: "vxlan", SegmentationID: ptr(102), MTU: 1450}
	s.Subnets["s1"] = &model.Subnet{Standard: model.Standard{ID: "s1"}, NetworkID: "n1-0000000000", CIDR: "10.0.0.0/24", IPVersion: 4}
	for host, ip := range map[string]string{"compute1": "10.0.1.21", "compute2": "10.0.1.22", "network1": "10.0.1.11"} {
		s.Agents["l2-"+host] = &model.Agent{ID: "l2-" + host, AgentType: model.AgentTypeL2, Host: host, Configurations: map[string]any{"tunneling_ip": ip}}
	}
	port := func(id, net, host, mac, ip, owner string) {
		s.Ports[id] = &model.Port{Standard: model.Standard{ID: id}, NetworkID: net, HostID: host, MACAddress: mac, DeviceOwner: owner,
			FixedIPs: []model.FixedIP{{SubnetID: "s1", IPAddress: ip}}, AdminStateUp: true}
	}
	port("vm1-port-aaaa", "n1-0000000000", "compute1", "fa:16:3e:00:00:01", "10.0.0.11", "compute:nova")
	port("vm2-port-bbbb", "n1-0000000000", "compute2", "fa:16:3e:00:00:02", "10.0.0.12", "compute:nova")
	port("vm3-port-cccc", "n2-0000000000", "compute2", "fa:16:3e:00:00:03", "10.0.0.13", "compute:nova")
	port("dhcp-port-dddd", "n1-0000000000", "network1", "fa:16:3e:00:00:04", "10.0.0.2", model.OwnerDHCP)
	return s
}

func cfg(host, ip string) Config {
	return Config{Host: host, LocalIP: netip.MustParseAddr(ip), ARPResponder: true, L2Population: true, NS: names.Namespaces{Suffix: "@" + host}}
}

func TestPlanCompute1(t *testing.T) {
	got := Plan(twoHosts(), cfg("compute1", "10.0.1.21"), nil).String()
	want := `sysctl net/bridge/bridge-nf-call-arptables=0
sysctl net/bridge/bridge-nf-call-ip6tables=0
sysctl net/bridge/bridge-nf-call-iptables=0
sysctl net/netfilter/nf_conntrack_tcp_loose=1
link brqn1-00000000 type bridge mtu 1450
link vxlan-101 type vxlan id 101 local 10.0.1.21 dstport 4789 nolearning mtu 1450 master brqn1-00000000 learning off neigh_suppress true
link tapvm1-port-aa master brqn1-00000000 mtu 1450 # port vm1-port-aaaa
fdb 00:00:00:00:00:00 dev vxlan-101 dst 10.0.1.11 self permanent
fdb 00:00:00:00:00:00 dev vxlan-101 dst 10.0.1.22 self permanent
fdb fa:16:3e:00:00:02 dev vxlan-101 dst 10.0.1.22 self permanent
fdb fa:16:3e:00:00:02 dev vxlan-101 master static
fdb fa:16:3e:00:00:04 dev vxlan-101 dst 10.0.1.11 self permanent
fdb fa:16:3e:00:00:04 dev vxlan-101 master static
neigh 10.0.0.12 lladdr fa:16:3e:00:00:02 dev brqn1-00000000 nud permanent
neigh 10.0.0.2 lladdr fa:16:3e:00:00:04 dev brqn1-00000000 nud permanent
`
	if got != want {
		t.Errorf("plan for compute1:\n%s\nwant:\n%s", got, want)
	}
}

// Network n2 has no port on compute1: no bridge there, and no FDB entry
// anywhere points at a host without ports on the network.
func TestPlanOnlyNetworksPresent(t *testing.T) {
	s := twoHosts()
	got := Plan(s, cfg("compute1", "10.0.1.21"), nil).String()
	if strings.Contains(got, "vxlan-102") {
		t.Errorf("compute1 got network n2:\n%s", got)
	}
	// Deleting the last port of compute2 on n1 removes compute2 from
	// compute1's flood list (a new snapshot: snapshots are indexed on
	// first use and not changed after).
	s = twoHosts()
	delete(s.Ports, "vm2-port-bbbb")
	got = Plan(s, cfg("compute1", "10.0.1.21"), nil).String()
	if strings.Contains(got, "10.0.1.22") {
		t.Errorf("compute2 still in compute1's FDB after its last port went:\n%s", got)
	}
}

func TestPlanDHCPNamespace(t *testing.T) {
	s := twoHosts()
	s.Agents["dhcp-network1"] = &model.Agent{ID: "dhcp-network1", AgentType: model.AgentTypeDHCP, Host: "network1"}
	s.DHCPBindings["n1-0000000000"] = &model.Binding{ID: "n1-0000000000", AgentIDs: []string{"dhcp-network1"}}
	c := cfg("network1", "10.0.1.11")
	c.IsolatedMetadata = true
	h := Plan(s, c, nil)
	if len(h.Namespaces) != 1 {
		t.Fatalf("namespaces: %+v", h.Namespaces)
	}
	ns := h.Namespaces[0]
	if ns.Name != "qdhcp-n1-0000000000@network1" || len(ns.Veths) != 1 {
		t.Fatalf("namespace %+v", ns)
	}
	v := ns.Veths[0]
	if v.Inner != "ns-dhcp-port-d" || v.Outer != "tapdhcp-port-d" || v.MAC != "fa:16:3e:00:00:04" || v.Addrs[0].String() != "10.0.0.2/24" || v.Addrs[1] != MetadataIP {
		t.Errorf("dhcp veth %+v", v)
	}
}

// Equal inputs give equal output whatever the map order.
func TestPlanDeterministic(t *testing.T) {
	first := Plan(twoHosts(), cfg("compute2", "10.0.1.22"), nil).String()
	for range 20 {
		if got := Plan(twoHosts(), cfg("compute2", "10.0.1.22"), nil).String(); got != first {
			t.Fatalf("plan differs between runs:\n%s\nvs\n%s", got, first)
		}
	}
}

// vlanGRE: a VLAN network (physnet "vlan", VLAN 1998) and a GRE network
// (key 10) with ports on compute1, compute2 and network1.
func vlanGRE() *hostmodel.Snapshot {
	s := twoHosts()
	s.Networks["nv-0000000000"] = &model.Network{Standard: model.Standard{ID: "nv-0000000000"}, NetworkType: "vlan",
		PhysicalNetwork: ptr("vlan"), SegmentationID: ptr(1998), MTU: 1500}
	s.Networks["ng-0000000000"] = &model.Network{Standard: model.Standard{ID: "ng-0000000000"}, NetworkType: "gre", SegmentationID: ptr(10), MTU: 1458}
	port := func(id, net, host, mac, ip string) {
		s.Ports[id] = &model.Port{Standard: model.Standard{ID: id}, NetworkID: net, HostID: host, MACAddress: mac, DeviceOwner: "compute:nova",
			FixedIPs: []model.FixedIP{{SubnetID: "s1", IPAddress: ip}}, AdminStateUp: true}
	}
	port("vv1-port-aaaa", "nv-0000000000", "compute1", "fa:16:3e:00:01:01", "192.168.100.11")
	port("vv2-port-bbbb", "nv-0000000000", "compute2", "fa:16:3e:00:01:02", "192.168.100.12")
	port("gg1-port-aaaa", "ng-0000000000", "compute1", "fa:16:3e:00:02:01", "10.241.0.11")
	port("gg2-port-bbbb", "ng-0000000000", "compute2", "fa:16:3e:00:02:02", "10.241.0.12")
	port("gg3-port-cccc", "ng-0000000000", "compute2", "fa:16:3e:00:02:03", "10.241.0.13")
	port("gg4-port-dddd", "ng-0000000000", "network1", "fa:16:3e:00:02:04", "10.241.0.2")
	// A DVR router interface is on every routing host with one MAC: it
	// is never pointed at a remote host.
	s.Ports["qr-dvr-eeeee"] = &model.Port{Standard: model.Standard{ID: "qr-dvr-eeeee"}, NetworkID: "ng-0000000000", HostID: "compute2",
		MACAddress: "fa:16:3e:00:02:ff", DeviceOwner: model.OwnerRouterInterfaceD}
	return s
}

// The VLAN network's bridge gets eth1's sub-interface for VLAN 1998;
// the GRE network gets one isolated tap per remote host with key 10,
// the remote ports' MACs pinned to their host's tap and the ARP
// responder's neighbours.
func TestPlanVLANAndGRE(t *testing.T) {
	c := cfg("compute1", "10.0.1.21")
	c.PhysicalInterfaces = map[string]string{"vlan": "eth1"}
	got := Plan(vlanGRE(), c, nil).String()
	// gre-b83d4822879 = names.GRE(10, 10.0.1.22), gre-d705d87514b = names.GRE(10, 10.0.1.11).
	want := `sysctl net/bridge/bridge-nf-call-arptables=0
sysctl net/bridge/bridge-nf-call-ip6tables=0
sysctl net/bridge/bridge-nf-call-iptables=0
sysctl net/netfilter/nf_conntrack_tcp_loose=1
link brqn1-00000000 type bridge mtu 1450
link brqng-00000000 type bridge mtu 1458
link brqnv-00000000 type bridge mtu 1500
link vxlan-101 type vxlan id 101 local 10.0.1.21 dstport 4789 nolearning mtu 1450 master brqn1-00000000 learning off neigh_suppress true
link eth1.1998 link eth1 type vlan id 1998 mtu 1500 master brqnv-00000000
link gre-681749bb39b type gretap key 10 local 10.0.1.21 remote any mtu 1458 master brqng-00000000 learning off isolated on flood off neigh_suppress true
link gre-b83d4822879 type gretap key 10 local 10.0.1.21 remote 10.0.1.22 mtu 1458 master brqng-00000000 learning off isolated on neigh_suppress true
link gre-d705d87514b type gretap key 10 local 10.0.1.21 remote 10.0.1.11 mtu 1458 master brqng-00000000 learning off isolated on neigh_suppress true
link tapgg1-port-aa master brqng-00000000 mtu 1458 # port gg1-port-aaaa
link tapvm1-port-aa master brqn1-00000000 mtu 1450 # port vm1-port-aaaa
link tapvv1-port-aa master brqnv-00000000 mtu 1500 # port vv1-port-aaaa
fdb fa:16:3e:00:02:02 dev gre-b83d4822879 master static
fdb fa:16:3e:00:02:03 dev gre-b83d4822879 master static
fdb fa:16:3e:00:02:04 dev gre-d705d87514b master static
fdb 00:00:00:00:00:00 dev vxlan-101 dst 10.0.1.11 self permanent
fdb 00:00:00:00:00:00 dev vxlan-101 dst 10.0.1.22 self permanent
fdb fa:16:3e:00:00:02 dev vxlan-101 dst 10.0.1.22 self permanent
fdb fa:16:3e:00:00:02 dev vxlan-101 master static
fdb fa:16:3e:00:00:04 dev vxlan-101 dst 10.0.1.11 self permanent
fdb fa:16:3e:00:00:04 dev vxlan-101 master static
neigh 10.0.0.12 lladdr fa:16:3e:00:00:02 dev brqn1-00000000 nud permanent
neigh 10.0.0.2 lladdr fa:16:3e:00:00:04 dev brqn1-00000000 nud permanent
neigh 10.241.0.12 lladdr fa:16:3e:00:02:02 dev brqng-00000000 nud permanent
neigh 10.241.0.13 lladdr fa:16:3e:00:02:03 dev brqng-00000000 nud permanent
neigh 10.241.0.2 lladdr fa:16:3e:00:02:04 dev brqng-00000000 nud permanent
`
	if got != want {
		t.Errorf("plan for compute1:\n%s\nwant:\n%s", got, want)
	}
	if names.GRE(10, netip.MustParseAddr("10.0.1.22")) != "gre-b83d4822879" {
		t.Error("GRE names changed: update this test's text")
	}
}

// A kernel without 802.1Q or GRE: the networks are not plugged and their
// ports' binding fails with the missing feature; an unmapped physnet is
// still reported as such.
func TestPlanKernelLacks(t *testing.T) {
	c := cfg("compute1", "10.0.1.21")
	c.PhysicalInterfaces = map[string]string{"vlan": "eth1"}
	c.LacksVLAN, c.LacksGRE = true, true
	got := Plan(vlanGRE(), c, nil).String()
	if strings.Contains(got, "brqnv") || strings.Contains(got, "brqng") || strings.Contains(got, "gre-") || strings.Contains(got, "eth1.") {
		t.Errorf("VLAN/GRE plugged on a kernel without them:\n%s", got)
	}
	s := vlanGRE()
	if why := Unpluggable(c, s.Networks["nv-0000000000"]); why != LacksVLANReason {
		t.Errorf("vlan: %q", why)
	}
	if why := Unpluggable(c, s.Networks["ng-0000000000"]); why != LacksGREReason {
		t.Errorf("gre: %q", why)
	}
	if why := Unpluggable(c, s.Networks["n1-0000000000"]); why != "" {
		t.Errorf("vxlan: %q", why)
	}
	c.PhysicalInterfaces = nil
	if why := Unpluggable(c, s.Networks["nv-0000000000"]); why != "vlan" {
		t.Errorf("unmapped vlan physnet: %q", why)
	}
	c.LacksVLAN, c.LacksGRE = false, false
	if why := Unpluggable(cfg("compute1", "10.0.1.21"), s.Networks["ng-0000000000"]); why != "" {
		t.Errorf("gre with the module: %q", why)
	}
}

// An agent plugs only the tunnel types it lists in tunnel_types; the
// others' ports fail to bind with the reason naming the type.
func TestPlanTunnelTypes(t *testing.T) {
	c := cfg("compute1", "10.0.1.21")
	c.TunnelTypes = []string{"vxlan"}
	s := vlanGRE()
	got := Plan(s, c, nil).String()
	if strings.Contains(got, "brqng") || strings.Contains(got, "gre-") {
		t.Errorf("GRE plugged by an agent with tunnel_types [vxlan]:\n%s", got)
	}
	if !strings.Contains(got, "vxlan-101") {
		t.Errorf("VXLAN not plugged by an agent with tunnel_types [vxlan]:\n%s", got)
	}
	want := "tunnel type gre not in [agent] tunnel_types [vxlan]"
	if why := Unpluggable(c, s.Networks["ng-0000000000"]); why != want {
		t.Errorf("gre: %q, want %q", why, want)
	}
	c.TunnelTypes = []string{}
	if why := Unpluggable(c, s.Networks["n1-0000000000"]); why != "tunnel type vxlan not in [agent] tunnel_types []" {
		t.Errorf("vxlan with no tunnel types: %q", why)
	}
	c.TunnelTypes = []string{"gre", "vxlan"}
	if why := Unpluggable(c, s.Networks["ng-0000000000"]); why != "" {
		t.Errorf("gre listed: %q", why)
	}
}
