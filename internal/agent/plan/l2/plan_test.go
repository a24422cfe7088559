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
