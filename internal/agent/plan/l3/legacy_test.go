package l3

import (
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/model"
)

func ptr[T any](v T) *T { return &v }

// legacySnapshot: router r1 on network1's L3 agent with an interface on
// 10.241.0.0/22, a gateway on 203.0.113.0/24 and one floating IP.
func legacySnapshot() *hostmodel.Snapshot {
	s := hostmodel.NewSnapshot("network1")
	s.Agents["l3"] = &model.Agent{ID: "l3", AgentType: model.AgentTypeL3, Host: "network1", Configurations: map[string]any{"agent_mode": "dvr_snat"}}
	s.L3Bindings["r1"] = &model.Binding{ID: "r1", AgentIDs: []string{"l3"}}
	s.Networks["apps"] = &model.Network{Standard: model.Standard{ID: "apps"}, MTU: 1450}
	s.Networks["ext"] = &model.Network{Standard: model.Standard{ID: "ext"}, MTU: 1500, External: true}
	s.Subnets["apps-v4"] = &model.Subnet{Standard: model.Standard{ID: "apps-v4"}, NetworkID: "apps", CIDR: "10.241.0.0/22", IPVersion: 4, GatewayIP: ptr("10.241.0.1")}
	s.Subnets["ext-v4"] = &model.Subnet{Standard: model.Standard{ID: "ext-v4"}, NetworkID: "ext", CIDR: "203.0.113.0/24", IPVersion: 4, GatewayIP: ptr("203.0.113.1")}
	s.Ports["qr-port-0000000"] = &model.Port{Standard: model.Standard{ID: "qr-port-0000000"}, NetworkID: "apps", DeviceID: "r1", DeviceOwner: model.OwnerRouterInterface,
		MACAddress: "fa:16:3e:00:00:11", FixedIPs: []model.FixedIP{{SubnetID: "apps-v4", IPAddress: "10.241.0.1"}}}
	s.Ports["qg-port-0000000"] = &model.Port{Standard: model.Standard{ID: "qg-port-0000000"}, NetworkID: "ext", DeviceID: "r1", DeviceOwner: model.OwnerRouterGateway,
		MACAddress: "fa:16:3e:00:00:12", FixedIPs: []model.FixedIP{{SubnetID: "ext-v4", IPAddress: "203.0.113.101"}}}
	s.Routers["r1"] = &model.Router{Standard: model.Standard{ID: "r1"}, AdminStateUp: true, GatewayPortID: "qg-port-0000000",
		ExternalGatewayInfo: &model.GatewayInfo{NetworkID: "ext", EnableSNAT: true},
		Routes:              []model.Route{{Destination: "10.9.0.0/24", NextHop: "10.241.0.50"}}}
	s.FloatingIPs["f1"] = &model.FloatingIP{Standard: model.Standard{ID: "f1"}, FloatingIPAddress: "203.0.113.102", FixedIPAddress: ptr("10.241.0.5"), PortID: ptr("vm"), RouterID: ptr("r1")}
	s.FloatingIPs["f2"] = &model.FloatingIP{Standard: model.Standard{ID: "f2"}, FloatingIPAddress: "203.0.113.103", RouterID: ptr("r1")}
	return s
}

func TestLegacyRouterPlan(t *testing.T) {
	res := Plan(legacySnapshot(), Config{Host: "network1", Mode: "dvr_snat", NS: names.Namespaces{Suffix: "@network1"}})
	if len(res.Routers) != 1 {
		t.Fatalf("routers: %+v", res.Routers)
	}
	r := res.Routers[0]
	ns := r.Namespace
	if ns.Name != "qrouter-r1@network1" {
		t.Errorf("namespace %q", ns.Name)
	}
	var lines []string
	for _, v := range ns.Veths {
		var addrs []string
		for _, p := range v.Addrs {
			addrs = append(addrs, p.String())
		}
		lines = append(lines, v.Inner+" "+v.Bridge+" "+v.MAC+" "+strings.Join(addrs, ","))
	}
	got := strings.Join(lines, "\n")
	want := "qr-qr-port-000 brqapps fa:16:3e:00:00:11 10.241.0.1/22\nqg-qg-port-000 brqext fa:16:3e:00:00:12 203.0.113.101/24,203.0.113.102/32"
	if got != want {
		t.Errorf("devices:\n%s\nwant:\n%s", got, want)
	}
	var routes []string
	for _, rt := range ns.Routes {
		routes = append(routes, rt.Dst.String()+" via "+rt.Via.String()+" dev "+rt.Dev)
	}
	if g := strings.Join(routes, "; "); g != "0.0.0.0/0 via 203.0.113.1 dev qg-qg-port-000; 10.9.0.0/24 via 10.241.0.50 dev qr-qr-port-000" {
		t.Errorf("routes: %s", g)
	}
	nft := ns.Nft[0].String()
	for _, w := range []string{
		"map fip_dnat { type ipv4_addr : ipv4_addr; elements = { 203.0.113.102 : 10.241.0.5 } }",
		"map fip_snat { type ipv4_addr : ipv4_addr; elements = { 10.241.0.5 : 203.0.113.102 } }",
		`iifname "qr-*" ip daddr 169.254.169.254/32 tcp dport 80 redirect to :9697`,
		"dnat to ip daddr map @fip_dnat",
		`oifname != "qg-qg-port-000" ct status != dnat accept`,
		"snat to ip saddr map @fip_snat",
		`oifname "qg-qg-port-000" snat to 203.0.113.101`,
		`iifname "qr-*" ct status dnat snat to 203.0.113.101`,
	} {
		if !strings.Contains(nft, w) {
			t.Errorf("nft lacks %q:\n%s", w, nft)
		}
	}
	if res.Facts["r1"].FIPStatus["f1"] != "ACTIVE" || res.Facts["r1"].FIPStatus["f2"] != "DOWN" {
		t.Errorf("fip status %v", res.Facts["r1"].FIPStatus)
	}
	if n := res.Networks(); strings.Join(n, ",") != "apps,ext" {
		t.Errorf("networks %v", n)
	}
}

func TestLegacyRouterNotHere(t *testing.T) {
	s := legacySnapshot()
	for name, mutate := range map[string]func() string{
		"admin down":      func() string { s.Routers["r1"].AdminStateUp = false; return "dvr_snat" },
		"bound elsewhere": func() string { s.L3Bindings["r1"].AgentIDs = []string{"other"}; return "dvr_snat" },
		// A legacy agent never runs a distributed router.
		"distributed on legacy": func() string { s.Routers["r1"].Distributed = true; return "legacy" },
	} {
		s = legacySnapshot()
		mode := mutate()
		if res := Plan(s, Config{Host: "network1", Mode: mode}); len(res.Routers) != 0 {
			t.Errorf("%s: router planned", name)
		}
	}
	// No SNAT rule without enable_snat; floating IPs still translated.
	s = legacySnapshot()
	s.Routers["r1"].ExternalGatewayInfo.EnableSNAT = false
	nft := Plan(s, Config{Host: "network1", Mode: "legacy"}).Routers[0].Namespace.Nft[0].String()
	if strings.Contains(nft, "snat to gateway") || !strings.Contains(nft, "fip_snat") {
		t.Errorf("enable_snat false:\n%s", nft)
	}
}
