package l3

import (
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/model"
)

// withSecondSubnet attaches the router to a second network, 10.242.0.0/22.
func withSecondSubnet(s *hostmodel.Snapshot) *hostmodel.Snapshot {
	s.Networks["dmz"] = &model.Network{Standard: model.Standard{ID: "dmz"}, MTU: 1450}
	s.Subnets["dmz-v4"] = &model.Subnet{Standard: model.Standard{ID: "dmz-v4"}, NetworkID: "dmz", CIDR: "10.242.0.0/22", IPVersion: 4, GatewayIP: ptr("10.242.0.1")}
	s.Ports["qr-port-0000001"] = &model.Port{Standard: model.Standard{ID: "qr-port-0000001"}, NetworkID: "dmz", DeviceID: "r1", DeviceOwner: model.OwnerRouterInterface,
		MACAddress: "fa:16:3e:00:00:21", FixedIPs: []model.FixedIP{{SubnetID: "dmz-v4", IPAddress: "10.242.0.1"}}}
	return s
}

// The legacy router's east-west notrack: present (as whole text) with
// two internal subnets, absent with one, and absent when floating IPs
// have no hairpin SNAT to bring their replies back through conntrack.
func TestLegacyRouterEastWestNotrack(t *testing.T) {
	plan := func(s *hostmodel.Snapshot) string {
		res := Plan(s, Config{Host: "network1", Mode: "dvr_snat", NS: names.Namespaces{Suffix: "@network1"}})
		if len(res.Routers) != 1 {
			t.Fatalf("routers: %+v", res.Routers)
		}
		return res.Routers[0].Namespace.Nft[0].String()
	}
	nft := plan(withSecondSubnet(legacySnapshot()))
	for _, w := range []string{
		"  set internal_nets { type ipv4_addr; flags interval; elements = { 10.241.0.0/22, 10.242.0.0/22 } }\n" +
			"  set router_ips { type ipv4_addr; flags interval; elements = { 10.241.0.1/32, 10.242.0.1/32 } }\n",
		"  chain raw { type filter hook prerouting priority -300;\n" +
			`    iifname "qr-*" ip saddr @internal_nets ip daddr @internal_nets ip daddr != @router_ips notrack comment "east-west is not tracked"` + "\n  }\n",
	} {
		if !strings.Contains(nft, w) {
			t.Errorf("two subnets: nft lacks\n%s\nin:\n%s", w, nft)
		}
	}
	if nft := plan(legacySnapshot()); strings.Contains(nft, "notrack") || strings.Contains(nft, "internal_nets") {
		t.Errorf("one subnet: east-west notrack planned:\n%s", nft)
	}
	// A gateway without an IPv4 address: no hairpin SNAT, so a router
	// with a floating IP keeps tracking everything.
	s := withSecondSubnet(legacySnapshot())
	s.Ports["qg-port-0000000"].FixedIPs = nil
	if nft := plan(s); strings.Contains(nft, "notrack") {
		t.Errorf("floating IP without hairpin SNAT: east-west notrack planned:\n%s", nft)
	}
	// Without floating IPs nothing needs the hairpin.
	s = withSecondSubnet(legacySnapshot())
	s.Ports["qg-port-0000000"].FixedIPs = nil
	delete(s.FloatingIPs, "f1")
	delete(s.FloatingIPs, "f2")
	if nft := plan(s); !strings.Contains(nft, "notrack") {
		t.Errorf("no floating IP, no gateway address: east-west notrack missing:\n%s", nft)
	}
}
