package agent

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

func haObjects(rev int64) *syncproto.Event {
	obj := func(kind, id string, v any) syncproto.Object {
		return syncproto.Object{Kind: kind, ID: id, Rev: rev, Data: model.MustJSON(v)}
	}
	return &syncproto.Event{Revision: rev, Upserts: []syncproto.Object{
		obj(model.KindAgent, "l3-h1", &model.Agent{ID: "l3-h1", Host: "h1", AgentType: model.AgentTypeL3}),
		obj(model.KindAgent, "l3-h2", &model.Agent{ID: "l3-h2", Host: "h2", AgentType: model.AgentTypeL3,
			Configurations: map[string]any{haProbeKey: "10.0.1.12"}}),
		obj(model.KindRouter, "r1", &model.Router{Standard: model.Standard{ID: "r1"}, HA: true, AdminStateUp: true}),
		obj(model.KindRouter, "r2", &model.Router{Standard: model.Standard{ID: "r2"}, AdminStateUp: true}),
		obj(model.KindL3Binding, "r1", &model.Binding{ID: "r1", AgentIDs: []string{"l3-h1", "l3-h2"}, ActiveAgentID: "l3-h2"}),
		obj(model.KindL3Binding, "r2", &model.Binding{ID: "r2", AgentIDs: []string{"l3-h2"}}),
	}}
}

// TestHATargets: a standby probes the active host of its HA routers
// only; reading the model while the stream writes it never blocks (the
// model's lock is not taken twice).
func TestHATargets(t *testing.T) {
	a := New(&Config{Host: "h1", ServerURL: "http://127.0.0.1:1"}, nil)
	a.model.Apply(haObjects(1))
	got, mine := a.haTargets()
	want := netip.MustParseAddr("10.0.1.12")
	if mine != "l3-h1" || len(got) != 1 || got[want] == nil || len(got[want].routers) != 1 || got[want].routers[0] != "r1" {
		t.Fatalf("targets %v, mine %q", got, mine)
	}
	var wg sync.WaitGroup
	stop := time.Now().Add(300 * time.Millisecond)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for rev := int64(2); time.Now().Before(stop); rev++ {
			a.model.Apply(haObjects(rev))
		}
	}()
	go func() {
		defer wg.Done()
		for time.Now().Before(stop) {
			a.haTargets()
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("haTargets and Apply deadlocked")
	}
}
