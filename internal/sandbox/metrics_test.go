package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/metrics"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
)

// check is one expectation on a scraped metric: present, and (min > 0)
// at least min.
type check struct {
	name   string
	labels map[string]string
	min    float64
}

func expect(t *testing.T, who string, f metrics.Families, checks []check) {
	t.Helper()
	for _, c := range checks {
		v, ok := f.Sum(c.name, c.labels)
		t.Logf("%s: %s%v = %v", who, c.name, c.labels, v)
		if !ok || v < c.min {
			t.Errorf("%s: %s%v = %v (present %v), want >= %v", who, c.name, c.labels, v, ok, c.min)
		}
	}
}

func scrape(t *testing.T, st *sandbox.State, proc string) metrics.Families {
	t.Helper()
	base := st.MetricsURL(proc)
	if base == "" {
		t.Fatalf("%s has no metrics listener", proc)
	}
	f, err := metrics.Scrape(base)
	if err != nil {
		t.Fatalf("scrape %s: %v", proc, err)
	}
	return f
}

// TestMetricsAfterDemo runs the DVR demo, then scrapes the server's and
// every agent's metrics listener from the root namespace: the named
// metrics are there with the values the demo must have produced. Then an
// agent is restarted while the server is frozen (SIGSTOP): its /readyz
// is 503 until its first apply, 200 after.
func TestMetricsAfterDemo(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{Quiet: true})
	st := b.State
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := st.DemoDVR(ctx, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	expect(t, "server", scrape(t, st, "server"), []check{
		{"neutrino_api_requests_total", map[string]string{"resource": "routers", "method": "POST", "code": "201"}, 1},
		{"neutrino_api_requests_total", map[string]string{"resource": "floatingips"}, 1},
		{"neutrino_api_requests_total", map[string]string{"resource": "agent"}, 1},
		{"neutrino_api_request_duration_seconds", map[string]string{"resource": "networks"}, 1},
		{"neutrino_store_txn_commits_total", nil, 1},
		{"neutrino_store_txn_conflicts_total", nil, 0},
		{"neutrino_store_txn_retries_total", nil, 0},
		{"neutrino_agent_streams", nil, 3},
		{"neutrino_hostview_compute_duration_seconds", nil, 1},
		{"neutrino_agents", map[string]string{"state": "alive"}, 3},
		{"neutrino_agents", map[string]string{"state": "dead"}, 0},
	})
	if err := metrics.Ready(st.MetricsURL("server")); err != nil {
		t.Errorf("server /readyz: %v", err)
	}
	for _, h := range st.Hosts() {
		proc := "agent-" + h.Name
		checks := []check{
			{"neutrino_agent_reconciles_total", map[string]string{"result": "ok"}, 1},
			{"neutrino_agent_reconcile_duration_seconds", nil, 1},
			{"neutrino_agent_apply_errors_total", nil, 0},
			{"neutrino_agent_objects", map[string]string{"kind": "routers"}, 1},
			{"neutrino_agent_objects", map[string]string{"kind": "ports"}, 1},
			{"neutrino_agent_objects", map[string]string{"kind": "networks"}, 1},
			{"neutrino_agent_objects", map[string]string{"kind": "floatingips"}, 0},
			{"neutrino_agent_revision_lag", nil, 0},
			{"neutrino_agent_last_sync_age_seconds", nil, 0},
		}
		if h.Name == "compute1" {
			// The demo's floating IP is served from compute1's fip-.
			checks = append(checks, check{"neutrino_agent_objects", map[string]string{"kind": "floatingips"}, 1})
		}
		expect(t, proc, scrape(t, st, proc), checks)
		if err := metrics.Ready(st.MetricsURL(proc)); err != nil {
			t.Errorf("%s /readyz: %v", proc, err)
		}
	}
	readyAfterFirstApply(t, st, "compute2")
}

// readyAfterFirstApply restarts host's agent with the server frozen, so
// that it cannot get its view: /healthz answers, /readyz says 503; once
// the server runs again the agent applies and /readyz says 200.
func readyAfterFirstApply(t *testing.T, st *sandbox.State, host string) {
	srv, alive, err := st.Proc("server")
	if err != nil || !alive {
		t.Fatalf("server process: %v alive %v", err, alive)
	}
	if err := st.StopAgent(host, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(srv.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			syscall.Kill(srv.PID, syscall.SIGCONT)
			thawed = true
		}
	}
	defer thaw()
	if _, err := st.StartAgent(host); err != nil {
		t.Fatal(err)
	}
	base := st.MetricsURL("agent-" + host)
	if err := poll(20*time.Second, func() error { return health(base) }); err != nil {
		t.Fatalf("agent-%s /healthz: %v", host, err)
	}
	if err := metrics.Ready(base); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("agent-%s /readyz before its first apply: %v, want 503", host, err)
	}
	thaw()
	if err := poll(60*time.Second, func() error { return metrics.Ready(base) }); err != nil {
		t.Errorf("agent-%s /readyz after the server came back: %v", host, err)
	}
}

func health(base string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %s", resp.Status)
	}
	return nil
}

func poll(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
