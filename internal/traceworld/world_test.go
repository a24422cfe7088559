package traceworld

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
)

// The planner configuration comes from what the host's agents report
// (as the API returns it: JSON).
func TestHostConfigFromReports(t *testing.T) {
	var agents []model.Agent
	js := `[{"agent_type":"Linux bridge agent","host":"compute1","configurations":{"tunneling_ip":"10.0.1.21","interface_mappings":{"external":"eth1"},"bridge_mappings":{},"arp_responder_enabled":true,"l2_population":true,"enable_security_group":true}},
	{"agent_type":"L3 agent","host":"compute1","configurations":{"agent_mode":"dvr"}},
	{"agent_type":"L3 agent","host":"network1","configurations":{"agent_mode":"dvr_snat"}},
	{"agent_type":"Linux bridge agent","host":"network1","configurations":{"tunneling_ip":"10.0.1.11"}}]`
	if err := json.Unmarshal([]byte(js), &agents); err != nil {
		t.Fatal(err)
	}
	if agents[0].AgentType != model.AgentTypeL2 || agents[1].AgentType != model.AgentTypeL3 {
		t.Fatalf("agent types %q %q: update the test's JSON", agents[0].AgentType, agents[1].AgentType)
	}
	if hs := Hosts(agents); len(hs) != 2 || hs[0] != "compute1" || hs[1] != "network1" {
		t.Errorf("hosts %v", hs)
	}
	c := HostConfig("compute1", agents)
	if c.Mode != model.ModeDVR || c.LocalIP != netip.MustParseAddr("10.0.1.21") || c.PhysicalInterfaces["external"] != "eth1" ||
		!c.ARPResponder || !c.L2Population || !c.SecurityGroups || c.NS.Suffix != "@compute1" {
		t.Errorf("compute1: %+v", c)
	}
	if c := HostConfig("network1", agents); c.Mode != model.ModeDVRSNAT || c.SecurityGroups {
		t.Errorf("network1: %+v", c)
	}
}

func TestServerRoot(t *testing.T) {
	for in, want := range map[string]string{"http://h:9696/": "http://h:9696/", "http://h:9696/v2.0/": "http://h:9696/", "http://h/networking": "http://h/networking/"} {
		if got := serverRoot(in); got != want {
			t.Errorf("serverRoot(%q) = %q, want %q", in, got, want)
		}
	}
}
