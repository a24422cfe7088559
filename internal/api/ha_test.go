package api_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// haStates returns the router's l3-agents as agent id → ha_state.
func haStates(t *testing.T, srv *testutil.Server, rid string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, a := range getList(t, srv, admin, "/v2.0/routers/"+rid+"/l3-agents", "agents") {
		out[a["id"].(string)] = a["ha_state"]
	}
	return out
}

// TestHARouterAPI: ha is admin-only, defaults from l3_ha, changes only
// while the router is down; an HA router is bound to
// max_l3_agents_per_router agents, one active; a new agent tops up an
// under-scheduled router; a claim is granted only when the active agent
// has been silent for l3_ha_fence_time, and a returning agent stays
// standby.
func TestHARouterAPI(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) {
		c.L3HA, c.MaxL3AgentsPerRouter, c.L3HAFenceTime, c.AgentDownTime = true, 2, time.Second, 30*time.Second
	}))
	e := &l3env{srv: srv}
	e.ext = create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	e.extSub = mkSubnet(t, srv, admin, id(e.ext), "172.24.4.0/24")
	h1 := regHost(t, srv, "h1", agState(model.AgentTypeL3, "legacy"))
	h1.beat()
	r := mkRouter(t, srv, demo, map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": id(e.ext)}})
	if _, seen := r["ha"]; seen {
		t.Errorf("a member sees ha: %v", r)
	}
	if got := show(t, srv, admin, "routers", "router", id(r)); got["ha"] != true {
		t.Fatalf("l3_ha = True: router ha %v", got["ha"])
	}
	eventually(t, "one agent, active", func() (bool, string) {
		s := haStates(t, srv, id(r))
		return len(s) == 1 && s[h1.l3()] == "active", jsonOf(s)
	})
	// A second agent tops the router up to max_l3_agents_per_router
	// (2); a third is not added.
	h2 := regHost(t, srv, "h2", agState(model.AgentTypeL3, "legacy"))
	h2.beat()
	eventually(t, "h2 standby", func() (bool, string) {
		s := haStates(t, srv, id(r))
		return len(s) == 2 && s[h1.l3()] == "active" && s[h2.l3()] == "standby", jsonOf(s)
	})
	h3 := regHost(t, srv, "h3", agState(model.AgentTypeL3, "legacy"))
	h3.beat()
	time.Sleep(300 * time.Millisecond)
	if s := haStates(t, srv, id(r)); len(s) != 2 {
		t.Errorf("max_l3_agents_per_router 2: %v", s)
	}

	// Changing ha needs the router down first.
	refused(t, srv, admin, "PUT", "/v2.0/routers/"+id(r), map[string]any{"router": map[string]any{"ha": false}}, 400, "BadRequest")
	refused(t, srv, demo, "PUT", "/v2.0/routers/"+id(r), map[string]any{"router": map[string]any{"ha": false}}, 403, "PolicyNotAuthorized")

	// A claim while the active agent heartbeats is refused; once it has
	// been silent for the fence time it is granted, and the gateway port
	// moves to the claimant's host.
	ctx := context.Background()
	res, err := h2.client.ClaimHA(ctx, id(r), h2.l3())
	if err != nil || res.Granted || res.ActiveAgentID != h1.l3() {
		t.Fatalf("claim against a live active: %+v %v", res, err)
	}
	h1.pause()
	time.Sleep(1200 * time.Millisecond)
	if res, err = h2.client.ClaimHA(ctx, id(r), h2.l3()); err != nil || !res.Granted {
		t.Fatalf("claim against a silent active: %+v %v", res, err)
	}
	if res, err := h3.client.ClaimHA(ctx, id(r), h3.l3()); err == nil {
		t.Errorf("an agent not hosting the router claimed it: %+v", res)
	}
	if s := haStates(t, srv, id(r)); s[h2.l3()] != "active" || s[h1.l3()] != "standby" {
		t.Errorf("after the claim: %v", s)
	}
	eventually(t, "gateway port on h2", func() (bool, string) {
		gw := routerPorts(t, srv, id(r))["network:router_gateway"]
		return len(gw) == 1 && gw[0]["binding:host_id"] == "h2", jsonOf(gw)
	})
	// h1 returns: it stays standby (non-preemptive).
	h1.beat()
	time.Sleep(300 * time.Millisecond)
	if s := haStates(t, srv, id(r)); s[h2.l3()] != "active" || s[h1.l3()] != "standby" {
		t.Errorf("after h1 returned: %v", s)
	}

	// Down, ha off: one agent, the active one, ha_state null.
	expect(t, srv.Do(admin, "PUT", "/v2.0/routers/"+id(r), map[string]any{"router": map[string]any{"admin_state_up": false}}), 200, "")
	expect(t, srv.Do(admin, "PUT", "/v2.0/routers/"+id(r), map[string]any{"router": map[string]any{"ha": false}}), 200, "")
	eventually(t, "non-HA on h2", func() (bool, string) {
		s := haStates(t, srv, id(r))
		ids := slices.Collect(func(yield func(string) bool) {
			for k := range s {
				yield(k)
			}
		})
		return len(s) == 1 && s[h2.l3()] == nil && slices.Contains(ids, h2.l3()), jsonOf(s)
	})
}

// TestHAFenceFollowsReportInterval: an active agent that says it
// reports every second is fenced for three of them, even with a shorter
// l3_ha_fence_time.
func TestHAFenceFollowsReportInterval(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) {
		c.MaxL3AgentsPerRouter, c.L3HAFenceTime, c.AgentDownTime = 2, 500*time.Millisecond, 30*time.Second
	}))
	slow := agState(model.AgentTypeL3, "legacy")
	slow.Configurations["report_interval"] = 1.0
	h1 := regHost(t, srv, "h1", slow)
	h1.beat()
	r := mkRouter(t, srv, admin, map[string]any{"name": "r", "ha": true})
	eventually(t, "h1 active", func() (bool, string) {
		s := haStates(t, srv, id(r))
		return s[h1.l3()] == "active", jsonOf(s)
	})
	h2 := regHost(t, srv, "h2", agState(model.AgentTypeL3, "legacy"))
	h2.beat()
	eventually(t, "h2 standby", func() (bool, string) {
		s := haStates(t, srv, id(r))
		return s[h2.l3()] == "standby", jsonOf(s)
	})
	h1.pause()
	time.Sleep(1200 * time.Millisecond)
	ctx := context.Background()
	if res, err := h2.client.ClaimHA(ctx, id(r), h2.l3()); err != nil || res.Granted {
		t.Fatalf("claim 1.2 s after the last heartbeat of an agent reporting every 1 s: %+v %v", res, err)
	}
	time.Sleep(2 * time.Second)
	if res, err := h2.client.ClaimHA(ctx, id(r), h2.l3()); err != nil || !res.Granted {
		t.Fatalf("claim 3.2 s after: %+v %v", res, err)
	}
}
