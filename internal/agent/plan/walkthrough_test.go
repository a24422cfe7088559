package plan

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func ptr[T any](v T) *T { return &v }

// change is one object as the server's stream upserts it (Obj nil: a
// delete).
type change struct {
	kind, id string
	obj      any
}

// The legacy walkthrough (neutrino sandbox demo legacy): network1
// (dvr_snat, 10.0.1.11) runs NEUTRON-ROUTER and the DHCP of APPS_NET and
// DMZ_NET; APPS_INSTANCE is on compute1 (10.0.1.21) with a floating IP,
// DMZ_INSTANCE on compute2 (10.0.1.22). Every host maps physnet extnet
// to eth1.
var walkHosts = []struct {
	name, mode string
	vtep       netip.Addr
}{
	{"network1", model.ModeDVRSNAT, netip.MustParseAddr("10.0.1.11")},
	{"compute1", model.ModeDVR, netip.MustParseAddr("10.0.1.21")},
	{"compute2", model.ModeDVR, netip.MustParseAddr("10.0.1.22")},
}

func walkthrough() []change {
	var cs []change
	add := func(kind, id string, obj any) { cs = append(cs, change{kind, id, obj}) }
	for _, h := range walkHosts {
		add(model.KindAgent, "l2-"+h.name, &model.Agent{ID: "l2-" + h.name, AgentType: model.AgentTypeL2, Host: h.name,
			Configurations: map[string]any{"tunneling_ip": h.vtep.String()}})
		add(model.KindAgent, "l3-"+h.name, &model.Agent{ID: "l3-" + h.name, AgentType: model.AgentTypeL3, Host: h.name,
			Configurations: map[string]any{"agent_mode": h.mode}})
		add(model.KindAgent, "dhcp-"+h.name, &model.Agent{ID: "dhcp-" + h.name, AgentType: model.AgentTypeDHCP, Host: h.name})
	}
	std := func(id string) model.Standard { return model.Standard{ID: id, ProjectID: "demo"} }
	add(model.KindNetwork, "ext-net", &model.Network{Standard: std("ext-net"), Name: "EXT_NET", AdminStateUp: true, External: true,
		NetworkType: "flat", PhysicalNetwork: ptr("extnet"), MTU: 1500, Subnets: []string{"ext-sub"}})
	add(model.KindSubnet, "ext-sub", &model.Subnet{Standard: std("ext-sub"), NetworkID: "ext-net", IPVersion: 4, CIDR: "203.0.113.0/24", GatewayIP: ptr("203.0.113.1")})
	for i, t := range []struct{ net, sub, cidr, gw, dhcp string }{
		{"apps-net", "apps-sub", "10.241.0.0/22", "10.241.0.1", "10.241.0.2"},
		{"dmz-net", "dmz-sub", "10.242.0.0/22", "10.242.0.1", "10.242.0.2"},
	} {
		add(model.KindNetwork, t.net, &model.Network{Standard: std(t.net), AdminStateUp: true, NetworkType: "vxlan",
			SegmentationID: ptr(100 + i), MTU: 1450, Subnets: []string{t.sub}})
		add(model.KindSubnet, t.sub, &model.Subnet{Standard: std(t.sub), NetworkID: t.net, IPVersion: 4, CIDR: t.cidr, GatewayIP: ptr(t.gw),
			EnableDHCP: true, DNSNameservers: []string{"8.8.8.8", "4.2.2.2"}})
		add(model.KindDHCPBinding, t.net, &model.Binding{ID: t.net, AgentIDs: []string{"dhcp-network1"}})
		port(add, "dhcp-"+t.net, t.net, t.sub, t.dhcp, model.OwnerDHCP, "dhcp", "network1", fmt.Sprintf("fa:16:3e:00:0%d:02", i+1))
		port(add, "qr-"+t.net, t.net, t.sub, t.gw, model.OwnerRouterInterface, "router1", "network1", fmt.Sprintf("fa:16:3e:00:0%d:01", i+1))
	}
	port(add, "qg-router1", "ext-net", "ext-sub", "203.0.113.101", model.OwnerRouterGateway, "router1", "network1", "fa:16:3e:00:00:01")
	add(model.KindRouter, "router1", &model.Router{Standard: std("router1"), Name: "NEUTRON-ROUTER", AdminStateUp: true, Status: "ACTIVE",
		GatewayPortID: "qg-router1", ExternalGatewayInfo: &model.GatewayInfo{NetworkID: "ext-net", EnableSNAT: true}})
	add(model.KindL3Binding, "router1", &model.Binding{ID: "router1", AgentIDs: []string{"l3-network1"}})
	port(add, "vm-apps", "apps-net", "apps-sub", "10.241.0.3", "compute:nova", "APPS_INSTANCE", "compute1", "fa:16:3e:00:01:03")
	port(add, "vm-dmz", "dmz-net", "dmz-sub", "10.242.0.3", "compute:nova", "DMZ_INSTANCE", "compute2", "fa:16:3e:00:02:03")
	add(model.KindFIP, "fip1", &model.FloatingIP{Standard: std("fip1"), FloatingNetworkID: "ext-net", FloatingIPAddress: "203.0.113.102",
		PortID: ptr("vm-apps"), FixedIPAddress: ptr("10.241.0.3"), RouterID: ptr("router1"), Status: "ACTIVE"})
	return cs
}

func port(add func(kind, id string, obj any), id, net, sub, ip, owner, device, host, mac string) {
	add(model.KindPort, id, &model.Port{Standard: model.Standard{ID: id, ProjectID: "demo"}, NetworkID: net, AdminStateUp: true, Status: "ACTIVE",
		DeviceOwner: owner, DeviceID: device, HostID: host, MACAddress: mac, FixedIPs: []model.FixedIP{{SubnetID: sub, IPAddress: ip}}})
}

// replay applies the changes to a fresh model, one event each.
func replay(t *testing.T, cs []change) *hostmodel.Model {
	t.Helper()
	m := hostmodel.New()
	for i, c := range cs {
		ev := &syncproto.Event{Revision: int64(i + 1)}
		if c.obj == nil {
			ev.Deletes = []syncproto.Key{{Kind: c.kind, ID: c.id}}
		} else {
			data, err := json.Marshal(c.obj)
			if err != nil {
				t.Fatal(err)
			}
			ev.Upserts = []syncproto.Object{{Kind: c.kind, ID: c.id, Rev: int64(i + 1), Data: data}}
		}
		m.Apply(ev)
	}
	return m
}

func hostConfig(name string, mode string, vtep netip.Addr) HostConfig {
	return HostConfig{Host: name, Mode: mode, LocalIP: vtep, PhysicalInterfaces: map[string]string{"extnet": "eth1"},
		ARPResponder: true, L2Population: true, DNSDomain: "openstacklocal", NS: names.Namespaces{Suffix: "@" + name}}
}

// planText is a host's plan as `neutrino-agent plan` prints it.
func planText(t *testing.T, m *hostmodel.Model, host string, mode string, vtep netip.Addr) string {
	t.Helper()
	s := m.Snapshot(host)
	want, facts := Plan(s, hostConfig(host, mode, vtep))
	return want.String() + "# facts\n" + facts.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestLegacyWalkthroughGolden compares each host's whole plan with its
// golden file.
func TestLegacyWalkthroughGolden(t *testing.T) {
	m := replay(t, walkthrough())
	for _, h := range walkHosts {
		golden(t, "legacy-"+h.name+".golden", planText(t, m, h.name, h.mode, h.vtep))
	}
}

// TestReplayOrderDoesNotMatter replays the same changes in random
// orders, with superseded versions and transient objects interleaved,
// and expects the same plan on every host.
func TestReplayOrderDoesNotMatter(t *testing.T) {
	base := walkthrough()
	m := replay(t, base)
	want := map[string]string{}
	for _, h := range walkHosts {
		want[h.name] = planText(t, m, h.name, h.mode, h.vtep)
	}
	for seed := range uint64(20) {
		cs := randomReplay(seed, 9, base)
		m := replay(t, cs)
		for _, h := range walkHosts {
			if got := planText(t, m, h.name, h.mode, h.vtep); got != want[h.name] {
				t.Fatalf("seed %d, host %s: plan differs:\n--- got\n%s--- want\n%s", seed, h.name, got, want[h.name])
			}
		}
	}
}

// randomReplay is cs (not changed) in a random order drawn from seed and
// stream, with withChurn's transient versions drawn from the same source:
// the replays the incremental planner's tests run through.
func randomReplay(seed, stream uint64, cs []change) []change {
	r := rand.New(rand.NewPCG(seed, stream))
	cs = slices.Clone(cs)
	r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
	return withChurn(r, cs)
}

// withChurn inserts, before some objects' final version, an earlier
// different one (a floating IP associated elsewhere, a port on another
// host, an L2 agent with another VTEP), a transient router that is
// created and deleted, transient ports added and removed on several
// networks, a transient second flat network on extnet, and a transient network with DHCP and ports that is deleted
// before its ports.
func withChurn(r *rand.Rand, cs []change) []change {
	var out []change
	for _, c := range cs {
		switch o := c.obj.(type) {
		case *model.FloatingIP:
			stale := *o
			stale.FixedIPAddress, stale.PortID = ptr("10.242.0.3"), ptr("vm-dmz")
			out = append(out, change{c.kind, c.id, &stale})
		case *model.Port:
			if r.IntN(2) == 0 {
				stale := *o
				stale.HostID = "compute9"
				out = append(out, change{c.kind, c.id, &stale})
			}
		case *model.Agent:
			if o.AgentType == model.AgentTypeL2 && r.IntN(2) == 0 {
				stale := *o
				stale.Configurations = map[string]any{"tunneling_ip": "10.0.1.99"}
				out = append(out, change{c.kind, c.id, &stale})
			}
		}
		out = append(out, c)
	}
	out = insertAt(r, out, []change{
		{model.KindRouter, "router-tmp", &model.Router{Standard: model.Standard{ID: "router-tmp"}, AdminStateUp: true}},
		{model.KindL3Binding, "router-tmp", &model.Binding{ID: "router-tmp", AgentIDs: []string{"l3-network1"}}},
		{model.KindL3Binding, "router-tmp", nil},
		{model.KindRouter, "router-tmp", nil},
	})
	// Ports come and go on several networks and hosts.
	var adds, dels []change
	for i, t := range []struct{ net, sub, host string }{
		{"apps-net", "apps-sub", "compute2"}, {"dmz-net", "dmz-sub", "compute1"}, {"dmz-net", "dmz-sub", "network1"},
		{"apps-net", "apps-sub", "network1"}, {"ext-net", "ext-sub", "compute1"},
	} {
		id := fmt.Sprintf("tmp-port-%d", i)
		port(func(kind, id string, obj any) { adds = append(adds, change{kind, id, obj}) }, id, t.net, t.sub,
			fmt.Sprintf("10.9.0.%d", i+10), "compute:nova", "TMP", t.host, fmt.Sprintf("fa:16:3e:09:00:%02d", i))
		dels = append(dels, change{model.KindPort, id, nil})
	}
	// A second flat network on extnet: every host plugs eth1 into two
	// bridges (the planner rebuilds instead of splicing while it does).
	adds = append(adds, change{model.KindNetwork, "tmp-flat", &model.Network{Standard: model.Standard{ID: "tmp-flat"}, AdminStateUp: true,
		NetworkType: "flat", PhysicalNetwork: ptr("extnet"), MTU: 1500}})
	for i, host := range []string{"network1", "compute1"} {
		id := fmt.Sprintf("tmp-flat-%d", i)
		port(func(kind, id string, obj any) { adds = append(adds, change{kind, id, obj}) }, id, "tmp-flat", "",
			fmt.Sprintf("192.0.2.%d", i+10), "compute:nova", "TMP", host, fmt.Sprintf("fa:16:3e:0b:00:%02d", i))
		dels = append(dels, change{model.KindPort, id, nil})
	}
	dels = append(dels, change{model.KindNetwork, "tmp-flat", nil})
	r.Shuffle(len(dels), func(i, j int) { dels[i], dels[j] = dels[j], dels[i] })
	i := r.IntN(len(out) + 1)
	out = append(out[:i], append(adds, out[i:]...)...)
	j := i + len(adds) + r.IntN(len(out)-i-len(adds)+1)
	out = append(out[:j], append(dels, out[j:]...)...)
	// A network with DHCP and ports on every host, deleted before its
	// ports, subnet and binding.
	var tmp []change
	add := func(kind, id string, obj any) { tmp = append(tmp, change{kind, id, obj}) }
	add(model.KindNetwork, "tmp-net", &model.Network{Standard: model.Standard{ID: "tmp-net"}, AdminStateUp: true, NetworkType: "vxlan",
		SegmentationID: ptr(150), MTU: 1450, Subnets: []string{"tmp-sub"}})
	add(model.KindSubnet, "tmp-sub", &model.Subnet{Standard: model.Standard{ID: "tmp-sub"}, NetworkID: "tmp-net", IPVersion: 4,
		CIDR: "10.250.0.0/24", EnableDHCP: true})
	add(model.KindDHCPBinding, "tmp-net", &model.Binding{ID: "tmp-net", AgentIDs: []string{"dhcp-network1"}})
	port(add, "tmp-dhcp", "tmp-net", "tmp-sub", "10.250.0.2", model.OwnerDHCP, "dhcp", "network1", "fa:16:3e:0a:00:02")
	port(add, "tmp-vm1", "tmp-net", "tmp-sub", "10.250.0.3", "compute:nova", "TMP1", "compute1", "fa:16:3e:0a:00:03")
	port(add, "tmp-vm2", "tmp-net", "tmp-sub", "10.250.0.4", "compute:nova", "TMP2", "compute2", "fa:16:3e:0a:00:04")
	add(model.KindNetwork, "tmp-net", nil)
	add(model.KindPort, "tmp-vm1", nil)
	add(model.KindDHCPBinding, "tmp-net", nil)
	add(model.KindPort, "tmp-dhcp", nil)
	add(model.KindSubnet, "tmp-sub", nil)
	add(model.KindPort, "tmp-vm2", nil)
	return insertAt(r, out, tmp)
}

// insertAt inserts block into cs at a random position.
func insertAt(r *rand.Rand, cs, block []change) []change {
	i := r.IntN(len(cs) + 1)
	return append(cs[:i], append(block, cs[i:]...)...)
}
