package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/neutrino-net/neutrino/internal/api"
	"github.com/neutrino-net/neutrino/internal/metrics"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// serverMetrics are neutrino-server's metrics (docs/observability.md).
type serverMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// newServerMetrics registers the server's metrics in reg: the API's
// requests, the store's transactions, the agents' streams, host-view
// computations and the agents alive and dead.
func newServerMetrics(reg *prometheus.Registry, a *api.API, st *store.Store) *serverMetrics {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neutrino_api_requests_total",
			Help: "API requests answered, by resource (first path segment of the matched route), method and HTTP status.",
		}, []string{"resource", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "neutrino_api_request_duration_seconds", Buckets: metrics.Buckets,
			Help: "Time to answer an API request, by resource and method (agents' watch streams excluded: they last as long as the agent).",
		}, []string{"resource", "method"}),
	}
	hostViews := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "neutrino_hostview_compute_duration_seconds", Buckets: metrics.Buckets,
		Help: "Time to compute one host's view for an agent stream (its _count is the number of computations).",
	})
	a.Control().ObserveHostViews(hostViews)
	txn := func(name, help string, get func(store.TxnStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(get(st.TxnStats())) })
	}
	ctl := a.Control()
	reg.MustRegister(m.requests, m.latency, hostViews,
		txn("neutrino_store_txn_commits_total", "Store transactions committed to etcd.",
			func(s store.TxnStats) uint64 { return s.Commits }),
		txn("neutrino_store_txn_conflicts_total", "Store transactions that lost a race (a guarded key had changed) and were not committed.",
			func(s store.TxnStats) uint64 { return s.Conflicts }),
		txn("neutrino_store_txn_retries_total", "Store transactions planned again after a lost race.",
			func(s store.TxnStats) uint64 { return s.Retries }),
		txn("neutrino_store_txn_gave_up_total", "Writes that kept losing races and answered 409.",
			func(s store.TxnStats) uint64 { return s.GaveUp }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "neutrino_agent_streams",
			Help: "Agents' watch streams connected to this server now."},
			func() float64 { return float64(ctl.Streams()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "neutrino_store_revision",
			Help: "The etcd revision this server's cache has reached."},
			func() float64 { return float64(st.Rev()) }),
		agentsCollector{a},
	)
	return m
}

// instrument counts and times every request h answers.
func (m *serverMetrics) instrument(a *api.API, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		res, method := a.Resource(r), methodLabel(r.Method)
		m.requests.WithLabelValues(res, method, strconv.Itoa(sw.code)).Inc()
		if res != "watch" {
			m.latency.WithLabelValues(res, method).Observe(time.Since(start).Seconds())
		}
	})
}

// methodLabel bounds the method label to the methods the API knows.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead:
		return m
	}
	return "OTHER"
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Flush keeps the agents' watch streams flowing through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// agentsCollector counts the agents alive and dead at scrape time.
type agentsCollector struct{ a *api.API }

var agentsDesc = prometheus.NewDesc("neutrino_agents", "Agents (rows of GET /v2.0/agents) by state: alive (heartbeat within agent_down_time) or dead.", []string{"state"}, nil)

func (c agentsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- agentsDesc }

func (c agentsCollector) Collect(ch chan<- prometheus.Metric) {
	alive, dead := c.a.Control().AgentCounts()
	ch <- prometheus.MustNewConstMetric(agentsDesc, prometheus.GaugeValue, float64(alive), "alive")
	ch <- prometheus.MustNewConstMetric(agentsDesc, prometheus.GaugeValue, float64(dead), "dead")
}

// ready: the store answers (a quorum read) and the cache has caught up
// with it.
func (s *Server) ready(ctx context.Context) error {
	if s.Store == nil {
		return errors.New("store not open")
	}
	if err := s.Store.Sync(ctx); err != nil {
		return err
	}
	return nil
}
