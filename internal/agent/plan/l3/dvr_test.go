package l3

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// dvrSnapshot: distributed router r1 bound to network1's dvr_snat
// agent, an interface on 10.241.0.0/22 (SNAT port .3), a gateway, and
// instance vm on host with floating IP f1.
func dvrSnapshot(host, mode string) *hostmodel.Snapshot {
	s := hostmodel.NewSnapshot(host)
	s.Agents["l3-"+host] = &model.Agent{ID: "l3-" + host, AgentType: model.AgentTypeL3, Host: host, Configurations: map[string]any{"agent_mode": mode}}
	s.L3Bindings["r1"] = &model.Binding{ID: "r1", AgentIDs: []string{"l3-network1"}}
	s.Networks["apps"] = &model.Network{Standard: model.Standard{ID: "apps"}, MTU: 1450}
	s.Networks["ext"] = &model.Network{Standard: model.Standard{ID: "ext"}, MTU: 1500, External: true}
	s.Subnets["apps-v4"] = &model.Subnet{Standard: model.Standard{ID: "apps-v4"}, NetworkID: "apps", CIDR: "10.241.0.0/22", IPVersion: 4, GatewayIP: ptr("10.241.0.1")}
	s.Subnets["ext-v4"] = &model.Subnet{Standard: model.Standard{ID: "ext-v4"}, NetworkID: "ext", CIDR: "203.0.113.0/24", IPVersion: 4, GatewayIP: ptr("203.0.113.1")}
	port := func(id, net, sub, ip, owner, device, host, mac string) {
		s.Ports[id] = &model.Port{Standard: model.Standard{ID: id}, NetworkID: net, DeviceID: device, DeviceOwner: owner, HostID: host,
			MACAddress: mac, FixedIPs: []model.FixedIP{{SubnetID: sub, IPAddress: ip}}}
	}
	port("qr-port", "apps", "apps-v4", "10.241.0.1", model.OwnerRouterInterfaceD, "r1", "", "fa:16:3e:00:00:11")
	port("sg-port", "apps", "apps-v4", "10.241.0.3", model.OwnerRouterSNAT, "r1", "network1", "fa:16:3e:00:00:13")
	port("qg-port", "ext", "ext-v4", "203.0.113.101", model.OwnerRouterGateway, "r1", "network1", "fa:16:3e:00:00:12")
	port("fg-port", "ext", "ext-v4", "203.0.113.120", model.OwnerFIPAgentGateway, "l3-"+host, host, "fa:16:3e:00:00:20")
	port("vm", "apps", "apps-v4", "10.241.0.5", "compute:nova", "i1", "compute1", "fa:16:3e:00:00:05")
	s.Routers["r1"] = &model.Router{Standard: model.Standard{ID: "r1"}, AdminStateUp: true, Distributed: true, GatewayPortID: "qg-port",
		ExternalGatewayInfo: &model.GatewayInfo{NetworkID: "ext", EnableSNAT: true}}
	s.FloatingIPs["f1"] = &model.FloatingIP{Standard: model.Standard{ID: "f1"}, FloatingIPAddress: "203.0.113.102", FixedIPAddress: ptr("10.241.0.5"), PortID: ptr("vm"), RouterID: ptr("r1")}
	s.DVRMACs[host] = &model.DVRMAC{Host: host, MACAddress: "fa:16:3f:00:00:01"}
	return s
}

func dvrConfig(host, mode string) Config {
	return Config{Host: host, Mode: mode, NS: names.Namespaces{Suffix: "@" + host},
		LinkLocal: func(string) (netip.Prefix, error) { return netip.MustParsePrefix("169.254.64.0/31"), nil }}
}

func nsNames(r Router) string {
	out := []string{r.Namespace.Name}
	for _, ns := range r.Extra {
		out = append(out, ns.Name)
	}
	return strings.Join(out, " ")
}

func TestDVRWhoServes(t *testing.T) {
	for _, c := range []struct {
		host, mode, vmHost string
		admin              bool
		want               string
	}{
		{"compute1", model.ModeDVR, "compute1", true, "qrouter-r1@compute1 fip-ext@compute1"},
		{"compute1", model.ModeDVR, "compute2", true, ""},                                         // no instance here
		{"compute1", model.ModeLegacy, "compute1", true, ""},                                      // legacy agents never
		{"compute1", model.ModeDVRNoExternal, "compute1", true, "qrouter-r1@compute1"},            // east-west only
		{"compute1", model.ModeDVR, "compute1", false, ""},                                        // admin down
		{"network1", model.ModeDVRSNAT, "compute1", true, "qrouter-r1@network1 snat-r1@network1"}, // bound: SNAT part
	} {
		s := dvrSnapshot(c.host, c.mode)
		s.Ports["vm"].HostID = c.vmHost
		s.Routers["r1"].AdminStateUp = c.admin
		res := Plan(s, dvrConfig(c.host, c.mode))
		got := ""
		if len(res.Routers) == 1 {
			got = nsNames(res.Routers[0])
		}
		if got != c.want {
			t.Errorf("%s %s (vm on %s, up %v): got %q, want %q", c.host, c.mode, c.vmHost, c.admin, got, c.want)
		}
	}
}

// A floating IP of a port no compute serves (here: on a dvr_no_external
// host, so the server sends it to the SNAT host) is served in snat-.
func TestDVRCentralFloatingIP(t *testing.T) {
	s := dvrSnapshot("network1", model.ModeDVRSNAT)
	s.Ports["vm"].HostID = "compute3"
	res := Plan(s, dvrConfig("network1", model.ModeDVRSNAT))
	if len(res.Routers) != 1 || len(res.Routers[0].Extra) != 1 {
		t.Fatalf("routers %+v", res.Routers)
	}
	snat := res.Routers[0].Extra[0]
	var qg desired.Veth
	for _, v := range snat.Veths {
		if strings.HasPrefix(v.Inner, "qg-") {
			qg = v
		}
	}
	if !strings.Contains(desiredAddrs(qg), "203.0.113.102/32") {
		t.Errorf("qg- addresses %s: want the central floating IP", desiredAddrs(qg))
	}
	if nft := snat.Nft[0].String(); !strings.Contains(nft, "203.0.113.102 : 10.241.0.5") || !strings.Contains(nft, `iifname "sg-*" ct status dnat`) {
		t.Errorf("snat- table:\n%s", nft)
	}
	if st := res.Facts["r1"].FIPStatus["f1"]; st != "ACTIVE" {
		t.Errorf("status %q", st)
	}
}

// Without its fg- port yet, a compute plans the router but leaves the
// floating IP DOWN (no half-built fip- namespace).
func TestDVRFloatingIPWaitsForAgentGatewayPort(t *testing.T) {
	s := dvrSnapshot("compute1", model.ModeDVR)
	delete(s.Ports, "fg-port")
	res := Plan(s, dvrConfig("compute1", model.ModeDVR))
	if len(res.Routers) != 1 || len(res.Routers[0].Extra) != 0 {
		t.Fatalf("routers %+v", res.Routers)
	}
	if st := res.Facts["r1"].FIPStatus["f1"]; st != "DOWN" {
		t.Errorf("status %q, want DOWN", st)
	}
	for _, v := range res.Routers[0].Namespace.Veths {
		if v.PeerNamespace != "" {
			t.Errorf("rfp- planned without a fip- namespace: %+v", v)
		}
	}
}

func desiredAddrs(v desired.Veth) string {
	var out []string
	for _, a := range v.Addrs {
		out = append(out, a.String())
	}
	return strings.Join(out, ",")
}
