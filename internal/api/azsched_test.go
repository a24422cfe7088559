package api_test

import (
	"slices"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

func zoned(s syncproto.AgentState, zone string) syncproto.AgentState {
	s.AvailabilityZone = zone
	return s
}

// A router or network hinted to a zone is scheduled only to agents of
// that zone, and shows the zones of the agents it is bound to; one
// hinted to a zone whose agents are all elsewhere stays unscheduled.
func TestAvailabilityZoneScheduling(t *testing.T) {
	srv := noAuth(t)
	for i, zone := range []string{"az1", "az2"} {
		h := newSimHost(t, srv, "net-"+zone,
			zoned(agentState(model.AgentTypeL3, map[string]any{"agent_mode": "legacy"}), zone),
			zoned(agentState(model.AgentTypeDHCP, map[string]any{}), zone),
			l2State([]string{"10.0.1.1", "10.0.1.2"}[i]))
		h.start()
	}
	for _, zone := range []string{"az1", "az2"} {
		r := create(t, srv, admin, "routers", "router", map[string]any{"name": "r-" + zone, "availability_zone_hints": []string{zone}})
		n := create(t, srv, admin, "networks", "network", map[string]any{"name": "n-" + zone, "availability_zone_hints": []string{zone}})
		mkSubnet(t, srv, admin, id(n), map[string]string{"az1": "10.51.0.0/24", "az2": "10.52.0.0/24"}[zone])
		for _, c := range []struct{ path, key, id string }{{"routers", "router", id(r)}, {"networks", "network", id(n)}} {
			deadline := time.Now().Add(10 * time.Second)
			for {
				got := show(t, srv, admin, c.path, c.key, c.id)["availability_zones"]
				if zs, _ := got.([]any); len(zs) == 1 && zs[0] == zone {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s hinted to %s: availability_zones %v", c.key, zone, got)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		agents := ids(srv.Do(admin, "GET", "/v2.0/routers/"+id(r)+"/l3-agents", nil).List("agents"))
		all := srv.Do(admin, "GET", "/v2.0/agents?agent_type=L3+agent&availability_zone="+zone, nil).List("agents")
		if len(agents) != 1 || !slices.Contains(ids(all), agents[0]) {
			t.Errorf("router hinted to %s on agents %v, zone's L3 agents %v", zone, agents, ids(all))
		}
	}
	// Unhinted: any zone; its zones are where it landed.
	r := create(t, srv, admin, "routers", "router", map[string]any{"name": "free"})
	time.Sleep(200 * time.Millisecond)
	if zs, _ := show(t, srv, admin, "routers", "router", id(r))["availability_zones"].([]any); len(zs) > 1 {
		t.Errorf("unhinted router in zones %v", zs)
	}
}
