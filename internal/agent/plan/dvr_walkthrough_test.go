package plan

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/model"
)

// The DVR walkthrough (neutrino sandbox demo): network (dvr_snat,
// 10.0.1.11) runs demo-router's SNAT and the DHCP of demo-net and
// demo-net2; demo-instance1 is on compute1 (10.0.1.21) with floating IP
// 203.0.113.102, demo-instance2 on compute2 (10.0.1.22) on demo-net2.
// Every host maps physnet external to eth1.
var dvrHosts = []struct {
	name, mode string
	vtep       netip.Addr
}{
	{"network", model.ModeDVRSNAT, netip.MustParseAddr("10.0.1.11")},
	{"compute1", model.ModeDVR, netip.MustParseAddr("10.0.1.21")},
	{"compute2", model.ModeDVR, netip.MustParseAddr("10.0.1.22")},
}

func dvrWalkthrough() []change {
	var cs []change
	add := func(kind, id string, obj any) { cs = append(cs, change{kind, id, obj}) }
	for i, h := range dvrHosts {
		add(model.KindAgent, "l2-"+h.name, &model.Agent{ID: "l2-" + h.name, AgentType: model.AgentTypeL2, Host: h.name,
			Configurations: map[string]any{"tunneling_ip": h.vtep.String()}})
		add(model.KindAgent, "l3-"+h.name, &model.Agent{ID: "l3-" + h.name, AgentType: model.AgentTypeL3, Host: h.name,
			Configurations: map[string]any{"agent_mode": h.mode}})
		add(model.KindDVRMAC, h.name, &model.DVRMAC{Host: h.name, MACAddress: fmt.Sprintf("fa:16:3f:00:00:0%d", i+1)})
	}
	add(model.KindAgent, "dhcp-network", &model.Agent{ID: "dhcp-network", AgentType: model.AgentTypeDHCP, Host: "network"})
	std := func(id string) model.Standard { return model.Standard{ID: id, ProjectID: "demo"} }
	add(model.KindNetwork, "ext-net", &model.Network{Standard: std("ext-net"), Name: "ext-net", AdminStateUp: true, External: true,
		NetworkType: "flat", PhysicalNetwork: ptr("external"), MTU: 1500, Subnets: []string{"ext-subnet"}})
	add(model.KindSubnet, "ext-subnet", &model.Subnet{Standard: std("ext-subnet"), NetworkID: "ext-net", IPVersion: 4, CIDR: "203.0.113.0/24", GatewayIP: ptr("203.0.113.1")})
	for i, t := range []struct{ net, sub, prefix string }{{"demo-net", "demo-subnet", "192.168.1"}, {"demo-net2", "demo-subnet2", "192.168.2"}} {
		add(model.KindNetwork, t.net, &model.Network{Standard: std(t.net), AdminStateUp: true, NetworkType: "vxlan",
			SegmentationID: ptr(101 + i), MTU: 1450, Subnets: []string{t.sub}})
		add(model.KindSubnet, t.sub, &model.Subnet{Standard: std(t.sub), NetworkID: t.net, IPVersion: 4, CIDR: t.prefix + ".0/24",
			GatewayIP: ptr(t.prefix + ".1"), EnableDHCP: true})
		add(model.KindDHCPBinding, t.net, &model.Binding{ID: t.net, AgentIDs: []string{"dhcp-network"}})
		port(add, fmt.Sprintf("dhcp%d-%s", i+1, t.net), t.net, t.sub, t.prefix+".2", model.OwnerDHCP, "dhcp", "network", fmt.Sprintf("fa:16:3e:00:0%d:02", i+1))
		port(add, fmt.Sprintf("qr%d-%s", i+1, t.net), t.net, t.sub, t.prefix+".1", model.OwnerRouterInterfaceD, "demo-router", "", fmt.Sprintf("fa:16:3e:00:0%d:01", i+1))
		port(add, fmt.Sprintf("sg%d-%s", i+1, t.net), t.net, t.sub, t.prefix+".3", model.OwnerRouterSNAT, "demo-router", "network", fmt.Sprintf("fa:16:3e:00:0%d:03", i+1))
	}
	port(add, "qg-demo-router", "ext-net", "ext-subnet", "203.0.113.101", model.OwnerRouterGateway, "demo-router", "network", "fa:16:3e:00:00:01")
	port(add, "fg-compute1", "ext-net", "ext-subnet", "203.0.113.103", model.OwnerFIPAgentGateway, "l3-compute1", "compute1", "fa:16:3e:00:00:03")
	port(add, "fg-compute2", "ext-net", "ext-subnet", "203.0.113.104", model.OwnerFIPAgentGateway, "l3-compute2", "compute2", "fa:16:3e:00:00:04")
	add(model.KindRouter, "demo-router", &model.Router{Standard: std("demo-router"), Name: "demo-router", AdminStateUp: true, Status: "ACTIVE",
		Distributed: true, GatewayPortID: "qg-demo-router", ExternalGatewayInfo: &model.GatewayInfo{NetworkID: "ext-net", EnableSNAT: true}})
	add(model.KindL3Binding, "demo-router", &model.Binding{ID: "demo-router", AgentIDs: []string{"l3-network"}})
	port(add, "vm1", "demo-net", "demo-subnet", "192.168.1.10", "compute:nova", "demo-instance1", "compute1", "fa:16:3e:00:01:10")
	port(add, "vm2", "demo-net2", "demo-subnet2", "192.168.2.10", "compute:nova", "demo-instance2", "compute2", "fa:16:3e:00:02:10")
	add(model.KindFIP, "fip1", &model.FloatingIP{Standard: std("fip1"), FloatingNetworkID: "ext-net", FloatingIPAddress: "203.0.113.102",
		PortID: ptr("vm1"), FixedIPAddress: ptr("10.241.0.3"), RouterID: ptr("demo-router"), Status: "ACTIVE"})
	cs[len(cs)-1].obj.(*model.FloatingIP).FixedIPAddress = ptr("192.168.1.10")
	return cs
}

// dvrView keeps what the server's host view sends a host of the
// walkthrough: a distributed router's floating IP goes only to the host
// of its port.
func dvrView(host string, cs []change) []change {
	var out []change
	for _, c := range cs {
		if c.kind == model.KindFIP && host != "compute1" {
			continue
		}
		out = append(out, c)
	}
	return out
}

// fakeLinkLocal hands out pairs in order of first request.
func fakeLinkLocal() func(string) (netip.Prefix, error) {
	got := map[string]netip.Prefix{}
	next := netip.MustParseAddr("169.254.64.0")
	return func(id string) (netip.Prefix, error) {
		if p, ok := got[id]; ok {
			return p, nil
		}
		p := netip.PrefixFrom(next, 31)
		got[id] = p
		next = next.Next().Next()
		return p, nil
	}
}

// TestDVRWalkthroughGolden compares each host's whole plan with its
// golden file.
func TestDVRWalkthroughGolden(t *testing.T) {
	for _, h := range dvrHosts {
		m := replay(t, dvrView(h.name, dvrWalkthrough()))
		cfg := hostConfig(h.name, h.mode, h.vtep)
		cfg.PhysicalInterfaces = map[string]string{"external": "eth1"}
		cfg.LinkLocal = fakeLinkLocal()
		want, facts := Plan(m.Snapshot(h.name), cfg)
		golden(t, "dvr-"+h.name+".golden", want.String()+"# facts\n"+facts.String())
	}
}

// TestDVRIncrementalEqualsFresh replays the walkthrough in random
// orders, then moves the floating IP to demo-instance2 on compute2 and
// takes everything down again, through one incremental planner per host;
// after every event each host's plan is the plan from scratch.
func TestDVRIncrementalEqualsFresh(t *testing.T) {
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 11))
		for _, h := range dvrHosts {
			cs := dvrView(h.name, dvrWalkthrough())
			r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
			if h.name == "compute2" {
				moved := &model.FloatingIP{Standard: model.Standard{ID: "fip1", ProjectID: "demo"}, FloatingNetworkID: "ext-net",
					FloatingIPAddress: "203.0.113.102", PortID: ptr("vm2"), FixedIPAddress: ptr("192.168.2.10"), RouterID: ptr("demo-router")}
				cs = append(cs, change{model.KindFIP, "fip1", moved})
			}
			for i := len(cs) - 1; i >= 0; i-- {
				cs = append(cs, change{cs[i].kind, cs[i].id, nil})
			}
			cfg := hostConfig(h.name, h.mode, h.vtep)
			cfg.PhysicalInterfaces = map[string]string{"external": "eth1"}
			cfg.LinkLocal = fakeLinkLocal()
			p := NewPlanner(cfg)
			m := hostmodel.New()
			var rev int64
			for i, c := range cs {
				apply(t, m, int64(i+1), c)
				s, changes, ok := m.SnapshotSince(h.name, rev)
				rev = s.Revision
				got, gotFacts := p.Plan(s, changes, !ok)
				want, wantFacts := Plan(s, cfg)
				if g, w := got.String()+gotFacts.String(), want.String()+wantFacts.String(); g != w {
					t.Fatalf("seed %d, %s, event %d (%s %s):\n%s", seed, h.name, i, c.kind, c.id, diffLines(g, w))
				}
			}
		}
	}
}

func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var out []string
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			out = append(out, fmt.Sprintf("line %d\n got: %s\nwant: %s", i, a, b))
			if len(out) > 5 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
