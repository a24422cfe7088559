package server_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/metrics"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// The server's metrics listener (metrics_bind) counts API requests by
// resource, method and status, the store's transactions and host-view
// computations, and answers /readyz once the store is reachable.
func TestServerMetrics(t *testing.T) {
	srv := testutil.StartServer(t, testutil.NoAuth(), testutil.WithConfig(func(c *config.Server) { c.MetricsBind = "127.0.0.1:0" }))
	if srv.Metrics == nil {
		t.Fatal("metrics_bind set, no listener")
	}
	base := "http://" + srv.Metrics.Addr.String()
	if err := metrics.Ready(base); err != nil {
		t.Fatalf("readyz: %v", err)
	}
	smallNetwork(t, srv, testutil.Admin, "10.9.0.0/29")
	if r := srv.Do(testutil.Admin, "GET", "/v2.0/networks/nonexistent", nil); r.Status != 404 {
		t.Fatalf("GET missing network: %d", r.Status)
	}
	f, err := metrics.Scrape(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"neutrino_api_requests_total", map[string]string{"resource": "networks", "method": "POST", "code": "201"}, 1},
		{"neutrino_api_requests_total", map[string]string{"resource": "subnets", "method": "POST", "code": "201"}, 1},
		{"neutrino_api_requests_total", map[string]string{"resource": "networks", "method": "GET", "code": "404"}, 1},
		{"neutrino_api_request_duration_seconds", map[string]string{"resource": "networks", "method": "POST"}, 1},
		{"neutrino_store_txn_commits_total", nil, 2},
		{"neutrino_store_txn_conflicts_total", nil, 0},
		{"neutrino_store_txn_retries_total", nil, 0},
		{"neutrino_agent_streams", nil, 0},
		{"neutrino_hostview_compute_duration_seconds", nil, 0},
		{"neutrino_agents", map[string]string{"state": "alive"}, 0},
		{"neutrino_agents", map[string]string{"state": "dead"}, 0},
	} {
		v, ok := f.Sum(c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want >= %v", c.name, c.labels, v, ok, c.min)
		}
	}
}

// Without metrics_bind there is no listener.
func TestNoMetricsListenerByDefault(t *testing.T) {
	srv := testutil.StartServer(t, testutil.NoAuth())
	if srv.Metrics != nil {
		t.Errorf("listener on %s without metrics_bind", srv.Metrics.Addr)
	}
}

// /readyz says 503 while etcd does not answer (haproxy then stops
// sending to this server), and ready again once it does; /healthz stays
// 200 throughout.
func TestServerNotReadyWithoutEtcd(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	srv := testutil.StartServer(t, testutil.NoAuth(), testutil.WithEtcd(etcd.Endpoints, "/n/"), testutil.WithStore(time.Second),
		testutil.WithConfig(func(c *config.Server) { c.MetricsBind = "127.0.0.1:0" }))
	base := "http://" + srv.Metrics.Addr.String()
	if err := metrics.Ready(base); err != nil {
		t.Fatalf("readyz with etcd up: %v", err)
	}
	if err := etcd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, etcd.Process.Pid)
	stopped := true
	defer func() {
		if stopped {
			etcd.Process.Signal(syscall.SIGCONT)
		}
	}()
	if err := metrics.Ready(base); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("readyz with etcd stopped: %v, want 503", err)
	}
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz with etcd stopped: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	etcd.Process.Signal(syscall.SIGCONT)
	stopped = false
	deadline := time.Now().Add(30 * time.Second)
	for metrics.Ready(base) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready 30s after etcd resumed: %v", metrics.Ready(base))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
