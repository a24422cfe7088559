package api_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
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

// waitHA waits until the router's l3-agents, as agent id → ha_state,
// satisfy ok.
func waitHA(t *testing.T, srv *testutil.Server, rid, what string, ok func(s map[string]any) bool) {
	t.Helper()
	eventually(t, what, func() (bool, string) {
		s := haStates(t, srv, rid)
		return ok(s), jsonOf(s)
	})
}

// activeStandby registers host h1 with the L3 agent state first, makes
// an HA router and waits until h1 is its active agent, then registers
// h2 (a legacy L3 agent) and waits until it is the standby one; both
// hosts heartbeat.
func activeStandby(t *testing.T, srv *testutil.Server, first syncproto.AgentState) (h1, h2 *agentHost, r map[string]any) {
	t.Helper()
	h1 = regHost(t, srv, "h1", first)
	h1.beat()
	r = mkRouter(t, srv, admin, map[string]any{"name": "r", "ha": true})
	waitHA(t, srv, id(r), "h1 active", func(s map[string]any) bool { return s[h1.l3()] == "active" })
	h2 = regHost(t, srv, "h2", agState(model.AgentTypeL3, "legacy"))
	h2.beat()
	waitHA(t, srv, id(r), "h2 standby", func(s map[string]any) bool { return s[h2.l3()] == "standby" })
	return h1, h2, r
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
	waitHA(t, srv, id(r), "one agent, active", func(s map[string]any) bool { return len(s) == 1 && s[h1.l3()] == "active" })
	// A second agent tops the router up to max_l3_agents_per_router
	// (2); a third is not added.
	h2 := regHost(t, srv, "h2", agState(model.AgentTypeL3, "legacy"))
	h2.beat()
	waitHA(t, srv, id(r), "h2 standby", func(s map[string]any) bool { return len(s) == 2 && s[h1.l3()] == "active" && s[h2.l3()] == "standby" })
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
	h1, h2, r := activeStandby(t, srv, slow)
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

// TestHANetworkAndPorts: the hidden HA network of a project appears with
// its first HA router (owned by nobody, admin-only, l3_ha_net_cidr, no
// gateway, no DHCP), each HA router has one HA port per bound agent on
// that agent's host, members see none of it, and the network goes with
// the project's last HA router (deleted or turned non-HA).
func TestHANetworkAndPorts(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) { c.MaxL3AgentsPerRouter = 2 }))
	h1 := regHost(t, srv, "h1", agState(model.AgentTypeL3, "legacy"))
	h1.beat()
	h2 := regHost(t, srv, "h2", agState(model.AgentTypeL3, "legacy"))
	h2.beat()
	haNets := func() []map[string]any {
		return getList(t, srv, admin, "/v2.0/networks?name=HA+network+tenant+demo", "networks")
	}
	haPorts := func(c testutil.Caller, rid string) []map[string]any {
		return getList(t, srv, c, "/v2.0/ports?device_owner=network:router_ha_interface&device_id="+rid, "ports")
	}
	r1 := mkRouter(t, srv, admin, map[string]any{"name": "r1", "ha": true, "project_id": "demo"})
	nets := haNets()
	if len(nets) != 1 {
		t.Fatalf("HA networks after the first HA router: %s", jsonOf(nets))
	}
	n := nets[0]
	if n["project_id"] != "" || n["tenant_id"] != "" || n["provider:network_type"] != "vxlan" || n["shared"] != false {
		t.Errorf("HA network: %s", jsonOf(n))
	}
	subs := getList(t, srv, admin, "/v2.0/subnets?network_id="+id(n), "subnets")
	if len(subs) != 1 || subs[0]["cidr"] != "169.254.192.0/18" || subs[0]["gateway_ip"] != nil || subs[0]["enable_dhcp"] != false || subs[0]["name"] != "HA subnet tenant demo" {
		t.Errorf("HA subnet: %s", jsonOf(subs))
	}
	eventually(t, "an HA port per agent", func() (bool, string) {
		ps := haPorts(admin, id(r1))
		hosts := []string{}
		for _, p := range ps {
			if p["network_id"] != id(n) || p["project_id"] != "" || p["status"] != "ACTIVE" || p["name"] != "HA port tenant demo" {
				return false, jsonOf(ps)
			}
			hosts = append(hosts, p["binding:host_id"].(string))
		}
		slices.Sort(hosts)
		return slices.Equal(hosts, []string{"h1", "h2"}), jsonOf(ps)
	})
	// Members see neither the network nor the ports.
	if got := getList(t, srv, demo, "/v2.0/networks", "networks"); len(got) != 0 {
		t.Errorf("a member sees %s", jsonOf(got))
	}
	if got := haPorts(demo, id(r1)); len(got) != 0 {
		t.Errorf("a member sees HA ports %s", jsonOf(got))
	}
	// A second HA router shares the network; deleting the first keeps
	// it (and its segment) and takes the first router's ports.
	r2 := mkRouter(t, srv, admin, map[string]any{"name": "r2", "ha": true, "project_id": "demo"})
	if got := haNets(); len(got) != 1 || id(got[0]) != id(n) || got[0]["provider:segmentation_id"] != n["provider:segmentation_id"] {
		t.Errorf("second HA router: networks %s", jsonOf(got))
	}
	eventually(t, "r2's HA ports", func() (bool, string) { ps := haPorts(admin, id(r2)); return len(ps) == 2, jsonOf(ps) })
	expect(t, srv.Do(admin, "DELETE", "/v2.0/routers/"+id(r1), nil), 204, "")
	if got := haNets(); len(got) != 1 || got[0]["provider:segmentation_id"] != n["provider:segmentation_id"] {
		t.Errorf("after deleting r1: %s", jsonOf(got))
	}
	if got := haPorts(admin, id(r1)); len(got) != 0 {
		t.Errorf("r1's HA ports after its deletion: %s", jsonOf(got))
	}
	// Turning the last HA router non-HA takes its ports and the network.
	expect(t, srv.Do(admin, "PUT", "/v2.0/routers/"+id(r2), map[string]any{"router": map[string]any{"admin_state_up": false}}), 200, "")
	expect(t, srv.Do(admin, "PUT", "/v2.0/routers/"+id(r2), map[string]any{"router": map[string]any{"ha": false}}), 200, "")
	if got := haNets(); len(got) != 0 {
		t.Errorf("after the last HA router went non-HA: %s", jsonOf(got))
	}
	if got := haPorts(admin, id(r2)); len(got) != 0 {
		t.Errorf("r2's HA ports: %s", jsonOf(got))
	}
	// Back to HA: a new network, new ports; deleting the router takes
	// both.
	expect(t, srv.Do(admin, "PUT", "/v2.0/routers/"+id(r2), map[string]any{"router": map[string]any{"ha": true}}), 200, "")
	eventually(t, "r2's HA ports again", func() (bool, string) { ps := haPorts(admin, id(r2)); return len(ps) == 2, jsonOf(ps) })
	expect(t, srv.Do(admin, "DELETE", "/v2.0/routers/"+id(r2), nil), 204, "")
	if got := haNets(); len(got) != 0 {
		t.Errorf("after the last HA router: %s", jsonOf(got))
	}
	if got := getList(t, srv, admin, "/v2.0/ports?device_owner=network:router_ha_interface", "ports"); len(got) != 0 {
		t.Errorf("HA ports left: %s", jsonOf(got))
	}
}

// TestHADemotionIsFenced: disabling or deleting the active agent of an
// HA router does not hand the role over at once: no agent is active
// until the old one's host acknowledges (reports a view applied after
// the demotion) or has been silent for the fence time.
func TestHADemotionIsFenced(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) {
		// A fence well above the heartbeats' pace (200 ms), so that a
		// loaded machine's late heartbeat or slow request is not silence.
		c.MaxL3AgentsPerRouter, c.L3HAFenceTime = 2, 3*time.Second
	}))
	h1, h2, r := activeStandby(t, srv, agState(model.AgentTypeL3, "legacy"))
	noActive := func(what string) {
		t.Helper()
		for k, st := range haStates(t, srv, id(r)) {
			if st == "active" {
				t.Fatalf("%s: %s active before the demoted agent let go", what, k)
			}
		}
	}
	// Disabled while it heartbeats without acknowledging: nobody is
	// active (h1 still holds the addresses as far as anyone knows).
	expect(t, srv.Do(admin, "PUT", "/v2.0/agents/"+h1.l3(), map[string]any{"agent": map[string]any{"admin_state_up": false}}), 200, "")
	waitHA(t, srv, id(r), "h1 out of the binding", func(s map[string]any) bool { _, in := s[h1.l3()]; return !in })
	noActive("right after h1 left the binding")
	time.Sleep(300 * time.Millisecond)
	noActive("h1 heartbeating, not acknowledging")
	// h1 reports a view applied after the demotion: h2 takes over.
	h1.applied.Store(1 << 40)
	waitHA(t, srv, id(r), "h2 active after h1's acknowledgement", func(s map[string]any) bool { return s[h2.l3()] == "active" })
	// h1 back as standby; then h2, the active one, is deleted and its
	// host is silent: h1 takes over only after the fence time.
	expect(t, srv.Do(admin, "PUT", "/v2.0/agents/"+h1.l3(), map[string]any{"agent": map[string]any{"admin_state_up": true}}), 200, "")
	waitHA(t, srv, id(r), "h1 standby again", func(s map[string]any) bool { return s[h1.l3()] == "standby" && s[h2.l3()] == "active" })
	h2.pause()
	expect(t, srv.Do(admin, "DELETE", "/v2.0/agents/"+h2.l3(), nil), 204, "")
	noActive("right after deleting h2")
	waitHA(t, srv, id(r), "h1 active after h2's host was silent for the fence time", func(s map[string]any) bool { return s[h1.l3()] == "active" })
}
