package plan

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// incremental follows a model with one planner per host, planning after
// every event from the changes since its last plan.
type incremental struct {
	planners map[string]*Planner
	rev      map[string]int64
}

func newIncremental() *incremental {
	in := &incremental{planners: map[string]*Planner{}, rev: map[string]int64{}}
	for _, h := range walkHosts {
		in.planners[h.name] = NewPlanner(hostConfig(h.name, h.mode, h.vtep))
	}
	return in
}

func (in *incremental) plan(m *hostmodel.Model, host string) string {
	s, changes, ok := m.SnapshotSince(host, in.rev[host])
	in.rev[host] = s.Revision
	want, facts := in.planners[host].Plan(s, changes, !ok)
	return want.String() + "# facts\n" + facts.String()
}

func apply(t *testing.T, m *hostmodel.Model, rev int64, c change) {
	t.Helper()
	ev := &syncproto.Event{Revision: rev}
	if c.obj == nil {
		ev.Deletes = []syncproto.Key{{Kind: c.kind, ID: c.id}}
	} else {
		data, err := json.Marshal(c.obj)
		if err != nil {
			t.Fatal(err)
		}
		ev.Upserts = []syncproto.Object{{Kind: c.kind, ID: c.id, Rev: rev, Data: data}}
	}
	m.Apply(ev)
}

// TestIncrementalEqualsFresh: after every event of random replays, each
// host's incremental plan is the plan computed from scratch.
func TestIncrementalEqualsFresh(t *testing.T) {
	for seed := range uint64(10) {
		cs := randomReplay(seed, 7, walkthrough())
		m := hostmodel.New()
		in := newIncremental()
		for i, c := range cs {
			apply(t, m, int64(i+1), c)
			for _, h := range walkHosts {
				got := in.plan(m, h.name)
				s := m.Snapshot(h.name)
				want, facts := Plan(s, hostConfig(h.name, h.mode, h.vtep))
				if w := want.String() + "# facts\n" + facts.String(); got != w {
					t.Fatalf("seed %d, event %d (%s %s), host %s: incremental plan differs:\n--- got\n%s--- want\n%s", seed, i, c.kind, c.id, h.name, got, w)
				}
			}
		}
	}
}

// TestFloatingIPReplansOnlyItsRouter, and the echo of the agent's own
// status report replans nothing.
func TestFloatingIPReplansOnlyItsRouter(t *testing.T) {
	cs := walkthrough()
	// A second router on network1, so that "only its router" means
	// something.
	cs = append(cs,
		change{model.KindRouter, "router2", &model.Router{Standard: model.Standard{ID: "router2"}, AdminStateUp: true}},
		change{model.KindL3Binding, "router2", &model.Binding{ID: "router2", AgentIDs: []string{"l3-network1"}}})
	m := replay(t, cs)
	in := newIncremental()
	in.plan(m, "network1")
	p := in.planners["network1"]
	if p.Last.Routers != 2 || p.Last.Networks == 0 {
		t.Fatalf("first plan: %+v", p.Last)
	}
	rev := int64(len(cs))
	next := func(c change) {
		rev++
		apply(t, m, rev, c)
		in.plan(m, "network1")
	}
	// Disassociate fip1: its router only.
	fip := &model.FloatingIP{Standard: model.Standard{ID: "fip1", ProjectID: "demo"}, FloatingNetworkID: "ext-net",
		FloatingIPAddress: "203.0.113.102", RouterID: ptr("router1"), Status: "ACTIVE"}
	next(change{model.KindFIP, "fip1", fip})
	if p.Last != (Stats{Routers: 1}) {
		t.Fatalf("floating IP change replanned %+v, want router1 only", p.Last)
	}
	if p.facts.FloatingIPs["fip1"].Status != "DOWN" {
		t.Fatalf("fip1 facts %+v", p.facts.FloatingIPs["fip1"])
	}
	// The server echoes the status the agent reported: nothing to plan.
	echo := *fip
	echo.Status, echo.RevisionNumber, echo.UpdatedAt = "DOWN", 7, "2026-12-06T21:00:00Z"
	next(change{model.KindFIP, "fip1", &echo})
	if p.Last != (Stats{}) {
		t.Fatalf("status echo replanned %+v", p.Last)
	}
	s := findPort(cs, "vm-apps")
	s.Status = "DOWN"
	next(change{model.KindPort, "vm-apps", s})
	if p.Last != (Stats{}) {
		t.Fatalf("port status echo replanned %+v", p.Last)
	}
	// A router interface port: its router and its network, not router2
	// nor the other networks.
	qr := findPort(cs, "qr-dmz-net")
	qr.MACAddress = "fa:16:3e:00:09:09"
	next(change{model.KindPort, qr.ID, qr})
	if p.Last != (Stats{Routers: 1, Networks: 1}) {
		t.Fatalf("router port change replanned %+v", p.Last)
	}
}

func findPort(cs []change, id string) *model.Port {
	for _, c := range cs {
		if p, ok := c.obj.(*model.Port); ok && p.ID == id {
			cp := *p
			return &cp
		}
	}
	return nil
}

// TestPoisonedObjectDoesNotBlockOthers: a router that cannot be decoded
// is left out; the host's other routers are planned.
func TestPoisonedObjectDoesNotBlockOthers(t *testing.T) {
	m := replay(t, walkthrough())
	m.Apply(&syncproto.Event{Revision: 1000, Upserts: []syncproto.Object{
		{Kind: model.KindRouter, ID: "router-bad", Rev: 1000, Data: json.RawMessage(`{"id": "router-bad", "routes": "not a list"}`)},
		{Kind: model.KindL3Binding, ID: "router-bad", Rev: 1000, Data: json.RawMessage(`{"id": "router-bad", "agent_ids": ["l3-network1"]}`)},
	}})
	if bad := m.Undecodable(); len(bad) != 1 {
		t.Fatalf("undecodable: %v", bad)
	}
	in := newIncremental()
	got := in.plan(m, "network1")
	want, err := os.ReadFile("testdata/legacy-network1.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("plan with a poisoned router differs from the plan without it:\n%s", got)
	}
}

// TestUnmappedGatewayPhysnet: network1 maps another physical network
// than EXT_NET's. The router's gateway port cannot be bound (facts say
// so, naming the physnet), it has no qg- device, no default route and
// no floating IP NAT, and it still has both internal interfaces with
// forwarding on: it routes between APPS and DMZ.
func TestUnmappedGatewayPhysnet(t *testing.T) {
	m := replay(t, walkthrough())
	s := m.Snapshot("network1")
	cfg := hostConfig("network1", model.ModeDVRSNAT, walkHosts[0].vtep)
	cfg.PhysicalInterfaces = map[string]string{"physnet-other": "eth1"}
	want, facts := Plan(s, cfg)
	if facts.BindingFailed["qg-router1"] != "extnet" || len(facts.BindingFailed) != 1 {
		t.Fatalf("binding failures %v", facts.BindingFailed)
	}
	if facts.FloatingIPs["fip1"].Status != "DOWN" {
		t.Errorf("fip1 %+v", facts.FloatingIPs["fip1"])
	}
	var router *desired.Namespace
	for i := range want.Namespaces {
		if want.Namespaces[i].Name == "qrouter-router1@network1" {
			router = &want.Namespaces[i]
		}
	}
	if router == nil {
		t.Fatalf("no router namespace:\n%s", want.String())
	}
	var devs []string
	for _, v := range router.Veths {
		devs = append(devs, v.Inner+" "+v.Bridge)
	}
	if got := strings.Join(devs, ", "); got != "qr-qr-apps-net brqapps-net, qr-qr-dmz-net brqdmz-net" {
		t.Errorf("router devices: %s", got)
	}
	if len(router.Routes) != 0 || !slices.Contains(router.Sysctls, desired.Sysctl{Key: "net/ipv4/ip_forward", Value: "1"}) {
		t.Errorf("routes %v sysctls %v", router.Routes, router.Sysctls)
	}
	if strings.Contains(want.String(), "brqext-net") {
		t.Errorf("a bridge for the unmapped network:\n%s", want.String())
	}
}

// TestPortChangeReplansOnlyItsNetwork: on network1 (apps-net, dmz-net
// and ext-net present), a port added, moved and removed on apps-net
// replans apps-net's unit only; dmz-net's unit is the same one; a VTEP
// change replans only the networks with ports on that host. Each plan
// is the one computed from scratch.
func TestPortChangeReplansOnlyItsNetwork(t *testing.T) {
	cs := walkthrough()
	m := replay(t, cs)
	in := newIncremental()
	in.plan(m, "network1")
	p := in.planners["network1"]
	if p.Last.Networks != 3 || len(p.netUnits) != 3 {
		t.Fatalf("first plan: %+v, units %d", p.Last, len(p.netUnits))
	}
	dmz, ext := p.netUnits["dmz-net"], p.netUnits["ext-net"]
	rev := int64(len(cs))
	h := walkHosts[0]
	next := func(c change, want Stats) {
		t.Helper()
		rev++
		apply(t, m, rev, c)
		got := in.plan(m, "network1")
		if p.Last != want {
			t.Errorf("%s %s replanned %+v, want %+v", c.kind, c.id, p.Last, want)
		}
		if fresh := planText(t, m, h.name, h.mode, h.vtep); got != fresh {
			t.Fatalf("%s %s: incremental plan differs:\n--- got\n%s--- want\n%s", c.kind, c.id, got, fresh)
		}
	}
	vm := &model.Port{Standard: model.Standard{ID: "vm-new"}, NetworkID: "apps-net", AdminStateUp: true, DeviceOwner: "compute:nova",
		HostID: "compute2", MACAddress: "fa:16:3e:00:01:09", FixedIPs: []model.FixedIP{{SubnetID: "apps-sub", IPAddress: "10.241.0.9"}}}
	next(change{model.KindPort, vm.ID, vm}, Stats{Networks: 1})
	moved := *vm
	moved.HostID = "network1"
	next(change{model.KindPort, vm.ID, &moved}, Stats{Networks: 1})
	next(change{model.KindPort, vm.ID, nil}, Stats{Networks: 1})
	if p.netUnits["dmz-net"] != dmz || p.netUnits["ext-net"] != ext {
		t.Error("a port change on apps-net replanned another network's unit")
	}
	// compute2's VTEP moves: dmz-net has a port there (vm-dmz), apps-net
	// does not. Agent changes replan every router (they read the host's
	// agent mode), not every network.
	agent := &model.Agent{ID: "l2-compute2", AgentType: model.AgentTypeL2, Host: "compute2",
		Configurations: map[string]any{"tunneling_ip": "10.0.1.122"}}
	next(change{model.KindAgent, agent.ID, agent}, Stats{Routers: 1, Networks: 1})
	if p.netUnits["dmz-net"] == dmz || p.netUnits["ext-net"] != ext {
		t.Error("the VTEP change did not replan dmz-net alone")
	}
}

// TestNamespacesNotChangedInPlace: a namespace a Plan returned is never
// changed by a later Plan (a replanned namespace is a new value). The
// agent relies on it: it keeps the namespaces it applied and compares
// the next plan's with them (dataplane.Memory).
func TestNamespacesNotChangedInPlace(t *testing.T) {
	for seed := range uint64(4) {
		cs := randomReplay(seed, 11, walkthrough())
		m := hostmodel.New()
		in := newIncremental()
		prev := map[string]struct {
			ns   []desired.Namespace
			text string
		}{}
		for i, c := range cs {
			apply(t, m, int64(i+1), c)
			for _, h := range walkHosts {
				s, changes, ok := m.SnapshotSince(h.name, in.rev[h.name])
				in.rev[h.name] = s.Revision
				want, _ := in.planners[h.name].Plan(s, changes, !ok)
				if p, seen := prev[h.name]; seen {
					if now := (&desired.Host{Namespaces: p.ns}).String(); now != p.text {
						t.Fatalf("seed %d, event %d (%s %s), host %s: the previous plan's namespaces changed:\n--- then\n%s--- now\n%s", seed, i, c.kind, c.id, h.name, p.text, now)
					}
				}
				ns := slices.Clone(want.Namespaces)
				prev[h.name] = struct {
					ns   []desired.Namespace
					text string
				}{ns, (&desired.Host{Namespaces: ns}).String()}
			}
		}
	}
}

// TestTouchedCoversFactChanges: after every event of random replays,
// every router, floating IP and port whose status facts changed is in
// the planner's Touched (the agent's status report looks at no other
// between full passes).
func TestTouchedCoversFactChanges(t *testing.T) {
	for seed := range uint64(10) {
		cs := randomReplay(seed, 11, walkthrough())
		m := hostmodel.New()
		in := newIncremental()
		prev := map[string]map[string]string{}
		for i, c := range cs {
			apply(t, m, int64(i+1), c)
			for _, h := range walkHosts {
				p := in.planners[h.name]
				s, changes, ok := m.SnapshotSince(h.name, in.rev[h.name])
				in.rev[h.name] = s.Revision
				_, facts := p.Plan(s, changes, !ok)
				now := statusFacts(facts)
				if !p.TouchedAll {
					for id := range now {
						if prev[h.name][id] != now[id] && !p.Touched[id] {
							t.Fatalf("seed %d, event %d (%s %s), host %s: %s changed (%q -> %q) but is not touched", seed, i, c.kind, c.id, h.name, id, prev[h.name][id], now[id])
						}
					}
					for id := range prev[h.name] {
						if _, ok := now[id]; !ok && !p.Touched[id] {
							t.Fatalf("seed %d, event %d (%s %s), host %s: %s dropped but is not touched", seed, i, c.kind, c.id, h.name, id)
						}
					}
				}
				prev[h.name] = now
			}
		}
	}
}

// statusFacts are the facts a status report reads, per object id.
func statusFacts(f Facts) map[string]string {
	out := map[string]string{}
	add := func(id, s string) { out[id] += s + ";" }
	for id, ns := range f.Routers {
		add(id, "router "+ns)
	}
	for id, fip := range f.FloatingIPs {
		add(id, "fip "+fip.Status+" "+fip.Namespace)
	}
	for id, up := range f.Ports {
		add(id, "port "+strconv.FormatBool(up))
	}
	for id, why := range f.BindingFailed {
		add(id, "failed "+why)
	}
	return out
}
