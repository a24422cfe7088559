package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/linklocal"
	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// simAgent is one simulated host: what a real agent does up to the
// kernel. It reports its agents, follows its host's view through the
// agent protocol (hostmodel.Client) and plans every change
// incrementally with the agent's own planner (internal/agent/plan), but
// applies nothing. A change counts as arrived at a host when the host
// has planned it.
type simAgent struct {
	idx     int
	name    string
	client  *hostmodel.Client
	model   *hostmodel.Model
	planner *plan.Planner
	planRev int64
	port    string
}

// tunnelIP is the simulated host i's VXLAN endpoint.
func tunnelIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(200 + i>>16), byte(i >> 8), byte(i)})
}

func newSimAgent(i int, url string, hc *http.Client, shared *hostmodel.Shared) *simAgent {
	a := &simAgent{idx: i, name: fmt.Sprintf("host-%04d", i), model: hostmodel.NewWithShared(shared)}
	a.client = &hostmodel.Client{URL: url, Host: a.name, HTTP: hc, Header: http.Header{"X-Project-Id": {"service"}, "X-Roles": {"service"}}}
	ll, _ := linklocal.Open("") // in memory: cannot fail
	a.planner = plan.NewPlanner(plan.HostConfig{Host: a.name, Mode: "dvr", LocalIP: tunnelIP(i), ARPResponder: true, L2Population: true,
		SecurityGroups: true, LinkLocal: ll.Get, ReleaseLinkLocal: func(id string) { ll.Release(id) }})
	return a
}

// agentStates are what simulated host i reports: an L2 agent with its
// tunnel address and a dvr-mode L3 agent.
func agentStates(i int) []syncproto.AgentState {
	return []syncproto.AgentState{
		{AgentType: "Linux bridge agent", Binary: "neutron-linuxbridge-agent", Topic: "N/A",
			Configurations: map[string]any{"tunnel_types": []string{"vxlan"}, "tunneling_ip": tunnelIP(i).String()}},
		{AgentType: "L3 agent", Binary: "neutron-l3-agent", Topic: "l3_agent", Configurations: map[string]any{"agent_mode": "dvr"}},
	}
}

// plan plans what the event changed (the agent's reconcile without its
// apply) and forgets the planned changes.
func (a *simAgent) plan() {
	snap, changes, ok := a.model.SnapshotSince(a.name, a.planRev)
	a.planner.Plan(snap, changes, !ok)
	a.planRev = snap.Revision
	a.model.Forget(a.planRev)
}

// watch follows the host's view until ctx ends, reconnecting as an
// agent does (hostmodel.Client.Follow: resume from the model's revision,
// jittered backoff), planning each event that changes something, then
// calling planned with the event, the time it was received (read and
// applied to the model) and the time its plan was done; failed calls,
// whatever ended them, go to failed.
func (a *simAgent) watch(ctx context.Context, planned func(a *simAgent, ev *syncproto.Event, received, done time.Time), failed func(error)) {
	a.client.Follow(ctx, a.model, func(ev *syncproto.Event) {
		received := time.Now()
		if ev.Reset || len(ev.Upserts)+len(ev.Deletes) > 0 {
			a.plan()
		}
		planned(a, ev, received, time.Now())
	}, failed)
}

// fanOp is the change in flight: what marks it in an event, which hosts
// it must reach before it counts as done, and when its API call started.
// Every host whose stream carries it counts as concerned, and its
// latency is recorded.
type fanOp struct {
	series string
	match  func(*syncproto.Event) bool
	want   map[int]bool // nil: every host
	t0     time.Time

	mu      sync.Mutex
	seen    map[int]bool
	lat     []time.Duration
	recv    []time.Duration // until received, before planning
	missing int             // wanted hosts not yet reached
	sealed  bool
	done    chan struct{}
}

func newFanOp(series string, hosts int, want map[int]bool, match func(*syncproto.Event) bool) *fanOp {
	n := len(want)
	if want == nil {
		n = hosts
	}
	return &fanOp{series: series, match: match, want: want, seen: map[int]bool{}, missing: n, done: make(chan struct{})}
}

// arrived records that host i received the change at recv and planned
// it at t.
func (op *fanOp) arrived(i int, recv, t time.Time) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.sealed || op.seen[i] {
		return
	}
	op.seen[i] = true
	op.lat = append(op.lat, t.Sub(op.t0))
	op.recv = append(op.recv, recv.Sub(op.t0))
	if op.want == nil || op.want[i] {
		if op.missing--; op.missing == 0 {
			close(op.done)
		}
	}
}

// seal stops recording and returns the latencies until planned and
// until received (one per concerned host).
func (op *fanOp) seal() (planned, received []time.Duration) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.sealed = true
	return op.lat, op.recv
}

// upserted matches an event that carries kind id (any id of kind if id
// is ""); deleted one that deletes it.
func upserted(kind, id string) func(*syncproto.Event) bool {
	return func(ev *syncproto.Event) bool {
		for _, u := range ev.Upserts {
			if u.Kind == kind && (id == "" || u.ID == id) {
				return true
			}
		}
		return false
	}
}

func deleted(kind, id string) func(*syncproto.Event) bool {
	return func(ev *syncproto.Event) bool {
		for _, k := range ev.Deletes {
			if k.Kind == kind && k.ID == id {
				return true
			}
		}
		return false
	}
}
