package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// Simulated agents: in-process clients of the agent protocol
// (hostmodel.Client + Model, no kernel) on a real server.

var allKinds = []string{model.KindNetwork, model.KindSubnet, model.KindPort, model.KindSG, model.KindSGRule,
	model.KindRouter, model.KindFIP, model.KindAgent, model.KindL3Binding, model.KindDHCPBinding, model.KindDVRMAC}

// simHost is one host's agents: a protocol client, its model and what
// its stream delivered.
type simHost struct {
	t      *testing.T
	name   string
	client *hostmodel.Client
	model  *hostmodel.Model
	agents []syncproto.AgentState
	ids    map[string]string // agent type → id

	mu        sync.Mutex
	delivered map[string]int // "kind/id@rev" → times upserted
	upserted  map[syncproto.Key]bool
	barrier   int

	cancel context.CancelFunc
	done   chan error
}

func agentState(typ string, conf map[string]any) syncproto.AgentState {
	bin := map[string]string{model.AgentTypeL3: "neutron-l3-agent", model.AgentTypeDHCP: "neutron-dhcp-agent", model.AgentTypeL2: "neutron-linuxbridge-agent"}[typ]
	topic := map[string]string{model.AgentTypeL3: "l3_agent", model.AgentTypeDHCP: "dhcp_agent", model.AgentTypeL2: "N/A"}[typ]
	return syncproto.AgentState{AgentType: typ, Binary: bin, Topic: topic, Configurations: conf}
}

func l2State(ip string) syncproto.AgentState {
	return agentState(model.AgentTypeL2, map[string]any{"tunnel_types": []any{"vxlan"}, "tunneling_ip": ip})
}

func newSimHost(t *testing.T, srv *testutil.Server, name string, agents ...syncproto.AgentState) *simHost {
	h := &simHost{
		t: t, name: name, model: hostmodel.New(), agents: agents, ids: map[string]string{},
		delivered: map[string]int{}, upserted: map[syncproto.Key]bool{},
		client: &hostmodel.Client{URL: srv.URL, Host: name, HTTP: &http.Client{Timeout: 30 * time.Second},
			Header: http.Header{"X-Project-Id": {"service"}, "X-Roles": {"service"}}},
	}
	resp, err := h.client.Report(context.Background(), &syncproto.ReportRequest{Agents: agents, StartFlag: true})
	if err != nil {
		t.Fatalf("%s: report: %v", name, err)
	}
	if len(resp.Agents) != len(agents) {
		t.Fatalf("%s: %d agents registered, want %d", name, len(resp.Agents), len(agents))
	}
	for _, a := range resp.Agents {
		if a.ID == "" || !a.AdminStateUp {
			t.Fatalf("%s: agent %+v", name, a)
		}
		h.ids[a.AgentType] = a.ID
	}
	return h
}

// heartbeat reports again (nothing changed).
func (h *simHost) heartbeat() error {
	_, err := h.client.Report(context.Background(), &syncproto.ReportRequest{Agents: h.agents})
	return err
}

// start connects the stream from the model's revision.
func (h *simHost) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() {
		h.done <- h.client.Watch(ctx, h.model, func(ev *syncproto.Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, o := range ev.Upserts {
				h.delivered[fmt.Sprintf("%s/%s@%d", o.Kind, o.ID, o.Rev)]++
				h.upserted[syncproto.Key{Kind: o.Kind, ID: o.ID}] = true
			}
		})
	}()
	h.t.Cleanup(h.stop)
}

// stop cuts the stream.
func (h *simHost) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

func (h *simHost) has(kind, id string) bool { _, ok := h.model.Get(kind, id); return ok }

// got reports whether the stream ever upserted the object.
func (h *simHost) got(kind, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.upserted[syncproto.Key{Kind: kind, ID: id}]
}

// sync makes the host's stream catch up with everything done so far: it
// changes the host's own L2 agent record (in every view of the host) and
// waits until the model holds the change. Events are ordered, so every
// earlier change has then been applied.
func (h *simHost) sync() {
	h.t.Helper()
	h.barrier++
	var l2 *syncproto.AgentState
	for i := range h.agents {
		if h.agents[i].AgentType == model.AgentTypeL2 {
			l2 = &h.agents[i]
		}
	}
	conf := map[string]any{}
	for k, v := range l2.Configurations {
		conf[k] = v
	}
	conf["test_barrier"] = h.barrier
	l2.Configurations = conf
	if err := h.heartbeat(); err != nil {
		h.t.Fatal(err)
	}
	want := float64(h.barrier)
	waitFor(h.t, h.name+" barrier", func() bool {
		var ag model.Agent
		ok, _ := h.model.Decode(model.KindAgent, h.ids[model.AgentTypeL2], &ag)
		return ok && ag.Configurations["test_barrier"] == want
	})
}

func (h *simHost) revs() map[syncproto.Key]int64 {
	out := map[syncproto.Key]int64{}
	for _, k := range allKinds {
		h.model.Each(k, func(o syncproto.Object) { out[syncproto.Key{Kind: o.Kind, ID: o.ID}] = o.Rev })
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkOnly asserts that the object reached exactly the hosts in want
// (after each host caught up).
func checkOnly(t *testing.T, what, kind, objID string, hosts []*simHost, want ...*simHost) {
	t.Helper()
	for _, h := range hosts {
		h.sync()
		should := false
		for _, w := range want {
			should = should || w == h
		}
		if h.has(kind, objID) != should {
			t.Errorf("%s (%s %s) on %s: %v, want %v", what, kind, objID, h.name, h.has(kind, objID), should)
		}
		if !should && h.got(kind, objID) {
			t.Errorf("%s (%s %s) was delivered to %s", what, kind, objID, h.name)
		}
	}
}

func checkNoDuplicates(t *testing.T, hosts ...*simHost) {
	t.Helper()
	for _, h := range hosts {
		h.mu.Lock()
		for k, n := range h.delivered {
			if n > 1 {
				t.Errorf("%s: %s delivered %d times", h.name, k, n)
			}
		}
		h.mu.Unlock()
	}
}

func TestSimulatedAgents(t *testing.T) {
	srv := noAuth(t)
	network1 := newSimHost(t, srv, "network1",
		agentState(model.AgentTypeL3, map[string]any{"agent_mode": "dvr_snat"}),
		agentState(model.AgentTypeDHCP, map[string]any{}),
		l2State("10.0.1.1"))
	compute1 := newSimHost(t, srv, "compute1", agentState(model.AgentTypeL3, map[string]any{"agent_mode": "dvr"}), l2State("10.0.1.11"))
	compute2 := newSimHost(t, srv, "compute2", agentState(model.AgentTypeL3, map[string]any{"agent_mode": "dvr"}), l2State("10.0.1.12"))
	hosts := []*simHost{network1, compute1, compute2}

	// Registration: the agents API (when present) lists them.
	if r := srv.Do(admin, "GET", "/v2.0/agents", nil); r.Status == 200 {
		got := ids(r.List("agents"))
		for _, h := range hosts {
			for typ, aid := range h.ids {
				if !sameSet(intersect(got, []string{aid}), []string{aid}) {
					t.Errorf("agents API lacks %s %s of %s: %v", typ, aid, h.name, got)
				}
			}
		}
		if len(got) != 7 {
			t.Errorf("%d agents listed, want 7", len(got))
		}
	} else {
		t.Logf("GET /v2.0/agents: %d, agents API not available: skipping its assertion", r.Status)
	}
	// A re-report keeps the ids.
	again, err := network1.client.Report(context.Background(), &syncproto.ReportRequest{Agents: network1.agents})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range again.Agents {
		if network1.ids[a.AgentType] != a.ID {
			t.Fatalf("re-report changed %s id: %s → %s", a.AgentType, network1.ids[a.AgentType], a.ID)
		}
	}
	// Tenant credentials may not speak the protocol.
	if r := srv.Do(demo, "POST", syncproto.PathReport, syncproto.ReportRequest{Host: "evil", Agents: network1.agents}); r.Status != 403 {
		t.Fatalf("member report: %d %s", r.Status, r.Raw)
	}
	for _, h := range hosts {
		h.start()
		waitFor(t, h.name+" first sync", h.model.Synced)
		if !h.has(model.KindDVRMAC, h.name) {
			t.Errorf("%s: no DVR MAC of its own", h.name)
		}
	}

	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	mkSubnet(t, srv, admin, id(ext), "172.24.4.0/24")
	net1 := mkNet(t, srv, demo, "net1")
	sub1 := mkSubnet(t, srv, demo, id(net1), "10.1.0.0/24")
	net2 := mkNet(t, srv, demo, "net2")
	sub2 := mkSubnet(t, srv, demo, id(net2), "10.2.0.0/24")

	// A legacy router: only the dvr_snat agent can host it.
	legacy := mkRouter(t, srv, admin, map[string]any{"name": "legacy", "distributed": false, "tenant_id": "demo", "external_gateway_info": map[string]any{"network_id": id(ext)}})
	lif := addIface(t, srv, demo, legacy, map[string]any{"subnet_id": id(sub1)})
	vm1 := mkPort(t, srv, admin, id(net1), map[string]any{"tenant_id": "demo", "device_owner": "compute:nova", "device_id": "vm1", "binding:host_id": "compute1"})
	lfip := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext), "port_id": id(vm1)})
	checkOnly(t, "legacy router", model.KindRouter, id(legacy), hosts, network1)
	checkOnly(t, "legacy binding", model.KindL3Binding, id(legacy), hosts, network1)
	checkOnly(t, "legacy router's FIP", model.KindFIP, id(lfip), hosts, network1)
	gwPorts := portsOf(t, srv, "device_owner=network:router_gateway&device_id="+id(legacy))
	if len(gwPorts) != 1 || !network1.has(model.KindPort, id(gwPorts[0])) || !network1.has(model.KindPort, lif["port_id"].(string)) {
		t.Fatalf("network1 lacks the legacy router's ports")
	}
	var b model.Binding
	if ok, _ := network1.model.Decode(model.KindL3Binding, id(legacy), &b); !ok || len(b.AgentIDs) != 1 || b.AgentIDs[0] != network1.ids[model.AgentTypeL3] {
		t.Fatalf("legacy router binding %+v, want network1's L3 agent", b)
	}
	// compute1 holds its own port (and net1's ports for l2population),
	// not the router.
	if !compute1.has(model.KindPort, id(vm1)) || compute2.has(model.KindPort, id(vm1)) {
		t.Fatalf("vm1 on compute1: %v, on compute2: %v", compute1.has(model.KindPort, id(vm1)), compute2.has(model.KindPort, id(vm1)))
	}

	// A DVR router: present on compute1 once it holds a compute port on
	// one of its subnets, never on compute2.
	dvr := mkRouter(t, srv, admin, map[string]any{"name": "dvr", "distributed": true, "tenant_id": "demo", "external_gateway_info": map[string]any{"network_id": id(ext)}})
	dif := addIface(t, srv, demo, dvr, map[string]any{"subnet_id": id(sub2)})
	checkOnly(t, "DVR router without local ports", model.KindRouter, id(dvr), hosts, network1)
	vm2 := mkPort(t, srv, admin, id(net2), map[string]any{"tenant_id": "demo", "device_owner": "compute:nova", "device_id": "vm2", "binding:host_id": "compute1"})
	checkOnly(t, "DVR router", model.KindRouter, id(dvr), hosts, network1, compute1)
	if !compute1.has(model.KindPort, dif["port_id"].(string)) || !compute1.has(model.KindNetwork, id(net2)) || !compute1.has(model.KindSubnet, id(sub2)) {
		t.Fatal("compute1 lacks the DVR router's interface, network or subnet")
	}
	// The SNAT port lives on network1 (the router is bound there).
	snat := portsOf(t, srv, "device_owner=network:router_centralized_snat&device_id="+id(dvr))
	if len(snat) != 1 || !network1.has(model.KindPort, id(snat[0])) {
		t.Fatalf("SNAT port %v not on network1", snat)
	}
	// Its FIP is served where the port is bound: compute1 only.
	dfip := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext)})
	checkOnly(t, "unassociated FIP", model.KindFIP, id(dfip), hosts)
	expect(t, srv.Do(demo, "PUT", "/v2.0/floatingips/"+id(dfip), map[string]any{"floatingip": map[string]any{"port_id": id(vm2)}}), 200, "")
	checkOnly(t, "DVR FIP", model.KindFIP, id(dfip), hosts, compute1)
	// Unbound port: the FIP is served centrally, on the SNAT host.
	vm3 := mkPort(t, srv, demo, id(net2), map[string]any{"device_owner": "compute:nova", "device_id": "vm3"})
	cfip := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext), "port_id": id(vm3)})
	checkOnly(t, "DVR FIP of an unbound port", model.KindFIP, id(cfip), hosts, network1)
	// Another dvr_snat host serving the DVR router (it has a compute port
	// on its subnet) is not its SNAT host: no central FIPs there.
	network2 := newSimHost(t, srv, "network2", agentState(model.AgentTypeL3, map[string]any{"agent_mode": "dvr_snat"}), l2State("10.0.1.2"))
	network2.start()
	waitFor(t, "network2 first sync", network2.model.Synced)
	mkPort(t, srv, admin, id(net2), map[string]any{"tenant_id": "demo", "device_owner": "compute:nova", "device_id": "vm-n2", "binding:host_id": "network2"})
	network2.sync()
	if !network2.has(model.KindRouter, id(dvr)) || network2.has(model.KindFIP, id(cfip)) || network2.has(model.KindFIP, id(dfip)) {
		t.Fatalf("network2: router %v, central FIP %v, compute1's FIP %v; want only the router",
			network2.has(model.KindRouter, id(dvr)), network2.has(model.KindFIP, id(cfip)), network2.has(model.KindFIP, id(dfip)))
	}
	hosts = append(hosts, network2)

	// Status reports reach the API.
	if err := compute1.client.Status(context.Background(), &syncproto.StatusReport{Ports: map[string]string{id(vm2): "ACTIVE"}, FloatingIPs: map[string]string{id(dfip): "ACTIVE"}}); err != nil {
		t.Fatal(err)
	}
	if p := show(t, srv, demo, "ports", "port", id(vm2)); p["status"] != "ACTIVE" {
		t.Errorf("port status %v after report", p["status"])
	}
	if f := show(t, srv, demo, "floatingips", "floatingip", id(dfip)); f["status"] != "ACTIVE" {
		t.Errorf("FIP status %v after report", f["status"])
	}
	if err := compute1.client.Status(context.Background(), &syncproto.StatusReport{Ports: map[string]string{id(vm2): "SLEEPY"}}); err == nil {
		t.Error("invalid status accepted")
	}
	// ...and flow back to the hosts.
	compute1.sync()
	var fip model.FloatingIP
	if ok, _ := compute1.model.Decode(model.KindFIP, id(dfip), &fip); !ok || fip.Status != "ACTIVE" {
		t.Errorf("compute1's FIP status %q", fip.Status)
	}

	// A stream cut and resumed: changes made while disconnected (create,
	// update, delete) arrive once, and the model equals a fresh sync.
	tmp := mkPort(t, srv, admin, id(net2), map[string]any{"tenant_id": "demo", "device_owner": "compute:nova", "device_id": "vm4", "binding:host_id": "compute1"})
	compute1.sync()
	if !compute1.has(model.KindPort, id(tmp)) {
		t.Fatal("compute1 lacks vm4")
	}
	compute1.stop()
	cutRev := compute1.model.Revision()
	vm5 := mkPort(t, srv, admin, id(net2), map[string]any{"tenant_id": "demo", "device_owner": "compute:nova", "device_id": "vm5", "binding:host_id": "compute1"})
	expect(t, srv.Do(demo, "PUT", "/v2.0/ports/"+id(vm2), map[string]any{"port": map[string]any{"name": "renamed"}}), 200, "")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(tmp), nil), 204, "")
	expect(t, srv.Do(demo, "PUT", "/v2.0/floatingips/"+id(dfip), map[string]any{"floatingip": map[string]any{"port_id": nil}}), 200, "")
	compute1.start()
	compute1.sync()
	if compute1.model.Revision() <= cutRev {
		t.Fatalf("model revision %d did not advance past %d", compute1.model.Revision(), cutRev)
	}
	var p2 model.Port
	if ok, _ := compute1.model.Decode(model.KindPort, id(vm2), &p2); !ok || p2.Name != "renamed" {
		t.Errorf("update lost: %+v", p2)
	}
	if !compute1.has(model.KindPort, id(vm5)) || compute1.has(model.KindPort, id(tmp)) || compute1.has(model.KindFIP, id(dfip)) {
		t.Errorf("create/delete lost: vm5 %v, vm4 %v, fip %v", compute1.has(model.KindPort, id(vm5)), compute1.has(model.KindPort, id(tmp)), compute1.has(model.KindFIP, id(dfip)))
	}
	// Nothing changed since compute1 caught up: same objects, same
	// revisions. The controller may still be finishing what the changes
	// above started (it writes after the API has answered): a difference
	// that one more sync of compute1 resolves was in flight; one that
	// stays is a stale model.
	var diff []string
	for range 5 {
		fresh := &simHost{t: t, name: "compute1 (fresh)", client: compute1.client, model: hostmodel.New(), delivered: map[string]int{}, upserted: map[syncproto.Key]bool{}}
		fresh.start()
		waitFor(t, "fresh sync", fresh.model.Synced)
		fresh.stop()
		if diff = modelDiff(compute1, fresh); len(diff) == 0 {
			break
		}
		compute1.sync()
	}
	for _, d := range diff {
		t.Error(d)
	}
	checkNoDuplicates(t, hosts...)

	// Everything torn down leaves compute1 without routers or FIPs.
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(vm2), nil), 204, "")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(vm5), nil), 204, "")
	compute1.sync()
	if compute1.has(model.KindRouter, id(dvr)) {
		t.Error("compute1 kept the DVR router after its last port went")
	}
	checkNoDuplicates(t, hosts...)
}

// modelDiff lists how two hosts' models differ (objects, revisions).
func modelDiff(a, b *simHost) []string {
	var out []string
	ra, rb := a.revs(), b.revs()
	for k, rev := range ra {
		if rb[k] != rev {
			out = append(out, fmt.Sprintf("%s has %v@%d, %s has @%d", a.name, k, rev, b.name, rb[k]))
		}
	}
	for k, rev := range rb {
		if _, ok := ra[k]; !ok {
			out = append(out, fmt.Sprintf("%s lacks %v@%d", a.name, k, rev))
		}
	}
	return out
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		for _, y := range b {
			if x == y {
				out = append(out, x)
			}
		}
	}
	return out
}

// TestAgentFailover: an L3 agent stops heartbeating and its router
// moves to another live agent without any API call touching the router
// (the bookkeeping controller's job).
func TestAgentFailover(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) { c.AgentDownTime = 2 * time.Second }))
	n1 := newSimHost(t, srv, "network1", agentState(model.AgentTypeL3, map[string]any{"agent_mode": "dvr_snat"}), l2State("10.0.1.1"))
	n2 := newSimHost(t, srv, "network2", agentState(model.AgentTypeL3, map[string]any{"agent_mode": "dvr_snat"}), l2State("10.0.1.2"))
	n1.start()
	n2.start()
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	mkSubnet(t, srv, admin, id(ext), "172.24.4.0/24")
	r := mkRouter(t, srv, admin, map[string]any{"name": "r", "distributed": false, "external_gateway_info": map[string]any{"network_id": id(ext)}})
	n1.sync()
	n2.sync()
	var dying, survivor *simHost
	switch {
	case n1.has(model.KindRouter, id(r)) && !n2.has(model.KindRouter, id(r)):
		dying, survivor = n1, n2
	case n2.has(model.KindRouter, id(r)) && !n1.has(model.KindRouter, id(r)):
		dying, survivor = n2, n1
	default:
		t.Fatalf("router on network1: %v, network2: %v; want exactly one", n1.has(model.KindRouter, id(r)), n2.has(model.KindRouter, id(r)))
	}
	// The survivor keeps heartbeating; the dying host stops (its stream
	// stays open, so it sees the router go).
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				survivor.heartbeat()
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !survivor.has(model.KindRouter, id(r)) || dying.has(model.KindRouter, id(r)) {
		if time.Now().After(deadline) {
			t.Fatalf("router %s did not move from dead %s to live %s within 20s (needs the L3 failover controller): on dying %v, on survivor %v",
				id(r), dying.name, survivor.name, dying.has(model.KindRouter, id(r)), survivor.has(model.KindRouter, id(r)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var b model.Binding
	if ok, _ := survivor.model.Decode(model.KindL3Binding, id(r), &b); !ok || len(b.AgentIDs) != 1 || b.AgentIDs[0] != survivor.ids[model.AgentTypeL3] {
		t.Fatalf("binding after failover: %+v", b)
	}
	// The dead agent shows as down in the agents API, when it exists.
	if resp := srv.Do(admin, "GET", "/v2.0/agents?host="+dying.name+"&agent_type=L3%20agent", nil); resp.Status == 200 {
		if l := resp.List("agents"); len(l) != 1 || l[0]["alive"] != false {
			t.Errorf("dead agent listed as %v", l)
		}
	}
}
