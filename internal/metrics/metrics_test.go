package metrics

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The listener serves the registry's metrics, /healthz always, and
// /readyz following the ready function.
func TestListener(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_things_total", Help: "things"}, []string{"kind"})
	reg.MustRegister(c)
	c.WithLabelValues("a").Add(2)
	c.WithLabelValues("b").Add(3)
	var ready atomic.Bool
	l, err := Listen("127.0.0.1:0", Handler(reg, func(context.Context) error {
		if !ready.Load() {
			return errors.New("not yet")
		}
		return nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	base := "http://" + l.Addr.String()

	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := Ready(base); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "not yet") {
		t.Errorf("readyz before: %v, want 503 naming the reason", err)
	}
	ready.Store(true)
	if err := Ready(base); err != nil {
		t.Errorf("readyz after: %v", err)
	}
	f, err := Scrape(base)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Sum("test_things_total", nil); !ok || v != 5 {
		t.Errorf("sum = %v %v, want 5", v, ok)
	}
	if v, _ := f.Sum("test_things_total", map[string]string{"kind": "b"}); v != 3 {
		t.Errorf("kind b = %v, want 3", v)
	}
	if _, ok := f.Sum("go_goroutines", nil); !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := f.Sum("absent_metric", nil); ok {
		t.Error("absent metric reported present")
	}
}

// Two registries in one process do not collide (each component has its
// own).
func TestPrivateRegistries(t *testing.T) {
	for range 2 {
		reg := NewRegistry()
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "test_same_total", Help: "x"}))
	}
}
