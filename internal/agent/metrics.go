package agent

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/dataplane"
	"github.com/neutrino-net/neutrino/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// agentMetrics are neutrino-agent's metrics (docs/observability.md),
// in the agent's own registry.
type agentMetrics struct {
	reg        *prometheus.Registry
	reconciles *prometheus.CounterVec
	duration   prometheus.Histogram
	applyErrs  *prometheus.CounterVec
	objects    *prometheus.GaugeVec
	// bridgePorts: the widest bridge's ports; backlog: the host's
	// net.core.netdev_max_backlog, 0 if unreadable (backlog.go).
	bridgePorts prometheus.Gauge
	backlog     prometheus.Gauge
	// appliedRev is the revision of the last complete reconcile,
	// lastSync its time (unix ns), started the process's start.
	appliedRev atomic.Int64
	lastSync   atomic.Int64
	started    time.Time
	// firstApply is set once the first apply since start is done
	// (/readyz).
	firstApply atomic.Bool
	// ln, if set before Run, is where the metrics are served instead of
	// metrics_bind (the sandbox opens it in the root namespace).
	ln net.Listener
}

func newAgentMetrics(m *hostmodel.Model) *agentMetrics {
	am := &agentMetrics{
		reg: metrics.NewRegistry(),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "neutrino_agent_reconciles_total",
			Help: "Reconcile runs (plan and apply), by result: ok, or error (something is retried)."}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "neutrino_agent_reconcile_duration_seconds",
			Help: "Time of one reconcile run: plan, kernel apply and status report.", Buckets: metrics.Buckets}),
		applyErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "neutrino_agent_apply_errors_total",
			Help: "Apply errors by kind: host (the host namespace), a namespace kind (qrouter, snat, fip, qdhcp), or status (the report to the server)."}, []string{"kind"}),
		objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "neutrino_agent_objects",
			Help: "Objects in the host's view this agent serves, by kind (routers, floatingips, ports, networks)."}, []string{"kind"}),
		bridgePorts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "neutrino_agent_bridge_ports_max",
			Help: "Ports of the host's bridge with the most ports (a network node's external bridge: one per router); keep net.core.netdev_max_backlog at least twice this."}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "neutrino_agent_netdev_max_backlog",
			Help: "The host's net.core.netdev_max_backlog as the agent reads it; 0 where it cannot (an agent in a network namespace other than the initial one)."}),
		started: time.Now(),
	}
	am.reg.MustRegister(am.reconciles, am.duration, am.applyErrs, am.objects, am.bridgePorts, am.backlog,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "neutrino_agent_revision_lag",
			Help: "Revisions the server's view has advanced beyond what the kernel was last completely reconciled to (0 = up to date)."},
			func() float64 { return float64(max(m.Revision()-am.appliedRev.Load(), 0)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "neutrino_agent_last_sync_age_seconds",
			Help: "Seconds since the last complete reconcile (every namespace converged); since the process started if none yet."},
			func() float64 {
				last := am.lastSync.Load()
				if last == 0 {
					return time.Since(am.started).Seconds()
				}
				return time.Since(time.Unix(0, last)).Seconds()
			}),
	)
	// Series that exist from the start, so that a dashboard shows 0
	// rather than nothing.
	for _, k := range []string{"ok", "error"} {
		am.reconciles.WithLabelValues(k)
	}
	for _, k := range []string{"host", "status"} {
		am.applyErrs.WithLabelValues(k)
	}
	return am
}

// record notes one reconcile: its duration, its errors by kind and the
// objects served; complete means nothing is left to retry.
func (am *agentMetrics) record(a *Agent, snap *hostmodel.Snapshot, res *dataplane.Result, statusErr error, took time.Duration) {
	am.duration.Observe(took.Seconds())
	complete := res.HostErr == nil && statusErr == nil && !res.Stopped
	if res.HostErr != nil {
		am.applyErrs.WithLabelValues("host").Inc()
	}
	if statusErr != nil {
		am.applyErrs.WithLabelValues("status").Inc()
	}
	for name, nr := range res.Namespaces {
		if nr.Err == nil || nr.Held {
			continue
		}
		complete = false
		prefix, _, ok := a.ns.Parse(name)
		if !ok {
			prefix = "other"
		}
		am.applyErrs.WithLabelValues(strings.TrimSuffix(prefix, "-")).Inc()
	}
	complete = complete && len(a.retry) == 0
	if complete {
		am.reconciles.WithLabelValues("ok").Inc()
		am.appliedRev.Store(snap.Revision)
		am.lastSync.Store(time.Now().UnixNano())
	} else {
		am.reconciles.WithLabelValues("error").Inc()
	}
	am.objects.WithLabelValues("routers").Set(float64(len(snap.Routers)))
	am.objects.WithLabelValues("floatingips").Set(float64(len(snap.FloatingIPs)))
	am.objects.WithLabelValues("ports").Set(float64(len(snap.Ports)))
	am.objects.WithLabelValues("networks").Set(float64(len(snap.Networks)))
}

// Registry holds the agent's metrics.
func (a *Agent) Registry() *prometheus.Registry { return a.metrics.reg }

// ServeMetricsOn makes Run serve /metrics, /healthz and /readyz on ln
// instead of opening metrics_bind.
func (a *Agent) ServeMetricsOn(ln net.Listener) { a.metrics.ln = ln }

// ready: the first apply since start is done.
func (a *Agent) ready(context.Context) error {
	if !a.metrics.firstApply.Load() {
		if !a.model.Synced() {
			return errors.New("waiting for the first full view from the server")
		}
		return errors.New("first apply not done")
	}
	return nil
}

// startMetrics opens the metrics listener, if any.
func (a *Agent) startMetrics() (*metrics.Listener, error) {
	h := metrics.Handler(a.metrics.reg, a.ready)
	switch {
	case a.metrics.ln != nil:
		return metrics.Serve(a.metrics.ln, h, a.log), nil
	case a.cfg.MetricsBind != "":
		return metrics.Listen(a.cfg.MetricsBind, h, a.log)
	}
	return nil, nil
}
