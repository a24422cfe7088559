package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/dataplane"
	"github.com/neutrino-net/neutrino/internal/metrics"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// record counts reconciles by result and apply errors by kind, sets the
// objects served, and a complete reconcile zeroes the revision lag.
func TestAgentMetricsRecord(t *testing.T) {
	a := New(&Config{Host: "h1", ServerURL: "http://127.0.0.1:1", NamespaceSuffix: "@x"}, nil)
	if err := a.ready(context.Background()); err == nil {
		t.Fatal("ready before the first apply")
	}
	rb, _ := json.Marshal(model.Router{Standard: model.Standard{ID: "r1"}})
	a.model.Apply(&syncproto.Event{Revision: 7, Reset: true, Upserts: []syncproto.Object{{Kind: model.KindRouter, ID: "r1", Rev: 7, Data: rb}}})
	snap := a.model.Snapshot("h1")

	failed := &dataplane.Result{Namespaces: map[string]*dataplane.NamespaceResult{
		"qrouter-r1@x": {Err: errors.New("boom")}, "snat-r1@x": {}}}
	a.metrics.record(a, snap, failed, errors.New("status 503"), time.Millisecond)
	a.metrics.firstApply.Store(true)
	a.metrics.record(a, snap, &dataplane.Result{}, nil, time.Millisecond)
	if err := a.ready(context.Background()); err != nil {
		t.Fatalf("ready after the first apply: %v", err)
	}
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	f := metrics.Families{}
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"neutrino_agent_reconciles_total", map[string]string{"result": "ok"}, 1},
		{"neutrino_agent_reconciles_total", map[string]string{"result": "error"}, 1},
		{"neutrino_agent_reconcile_duration_seconds", nil, 2},
		{"neutrino_agent_apply_errors_total", map[string]string{"kind": "qrouter"}, 1},
		{"neutrino_agent_apply_errors_total", map[string]string{"kind": "status"}, 1},
		{"neutrino_agent_objects", map[string]string{"kind": "routers"}, 1},
		{"neutrino_agent_objects", map[string]string{"kind": "ports"}, 0},
		{"neutrino_agent_revision_lag", nil, 0},
	} {
		if v, ok := f.Sum(c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if v, ok := f.Sum("neutrino_agent_last_sync_age_seconds", nil); !ok || v < 0 || v > 60 {
		t.Errorf("last sync age %v %v", v, ok)
	}
	// The server moves on: the lag shows until the next complete apply.
	a.model.Apply(&syncproto.Event{Revision: 12})
	mfs, _ = a.Registry().Gather()
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	if v, _ := f.Sum("neutrino_agent_revision_lag", nil); v != 5 {
		t.Errorf("revision lag %v, want 5", v)
	}
}

// The agent serves its metrics on a listener handed to it (the sandbox's
// root-namespace socket), /readyz false until the first apply.
func TestAgentMetricsListener(t *testing.T) {
	a := New(&Config{Host: "h1", ServerURL: "http://127.0.0.1:1"}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.ServeMetricsOn(ln)
	l, err := a.startMetrics()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	base := "http://" + ln.Addr().String()
	if err := metrics.Ready(base); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("readyz before the first apply: %v, want 503", err)
	}
	a.metrics.firstApply.Store(true)
	if err := metrics.Ready(base); err != nil {
		t.Errorf("readyz after: %v", err)
	}
	if _, err := metrics.Scrape(base); err != nil {
		t.Error(err)
	}
}
