package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// The agents API, the agent scheduler sub-resources and the bookkeeping
// controller (router scheduling and failover, router port hosts, DHCP
// ports, DVR floating IP agent gateway ports, DVR MACs), driven by
// simulated agents that only report (no watch stream needed).

var agentStampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)

// agentHost is a host's agents speaking the agent protocol.
type agentHost struct {
	t      *testing.T
	name   string
	client *hostmodel.Client
	states []syncproto.AgentState
	ids    map[string]string // agent type → id
	// interval is the report_interval the host says (seconds; 0: none),
	// applied the revision of its view it says it applied.
	interval float64
	applied  atomic.Int64

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

func agState(typ, mode string) syncproto.AgentState {
	s := syncproto.AgentState{AgentType: typ, Configurations: map[string]any{}}
	switch typ {
	case model.AgentTypeL3:
		s.Binary, s.Topic = "neutron-l3-agent", "l3_agent"
		s.Configurations["agent_mode"] = mode
	case model.AgentTypeDHCP:
		s.Binary, s.Topic = "neutron-dhcp-agent", "dhcp_agent"
	case model.AgentTypeL2:
		s.Binary, s.Topic = "neutron-linuxbridge-agent", "N/A"
	}
	return s
}

func regHost(t *testing.T, srv *testutil.Server, name string, states ...syncproto.AgentState) *agentHost {
	t.Helper()
	h := &agentHost{t: t, name: name, states: states, ids: map[string]string{},
		client: &hostmodel.Client{URL: srv.URL, Host: name, HTTP: &http.Client{Timeout: 30 * time.Second},
			Header: http.Header{"X-Project-Id": {"service"}, "X-Roles": {"service"}}}}
	resp, err := h.client.Report(context.Background(), &syncproto.ReportRequest{Agents: states, StartFlag: true})
	if err != nil {
		t.Fatalf("%s: report: %v", name, err)
	}
	for _, a := range resp.Agents {
		h.ids[a.AgentType] = a.ID
	}
	t.Cleanup(h.pause)
	return h
}

func (h *agentHost) report() error {
	_, err := h.client.Report(context.Background(), &syncproto.ReportRequest{Agents: h.states, ReportInterval: h.interval, AppliedRevision: h.applied.Load()})
	return err
}

// beat heartbeats every 200ms until pause.
func (h *agentHost) beat() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop != nil {
		return
	}
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			h.report()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}(h.stop, h.done)
}

func (h *agentHost) pause() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop != nil {
		close(h.stop)
		<-h.done
		h.stop = nil
	}
}

func (h *agentHost) l3() string   { return h.ids[model.AgentTypeL3] }
func (h *agentHost) dhcp() string { return h.ids[model.AgentTypeDHCP] }

// eventually polls cond until it holds (15s at most); cond says what it
// saw, for the failure message.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last saw: %s", what, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func getList(t *testing.T, srv *testutil.Server, c testutil.Caller, path, key string) []map[string]any {
	t.Helper()
	r := srv.Do(c, "GET", path, nil)
	expect(t, r, http.StatusOK, "")
	if _, ok := r.Body[key]; !ok {
		t.Fatalf("GET %s: no %q in %s", path, key, r.Raw)
	}
	return r.List(key)
}

func routerAgents(t *testing.T, srv *testutil.Server, rid string) []string {
	t.Helper()
	return ids(getList(t, srv, admin, "/v2.0/routers/"+rid+"/l3-agents", "agents"))
}

var agentFieldNames = []string{"admin_state_up", "agent_type", "alive", "availability_zone", "binary", "configurations",
	"created_at", "description", "heartbeat_timestamp", "host", "id", "resource_versions", "resources_synced", "started_at", "topic"}

func TestAgentsAPI(t *testing.T) {
	srv := noAuth(t)
	net1 := regHost(t, srv, "net1", agState(model.AgentTypeL3, "legacy"), agState(model.AgentTypeDHCP, ""), agState(model.AgentTypeL2, ""))
	cmp1 := regHost(t, srv, "cmp1", agState(model.AgentTypeL3, "dvr"), agState(model.AgentTypeL2, ""))

	all := getList(t, srv, admin, "/v2.0/agents", "agents")
	if len(all) != 5 {
		t.Fatalf("%d agents, want 5: %v", len(all), all)
	}
	for _, a := range all {
		var keys []string
		for k := range a {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, agentFieldNames) {
			t.Errorf("agent fields %v, want %v", keys, agentFieldNames)
		}
		for _, k := range []string{"created_at", "started_at", "heartbeat_timestamp"} {
			if s, _ := a[k].(string); !agentStampRE.MatchString(s) {
				t.Errorf("%s = %q, want YYYY-MM-DD HH:MM:SS", k, a[k])
			}
		}
		if a["alive"] != true || a["admin_state_up"] != true || a["description"] != "" {
			t.Errorf("new agent %v", a)
		}
	}
	l3 := show(t, srv, admin, "agents", "agent", net1.l3())
	if l3["agent_type"] != "L3 agent" || l3["binary"] != "neutron-l3-agent" || l3["topic"] != "l3_agent" || l3["host"] != "net1" {
		t.Errorf("L3 agent %v", l3)
	}
	if conf, _ := l3["configurations"].(map[string]any); conf["agent_mode"] != "legacy" {
		t.Errorf("configurations %v", l3["configurations"])
	}

	// Filters, including the derived alive.
	for q, want := range map[string]int{
		"agent_type=L3%20agent": 2, "host=net1": 3, "host=cmp1&agent_type=L3%20agent": 1, "alive=true": 5, "alive=False": 0,
		"admin_state_up=true": 5, "binary=neutron-dhcp-agent": 1, "alive=true&host=cmp1": 2, "topic=N/A": 2,
	} {
		if got := getList(t, srv, admin, "/v2.0/agents?"+q, "agents"); len(got) != want {
			t.Errorf("?%s: %d agents, want %d", q, len(got), want)
		}
	}
	expect(t, srv.Do(admin, "GET", "/v2.0/agents?alive=maybe", nil), 400, "")
	expect(t, srv.Do(admin, "GET", "/v2.0/agents?nonsense=1", nil), 400, "")
	if got := getList(t, srv, admin, "/v2.0/agents?fields=id&fields=alive&host=net1", "agents"); len(got) != 3 || len(got[0]) != 2 || got[0]["alive"] != true {
		t.Errorf("fields: %v", got)
	}
	if got := getList(t, srv, admin, "/v2.0/agents?sort_key=host&sort_dir=desc", "agents"); len(got) != 5 || got[0]["host"] != "net1" || got[4]["host"] != "cmp1" {
		t.Errorf("sorted by host desc: %v", got)
	}

	// Admin only: others see nothing, and cannot touch.
	if got := getList(t, srv, demo, "/v2.0/agents", "agents"); len(got) != 0 {
		t.Errorf("demo sees %d agents", len(got))
	}
	refused(t, srv, demo, "GET", "/v2.0/agents/"+net1.l3(), nil, 404, "AgentNotFound")
	refused(t, srv, demo, "PUT", "/v2.0/agents/"+net1.l3(), map[string]any{"agent": map[string]any{"admin_state_up": false}}, 404, "AgentNotFound")
	refused(t, srv, demo, "DELETE", "/v2.0/agents/"+net1.l3(), nil, 404, "AgentNotFound")
	refused(t, srv, admin, "GET", "/v2.0/agents/"+uuid.NewString(), nil, 404, "AgentNotFound")
	before := srv.Dump()
	if r := srv.Do(admin, "POST", "/v2.0/agents", map[string]any{"agent": map[string]any{"host": "x"}}); r.Status < 400 {
		t.Errorf("POST /agents: %d %s", r.Status, r.Raw)
	}
	if srv.Dump() != before {
		t.Errorf("POST /agents changed the store")
	}

	// Update: admin_state_up and description only.
	refused(t, srv, admin, "PUT", "/v2.0/agents/"+net1.l3(), map[string]any{"agent": map[string]any{"host": "other"}}, 400, "")
	refused(t, srv, admin, "PUT", "/v2.0/agents/"+net1.l3(), map[string]any{"agent": map[string]any{"alive": false}}, 400, "")
	refused(t, srv, admin, "PUT", "/v2.0/agents/"+net1.l3(), map[string]any{"agent": map[string]any{"bogus": 1}}, 400, "")
	r := srv.Do(admin, "PUT", "/v2.0/agents/"+net1.l3(), map[string]any{"agent": map[string]any{"admin_state_up": false, "description": "maintenance"}})
	expect(t, r, 200, "")
	if a := r.Obj("agent"); a["admin_state_up"] != false || a["description"] != "maintenance" || a["alive"] != true {
		t.Errorf("updated agent %v", a)
	}
	if got := getList(t, srv, admin, "/v2.0/agents?admin_state_up=false", "agents"); len(got) != 1 || id(got[0]) != net1.l3() {
		t.Errorf("admin_state_up=false: %v", got)
	}
	// A report keeps what the admin set.
	if err := net1.report(); err != nil {
		t.Fatal(err)
	}
	if a := show(t, srv, admin, "agents", "agent", net1.l3()); a["admin_state_up"] != false || a["description"] != "maintenance" {
		t.Errorf("after report: %v", a)
	}

	// Delete: the record, its heartbeat and registration go; the host's
	// DVR MAC goes with its last agent; a later report registers anew.
	var hasMAC bool
	srv.Store.View(func(v *store.View) { _, hasMAC = v.Get(model.KindDVRMAC, "cmp1") })
	if !hasMAC {
		t.Fatalf("dvr host cmp1 has no DVR MAC")
	}
	expect(t, srv.Do(admin, "DELETE", "/v2.0/agents/"+cmp1.l3(), nil), 204, "")
	refused(t, srv, admin, "GET", "/v2.0/agents/"+cmp1.l3(), nil, 404, "AgentNotFound")
	if _, ok, _ := srv.Store.GetValue(context.Background(), "heartbeat/"+cmp1.l3()); ok {
		t.Errorf("heartbeat of deleted agent kept")
	}
	srv.Store.View(func(v *store.View) { _, hasMAC = v.Get(model.KindDVRMAC, "cmp1") })
	if !hasMAC {
		t.Errorf("DVR MAC deleted while the host still has an agent")
	}
	expect(t, srv.Do(admin, "DELETE", "/v2.0/agents/"+cmp1.ids[model.AgentTypeL2], nil), 204, "")
	srv.Store.View(func(v *store.View) { _, hasMAC = v.Get(model.KindDVRMAC, "cmp1") })
	if hasMAC {
		t.Errorf("DVR MAC of a host without agents kept")
	}
	if d := srv.Dump(); strings.Contains(d, "/c/dvrmac/") {
		t.Errorf("dvrmac claim kept: %s", d)
	}
	old := cmp1.l3()
	again := regHost(t, srv, "cmp1", agState(model.AgentTypeL3, "dvr"))
	if again.l3() == "" || again.l3() == old {
		t.Errorf("re-registered agent id %q (old %q)", again.l3(), old)
	}
	if got := getList(t, srv, admin, "/v2.0/agents?host=cmp1", "agents"); len(got) != 1 {
		t.Errorf("cmp1 agents after re-registering: %v", got)
	}
}

func TestAgentLiveness(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) { c.AgentDownTime = 2 * time.Second }))
	h1 := regHost(t, srv, "h1", agState(model.AgentTypeL2, ""))
	h2 := regHost(t, srv, "h2", agState(model.AgentTypeL2, ""))
	h1.beat()
	_ = h2
	eventually(t, "h2 down", func() (bool, string) {
		got := getList(t, srv, admin, "/v2.0/agents?alive=false", "agents")
		return len(got) == 1 && got[0]["host"] == "h2", jsonOf(got)
	})
	if got := getList(t, srv, admin, "/v2.0/agents?alive=true", "agents"); len(got) != 1 || got[0]["host"] != "h1" {
		t.Errorf("alive: %v", got)
	}
	a := show(t, srv, admin, "agents", "agent", h2.ids[model.AgentTypeL2])
	hb, err := time.Parse(model.AgentTimeFormat, a["heartbeat_timestamp"].(string))
	if err != nil || time.Since(hb) < 2*time.Second || time.Since(hb) > time.Minute {
		t.Errorf("dead agent heartbeat_timestamp %v (%v)", a["heartbeat_timestamp"], err)
	}
	// Reporting revives it.
	if err := h2.report(); err != nil {
		t.Fatal(err)
	}
	if a := show(t, srv, admin, "agents", "agent", h2.ids[model.AgentTypeL2]); a["alive"] != true {
		t.Errorf("revived agent %v", a)
	}
}

func TestManualL3Scheduling(t *testing.T) {
	srv := noAuth(t)
	legA := regHost(t, srv, "legA", agState(model.AgentTypeL3, "legacy"))
	legB := regHost(t, srv, "legB", agState(model.AgentTypeL3, "legacy"))
	snat := regHost(t, srv, "snat", agState(model.AgentTypeL3, "dvr_snat"))
	cmp := regHost(t, srv, "cmp", agState(model.AgentTypeL3, "dvr"))
	dh := regHost(t, srv, "dh", agState(model.AgentTypeDHCP, ""))

	// Automatic scheduling on create: the least loaded suitable agent.
	// (d goes first: only the dvr_snat agent suits it, and then the
	// legacy agents are the least loaded for r.)
	d := mkRouter(t, srv, admin, map[string]any{"name": "d", "distributed": true})
	r := mkRouter(t, srv, admin, map[string]any{"name": "r", "distributed": false})
	onR := routerAgents(t, srv, id(r))
	if len(onR) != 1 || onR[0] == cmp.l3() || onR[0] == dh.dhcp() {
		t.Fatalf("router r on %v", onR)
	}
	if onD := routerAgents(t, srv, id(d)); len(onD) != 1 || onD[0] != snat.l3() {
		t.Fatalf("distributed router d on %v, want the dvr_snat agent %s", onD, snat.l3())
	}
	la := getList(t, srv, admin, "/v2.0/routers/"+id(r)+"/l3-agents", "agents")
	if v, ok := la[0]["ha_state"]; !ok || v != nil || la[0]["alive"] != true || la[0]["agent_type"] != "L3 agent" {
		t.Errorf("l3-agents entry %v", la[0])
	}
	hosting := onR[0]
	other := legA.l3()
	if hosting == other {
		other = legB.l3()
	}
	if hosting == snat.l3() {
		t.Fatalf("r went to the dvr_snat agent although legacy agents were free")
	}

	add := func(agentID, routerID string) *testutil.Response {
		return srv.Do(admin, "POST", "/v2.0/agents/"+agentID+"/l3-routers", map[string]any{"router_id": routerID})
	}
	path := func(agentID string) string { return "/v2.0/agents/" + agentID + "/l3-routers" }
	body := func(rid string) map[string]any { return map[string]any{"router_id": rid} }
	refused(t, srv, admin, "POST", path(cmp.l3()), body(id(r)), 409, "RouterL3AgentMismatch")
	refused(t, srv, admin, "POST", path(cmp.l3()), body(id(d)), 409, "DVRL3CannotAssignToDvrAgent")
	refused(t, srv, admin, "POST", path(legA.l3()), body(id(d)), 409, "RouterL3AgentMismatch")
	refused(t, srv, admin, "POST", path(dh.dhcp()), body(id(r)), 404, "InvalidL3Agent")
	refused(t, srv, admin, "POST", path(other), body(id(r)), 409, "RouterHostedByL3Agent")
	refused(t, srv, admin, "POST", path(uuid.NewString()), body(id(r)), 404, "AgentNotFound")
	refused(t, srv, admin, "POST", path(other), body(uuid.NewString()), 404, "RouterNotFound")
	refused(t, srv, admin, "POST", path(other), map[string]any{}, 400, "")
	refused(t, srv, admin, "POST", path(other), map[string]any{"router_id": id(r), "x": 1}, 400, "")
	refused(t, srv, demo, "POST", path(other), body(id(r)), 404, "")
	refused(t, srv, demo, "GET", path(other), nil, 404, "")
	refused(t, srv, admin, "DELETE", path(other)+"/"+id(r), nil, 409, "RouterNotHostedByL3Agent")
	refused(t, srv, admin, "DELETE", path(cmp.l3())+"/"+id(d), nil, 409, "DVRL3CannotRemoveFromDvrAgent")
	// Already hosted there: a no-op 201 with a null body.
	before := srv.Dump()
	resp := add(hosting, id(r))
	expect(t, resp, 201, "")
	if strings.TrimSpace(string(resp.Raw)) != "null" {
		t.Errorf("POST l3-routers body %q, want null", resp.Raw)
	}
	if srv.Dump() != before {
		t.Errorf("adding a router to its own agent changed the store")
	}

	// Remove, then assign elsewhere by hand.
	expect(t, srv.Do(admin, "DELETE", path(hosting)+"/"+id(r), nil), 204, "")
	if got := routerAgents(t, srv, id(r)); len(got) != 0 {
		t.Fatalf("after removal r on %v", got)
	}
	if got := getList(t, srv, admin, path(hosting), "routers"); slices.Contains(ids(got), id(r)) {
		t.Errorf("router still listed on its old agent")
	}
	expect(t, add(other, id(r)), 201, "")
	got := getList(t, srv, admin, path(other), "routers")
	if len(got) != 1 || id(got[0]) != id(r) || got[0]["name"] != "r" || got[0]["distributed"] != false {
		t.Errorf("routers on %s: %v", other, got)
	}
	if got := routerAgents(t, srv, id(r)); !slices.Equal(got, []string{other}) {
		t.Errorf("r on %v, want [%s]", got, other)
	}
	// A disabled agent takes no routers.
	expect(t, srv.Do(admin, "DELETE", path(other)+"/"+id(r), nil), 204, "")
	expect(t, srv.Do(admin, "PUT", "/v2.0/agents/"+hosting, map[string]any{"agent": map[string]any{"admin_state_up": false}}), 200, "")
	refused(t, srv, admin, "POST", path(hosting), body(id(r)), 404, "InvalidL3Agent")
	// The sub-resources are admin-only: a project sees its router but
	// may not list its agents.
	mine := mkRouter(t, srv, demo, map[string]any{"name": "mine"})
	refused(t, srv, demo, "GET", "/v2.0/routers/"+id(mine)+"/l3-agents", nil, 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "GET", "/v2.0/routers/"+id(r)+"/l3-agents", nil, 404, "RouterNotFound")
	refused(t, srv, admin, "GET", "/v2.0/routers/"+uuid.NewString()+"/l3-agents", nil, 404, "RouterNotFound")
}

// routerPorts returns the router's ports by device owner.
func routerPorts(t *testing.T, srv *testutil.Server, rid string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, p := range portsOf(t, srv, "device_id="+rid) {
		o, _ := p["device_owner"].(string)
		out[o] = append(out[o], p)
	}
	return out
}

// routerOn waits until the router is on exactly the agent of want (nil:
// unscheduled) and its gateway and interface ports are bound to that
// host.
func routerOn(t *testing.T, srv *testutil.Server, rid string, want *agentHost) {
	t.Helper()
	eventually(t, "router placement and port hosts", func() (bool, string) {
		agents := routerAgents(t, srv, rid)
		host, agent := "", ""
		if want != nil {
			host, agent = want.name, want.l3()
		}
		if agent == "" && len(agents) != 0 || agent != "" && !slices.Equal(agents, []string{agent}) {
			return false, "agents " + jsonOf(agents)
		}
		ports := routerPorts(t, srv, rid)
		for _, owner := range []string{"network:router_gateway", "network:router_interface"} {
			if len(ports[owner]) == 0 {
				return false, "no " + owner + " port"
			}
			for _, p := range ports[owner] {
				vif := "bridge"
				if host == "" {
					vif = "unbound"
				}
				if p["binding:host_id"] != host || p["binding:vif_type"] != vif {
					return false, owner + " port " + jsonOf(p)
				}
			}
		}
		return true, ""
	})
}

func TestL3SchedulingAndFailover(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) { c.AgentDownTime = 2 * time.Second }))
	e := &l3env{srv: srv}
	e.ext = create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	e.extSub = mkSubnet(t, srv, admin, id(e.ext), "172.24.4.0/24")
	e.net = mkNet(t, srv, demo, "private")
	e.sub = mkSubnet(t, srv, demo, id(e.net), "10.0.0.0/24")

	// No agent yet: the router stays unscheduled, its ports unbound.
	r := mkRouter(t, srv, demo, map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": id(e.ext)}})
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(e.sub)})
	routerOn(t, srv, id(r), nil)

	// An agent appears: the router is scheduled to it.
	h1 := regHost(t, srv, "h1", agState(model.AgentTypeL3, "legacy"), agState(model.AgentTypeL2, ""))
	h1.beat()
	routerOn(t, srv, id(r), h1)
	h2 := regHost(t, srv, "h2", agState(model.AgentTypeL3, "legacy"), agState(model.AgentTypeL2, ""))
	h2.beat()

	// Disabling the agent moves the router (failover is on).
	expect(t, srv.Do(admin, "PUT", "/v2.0/agents/"+h1.l3(), map[string]any{"agent": map[string]any{"admin_state_up": false}}), 200, "")
	routerOn(t, srv, id(r), h2)
	expect(t, srv.Do(admin, "PUT", "/v2.0/agents/"+h1.l3(), map[string]any{"agent": map[string]any{"admin_state_up": true}}), 200, "")

	// The agent stops heartbeating: after agent_down_time the router
	// moves to the live one, and the dead agent shows as not alive.
	h2.pause()
	routerOn(t, srv, id(r), h1)
	if got := getList(t, srv, admin, "/v2.0/agents?alive=false", "agents"); len(got) != 2 || got[0]["host"] != "h2" || got[1]["host"] != "h2" {
		t.Errorf("dead agents: %v", got)
	}

	// No live agent at all: the router stays where it is (an agent that
	// is only restarting finds its routers still bound); a new agent
	// takes it.
	h1.pause()
	time.Sleep(3 * time.Second) // past agent_down_time: h1 is dead
	routerOn(t, srv, id(r), h1)
	h3 := regHost(t, srv, "h3", agState(model.AgentTypeL3, "legacy"))
	h3.beat()
	routerOn(t, srv, id(r), h3)
	// Deleting the router's agent reschedules the router too.
	h1.beat()
	expect(t, srv.Do(admin, "DELETE", "/v2.0/agents/"+h3.l3(), nil), 204, "")
	h3.pause()
	routerOn(t, srv, id(r), h1)
}

func TestL3FailoverDisabled(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) {
		c.AgentDownTime = 2 * time.Second
		c.AutoL3Failover = false
	}))
	h1 := regHost(t, srv, "h1", agState(model.AgentTypeL3, "legacy"))
	h1.beat()
	r := mkRouter(t, srv, admin, map[string]any{"name": "r"})
	if got := routerAgents(t, srv, id(r)); !slices.Equal(got, []string{h1.l3()}) {
		t.Fatalf("r on %v", got)
	}
	h2 := regHost(t, srv, "h2", agState(model.AgentTypeL3, "legacy"))
	h2.beat()
	h1.pause()
	eventually(t, "h1 down", func() (bool, string) {
		a := show(t, srv, admin, "agents", "agent", h1.l3())
		return a["alive"] == false, jsonOf(a)
	})
	// Let the controller do a pass after h1 died (a DHCP port appearing
	// proves one): the router must have stayed.
	dh := regHost(t, srv, "dh", agState(model.AgentTypeDHCP, ""))
	dh.beat()
	n := mkNet(t, srv, demo, "n")
	mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	dhcpOn(t, srv, id(n), dh, "10.0.0.2")
	if got := routerAgents(t, srv, id(r)); !slices.Equal(got, []string{h1.l3()}) {
		t.Errorf("without failover r moved to %v", got)
	}
}

// dhcpPorts returns the network's DHCP ports.
func dhcpPorts(t *testing.T, srv *testutil.Server, netID string) []map[string]any {
	t.Helper()
	return portsOf(t, srv, "network_id="+netID+"&device_owner=network:dhcp")
}

func dhcpDeviceID(host, netID string) string {
	return "dhcp" + uuid.NewSHA1(uuid.NameSpaceDNS, []byte(host)).String() + "-" + netID
}

// dhcpOn waits until the network has exactly one DHCP port, on the host
// of want, with exactly the addresses given, and is bound to want's DHCP
// agent (want nil: no port, no agent).
func dhcpOn(t *testing.T, srv *testutil.Server, netID string, want *agentHost, addrs ...string) map[string]any {
	t.Helper()
	var port map[string]any
	eventually(t, "DHCP port", func() (bool, string) {
		ports := dhcpPorts(t, srv, netID)
		agents := ids(getList(t, srv, admin, "/v2.0/networks/"+netID+"/dhcp-agents", "agents"))
		if want == nil {
			return len(ports) == 0 && len(agents) == 0, jsonOf(ports) + jsonOf(agents)
		}
		if len(ports) != 1 || !slices.Equal(agents, []string{want.dhcp()}) {
			return false, jsonOf(ports) + jsonOf(agents)
		}
		p := ports[0]
		var got []string
		for _, ip := range fixedIPs(p) {
			got = append(got, ip[1])
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(addrs))
		port = p
		return p["binding:host_id"] == want.name && p["binding:vif_type"] == "bridge" && p["device_id"] == dhcpDeviceID(want.name, netID) &&
			slices.Equal(got, w), jsonOf(p)
	})
	return port
}

func TestDHCPScheduling(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) { c.AgentDownTime = 2 * time.Second }))
	d1 := regHost(t, srv, "d1", agState(model.AgentTypeDHCP, ""), agState(model.AgentTypeL2, ""))
	d1.beat()
	n := mkNet(t, srv, demo, "n")
	// A port made before the subnet's DHCP port takes .2: the DHCP port
	// gets the lowest free address, .3.
	s1 := mkSubnet(t, srv, demo, id(n), "10.1.0.0/24", map[string]any{"enable_dhcp": false})
	taken := mkPort(t, srv, demo, id(n), map[string]any{"fixed_ips": []any{map[string]any{"ip_address": "10.1.0.2"}}})
	dhcpOn(t, srv, id(n), nil)
	expect(t, srv.Do(demo, "PUT", "/v2.0/subnets/"+id(s1), map[string]any{"subnet": map[string]any{"enable_dhcp": true}}), 200, "")
	p := dhcpOn(t, srv, id(n), d1, "10.1.0.3")
	if p["project_id"] != "demo" || len(strs(p["security_groups"])) != 0 || p["device_owner"] != "network:dhcp" {
		t.Errorf("DHCP port %v", p)
	}
	if got := getList(t, srv, admin, "/v2.0/agents/"+d1.dhcp()+"/dhcp-networks", "networks"); len(got) != 1 || id(got[0]) != id(n) {
		t.Errorf("dhcp-networks of d1: %v", got)
	}
	// A second DHCP subnet adds an address to the same port; disabling
	// DHCP on it removes it again.
	s2 := mkSubnet(t, srv, demo, id(n), "10.2.0.0/24")
	dhcpOn(t, srv, id(n), d1, "10.1.0.3", "10.2.0.2")
	expect(t, srv.Do(demo, "PUT", "/v2.0/subnets/"+id(s2), map[string]any{"subnet": map[string]any{"enable_dhcp": false}}), 200, "")
	dhcpOn(t, srv, id(n), d1, "10.1.0.3")

	// The agent dies: the network moves to a live agent with a new port.
	d2 := regHost(t, srv, "d2", agState(model.AgentTypeDHCP, ""), agState(model.AgentTypeL2, ""))
	d2.beat()
	d1.pause()
	// (.3 is released by the same transaction, so the lowest free
	// address it may take is .4.)
	dhcpOn(t, srv, id(n), d2, "10.1.0.4")
	d1.beat()

	// Manual scheduling.
	path := func(agentID string) string { return "/v2.0/agents/" + agentID + "/dhcp-networks" }
	body := map[string]any{"network_id": id(n)}
	refused(t, srv, admin, "POST", path(d2.dhcp()), body, 409, "NetworkHostedByDHCPAgent")
	refused(t, srv, admin, "POST", path(d1.ids[model.AgentTypeL2]), body, 404, "InvalidDHCPAgent")
	refused(t, srv, admin, "POST", path(d1.dhcp()), map[string]any{"network_id": uuid.NewString()}, 404, "NetworkNotFound")
	refused(t, srv, admin, "POST", path(uuid.NewString()), body, 404, "AgentNotFound")
	refused(t, srv, admin, "DELETE", path(d1.dhcp())+"/"+id(n), nil, 409, "NetworkNotHostedByDhcpAgent")
	refused(t, srv, demo, "POST", path(d1.dhcp()), body, 404, "")
	refused(t, srv, demo, "GET", "/v2.0/networks/"+id(n)+"/dhcp-agents", nil, 403, "PolicyNotAuthorized")
	resp := srv.Do(admin, "POST", path(d1.dhcp()), body)
	expect(t, resp, 201, "")
	if strings.TrimSpace(string(resp.Raw)) != "null" {
		t.Errorf("POST dhcp-networks body %q", resp.Raw)
	}
	eventually(t, "a DHCP port per agent", func() (bool, string) {
		ports := dhcpPorts(t, srv, id(n))
		hosts := []string{}
		for _, p := range ports {
			hosts = append(hosts, p["binding:host_id"].(string))
		}
		slices.Sort(hosts)
		return slices.Equal(hosts, []string{"d1", "d2"}), jsonOf(ports)
	})
	expect(t, srv.Do(admin, "DELETE", path(d1.dhcp())+"/"+id(n), nil), 204, "")
	dhcpOn(t, srv, id(n), d2, "10.1.0.4")

	// Without DHCP subnets the network has no DHCP agent and no port.
	expect(t, srv.Do(demo, "PUT", "/v2.0/subnets/"+id(s1), map[string]any{"subnet": map[string]any{"enable_dhcp": false}}), 200, "")
	dhcpOn(t, srv, id(n), nil)
	if got := getList(t, srv, admin, path(d2.dhcp()), "networks"); len(got) != 0 {
		t.Errorf("d2 still hosts %v", got)
	}
	expect(t, srv.Do(demo, "PUT", "/v2.0/subnets/"+id(s1), map[string]any{"subnet": map[string]any{"enable_dhcp": true}}), 200, "")
	eventually(t, "DHCP back", func() (bool, string) { return len(dhcpPorts(t, srv, id(n))) == 1, "" })

	// Deleting the network takes its DHCP port; the binding and the
	// port claims go too.
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(taken), nil), 204, "")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/networks/"+id(n), nil), 204, "")
	eventually(t, "bookkeeping of a deleted network gone", func() (bool, string) {
		d := srv.Dump()
		return !strings.Contains(d, "dhcp_binding/") && !strings.Contains(d, "/c/dhcpport:"), d
	})
}

func TestDHCPSubnetDeletedUnderPort(t *testing.T) {
	srv := noAuth(t)
	d1 := regHost(t, srv, "d1", agState(model.AgentTypeDHCP, ""))
	n := mkNet(t, srv, demo, "n")
	s1 := mkSubnet(t, srv, demo, id(n), "10.1.0.0/24")
	first := dhcpOn(t, srv, id(n), d1, "10.1.0.2")
	// Deleting the only subnet deletes the DHCP port with it; a new
	// subnet gets a new port.
	expect(t, srv.Do(demo, "DELETE", "/v2.0/subnets/"+id(s1), nil), 204, "")
	dhcpOn(t, srv, id(n), nil)
	mkSubnet(t, srv, demo, id(n), "10.3.0.0/24")
	p := dhcpOn(t, srv, id(n), d1, "10.3.0.2")
	if id(p) == id(first) {
		t.Errorf("port %s survived its subnet", id(p))
	}
}

// fgPorts returns the floating IP agent gateway ports by host.
func fgPorts(t *testing.T, srv *testutil.Server) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, p := range portsOf(t, srv, "device_owner=network:floatingip_agent_gateway") {
		out[p["binding:host_id"].(string)] = append(out[p["binding:host_id"].(string)], p)
	}
	return out
}

func TestFIPAgentGatewayPorts(t *testing.T) {
	srv := noAuth(t)
	snat := regHost(t, srv, "snat", agState(model.AgentTypeL3, "dvr_snat"), agState(model.AgentTypeL2, ""))
	cmp1 := regHost(t, srv, "cmp1", agState(model.AgentTypeL3, "dvr"), agState(model.AgentTypeL2, ""))
	cmp2 := regHost(t, srv, "cmp2", agState(model.AgentTypeL3, "dvr_no_external"), agState(model.AgentTypeL2, ""))
	e := &l3env{srv: srv}
	e.ext = create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	e.extSub = mkSubnet(t, srv, admin, id(e.ext), "172.24.4.0/24")
	e.net = mkNet(t, srv, demo, "private")
	e.sub = mkSubnet(t, srv, demo, id(e.net), "10.0.0.0/24", map[string]any{"enable_dhcp": false})

	d := mkRouter(t, srv, admin, map[string]any{"name": "d", "distributed": true, "project_id": "demo"})
	addIface(t, srv, admin, d, map[string]any{"subnet_id": id(e.sub)})
	if len(fgPorts(t, srv)) != 0 {
		t.Fatalf("fg ports for a router without gateway")
	}
	setGateway(t, srv, admin, d, map[string]any{"network_id": id(e.ext)})
	// The dvr_snat host hosts the router: it gets one.
	checkFG := func(want map[string]*agentHost) {
		t.Helper()
		eventually(t, "fg ports", func() (bool, string) {
			got := fgPorts(t, srv)
			if len(got) != len(want) {
				return false, jsonOf(got)
			}
			for host, h := range want {
				ps := got[host]
				if len(ps) != 1 {
					return false, jsonOf(got)
				}
				p := ps[0]
				ips := fixedIPs(p)
				if p["device_id"] != h.l3() || p["project_id"] != "" || p["network_id"] != id(e.ext) || p["binding:vif_type"] != "bridge" ||
					len(ips) != 1 || ips[0][0] != id(e.extSub) || !strings.HasPrefix(ips[0][1], "172.24.4.") {
					return false, jsonOf(p)
				}
			}
			return true, ""
		})
	}
	checkFG(map[string]*agentHost{"snat": snat})
	// The SNAT ports and gateway port are bound to the SNAT host; the
	// distributed interface is not bound anywhere.
	eventually(t, "SNAT host bindings", func() (bool, string) {
		ports := routerPorts(t, srv, id(d))
		gw, sn, di := ports["network:router_gateway"], ports["network:router_centralized_snat"], ports["network:router_interface_distributed"]
		ok := len(gw) == 1 && len(sn) == 1 && len(di) == 1 && gw[0]["binding:host_id"] == "snat" && sn[0]["binding:host_id"] == "snat" && di[0]["binding:host_id"] == ""
		return ok, jsonOf(ports)
	})
	// An instance port on cmp1 makes cmp1 serve the router: fg port
	// there too; dvr_no_external hosts never get one.
	vm := mkPort(t, srv, admin, id(e.net), map[string]any{"project_id": "demo", "device_owner": "compute:nova", "binding:host_id": "cmp1"})
	mkPort(t, srv, admin, id(e.net), map[string]any{"project_id": "demo", "device_owner": "compute:nova", "binding:host_id": "cmp2"})
	checkFG(map[string]*agentHost{"snat": snat, "cmp1": cmp1})
	_ = cmp2
	// Refused requests change nothing while the controller is idle.
	refused(t, srv, demo, "DELETE", "/v2.0/ports/"+id(fgPorts(t, srv)["cmp1"][0]), nil, 404, "PortNotFound")
	// The instance goes: so does cmp1's fg port.
	expect(t, srv.Do(admin, "DELETE", "/v2.0/ports/"+id(vm), nil), 204, "")
	checkFG(map[string]*agentHost{"snat": snat})
	// No gateway: no fg ports at all.
	setGateway(t, srv, admin, d, nil)
	checkFG(map[string]*agentHost{})
	if d := srv.Dump(); strings.Contains(d, "/c/fgport/") {
		t.Errorf("fg claims left: %s", d)
	}
}

// TestBookkeepingTwoServers: two servers on one etcd both run the
// controller; they never create a second DHCP port or fg port.
func TestBookkeepingTwoServers(t *testing.T) {
	endpoints := testutil.RunEtcd(t)
	opt := testutil.WithEtcd(endpoints, "/two/")
	s1 := noAuth(t, opt)
	s2 := noAuth(t, opt)
	var hosts []*agentHost
	for i, srv := range []*testutil.Server{s1, s2} {
		h := regHost(t, srv, "dhcp"+string(rune('a'+i)), agState(model.AgentTypeDHCP, ""))
		hosts = append(hosts, h)
	}
	snat := regHost(t, s1, "snat", agState(model.AgentTypeL3, "dvr_snat"))
	ext := create(t, s1, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	mkSubnet(t, s1, admin, id(ext), "172.24.4.0/24", map[string]any{"enable_dhcp": false})
	var nets []string
	for i := range 10 {
		srv := []*testutil.Server{s1, s2}[i%2]
		n := mkNet(t, srv, demo, "n")
		mkSubnet(t, srv, demo, id(n), "10.9."+itoa(i)+".0/24")
		nets = append(nets, id(n))
	}
	for i := range 3 {
		mkRouter(t, s1, admin, map[string]any{"name": "d" + itoa(i), "distributed": true, "external_gateway_info": map[string]any{"network_id": id(ext)}})
	}
	for _, n := range nets {
		eventually(t, "one DHCP port per network", func() (bool, string) {
			ps := dhcpPorts(t, s1, n)
			return len(ps) == 1, jsonOf(ps)
		})
	}
	eventually(t, "one fg port", func() (bool, string) {
		got := fgPorts(t, s2)
		return len(got["snat"]) == 1 && len(got) == 1, jsonOf(got)
	})
	_ = hosts
	_ = snat
	// Give both controllers a few more passes, then count again.
	time.Sleep(300 * time.Millisecond)
	for _, n := range nets {
		if ps := dhcpPorts(t, s2, n); len(ps) != 1 {
			t.Errorf("network %s has %d DHCP ports", n, len(ps))
		}
	}
	if got := fgPorts(t, s1); len(got["snat"]) != 1 {
		t.Errorf("fg ports: %v", got)
	}
}

// readOpenRC parses "export K=V" lines.
func readOpenRC(t *testing.T, path string) map[string]string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", path, fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		out[k] = strings.Trim(v, "'")
	}
	return out
}

func TestAgentCredential(t *testing.T) {
	srv := testutil.StartServer(t)
	rc := readOpenRC(t, filepath.Join(srv.DataDir, "agent-openrc"))
	if rc["OS_USERNAME"] != "neutrino-agent" || rc["OS_PROJECT_NAME"] != "service" || rc["OS_PASSWORD"] == "" ||
		rc["OS_AUTH_URL"] != srv.URL+"/identity/v3" || rc["OS_PASSWORD"] != srv.AgentCredentials.Password {
		t.Fatalf("agent-openrc: %v", rc)
	}
	body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"neutrino-agent","domain":{"id":"default"},"password":"` + rc["OS_PASSWORD"] + `"}}},"scope":{"project":{"name":"service","domain":{"id":"default"}}}}}`
	resp, err := http.Post(srv.URL+"/identity/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok := resp.Header.Get("X-Subject-Token")
	if resp.StatusCode != 201 || tok == "" {
		t.Fatalf("agent token: %d", resp.StatusCode)
	}
	agent := &hostmodel.Client{URL: srv.URL, Host: "h1", HTTP: &http.Client{Timeout: 10 * time.Second}, Header: http.Header{"X-Auth-Token": {tok}}}
	if _, err := agent.Report(context.Background(), &syncproto.ReportRequest{Agents: []syncproto.AgentState{agState(model.AgentTypeL2, "")}, StartFlag: true}); err != nil {
		t.Fatalf("agent credential cannot report: %v", err)
	}
	// It can watch: the first event arrives.
	ctx, cancel := context.WithCancel(context.Background())
	m := hostmodel.New()
	errc := make(chan error, 1)
	go func() { errc <- agent.Watch(ctx, m, func(*syncproto.Event) { cancel() }) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		t.Fatalf("agent credential cannot watch: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event")
	}
	<-errc
	if !m.Synced() {
		t.Errorf("model not synced after the first event")
	}
	// But it gets nothing of the tenant API.
	for _, p := range []string{"/v2.0/networks", "/v2.0/agents", "/v2.0/ports"} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.Header.Set("X-Auth-Token", tok)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 403 {
			t.Errorf("agent credential GET %s: %d, want 403", p, r.StatusCode)
		}
	}
	// And a project token may not speak the agent protocol.
	demoAgent := &hostmodel.Client{URL: srv.URL, Host: "h1", Header: http.Header{"X-Auth-Token": {srv.Token("demo")}}}
	if _, err := demoAgent.Report(context.Background(), &syncproto.ReportRequest{Agents: []syncproto.AgentState{agState(model.AgentTypeL2, "")}}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("demo report: %v, want 403", err)
	}
	if err := demoAgent.Watch(context.Background(), hostmodel.New(), nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("demo watch: %v, want 403", err)
	}
	if err := demoAgent.Status(context.Background(), &syncproto.StatusReport{}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("demo status: %v, want 403", err)
	}
}

// TestAgentCredentialShared: servers sharing a store agree on the
// agents' credential.
func TestAgentCredentialShared(t *testing.T) {
	endpoints := testutil.RunEtcd(t)
	s1 := testutil.StartServer(t, testutil.WithEtcd(endpoints, "/cred/"))
	s2 := testutil.StartServer(t, testutil.WithEtcd(endpoints, "/cred/"))
	rc1 := readOpenRC(t, filepath.Join(s1.DataDir, "agent-openrc"))
	rc2 := readOpenRC(t, filepath.Join(s2.DataDir, "agent-openrc"))
	if rc1["OS_PASSWORD"] == "" || rc1["OS_PASSWORD"] != rc2["OS_PASSWORD"] || s1.AgentCredentials.UserID != s2.AgentCredentials.UserID {
		t.Errorf("servers disagree on the agent credential: %v / %v", s1.AgentCredentials, s2.AgentCredentials)
	}
}
