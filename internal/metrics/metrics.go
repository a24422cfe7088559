// Package metrics is the observability listener shared by neutrino-server
// and neutrino-agent ([DEFAULT] metrics_bind): Prometheus metrics on
// /metrics, liveness on /healthz and readiness on /readyz.
//
// Every component registers its metrics in its own prometheus.Registry
// (never the global default), so that tests can run several servers and
// agents in one process without their metrics colliding.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a private registry with the Go runtime and process
// collectors, which every process exposes.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ReadyFunc says whether the process can do its work; a non-nil error is
// the reason it cannot (shown in /readyz's body).
type ReadyFunc func(ctx context.Context) error

// readyTimeout bounds one readiness check (a store round trip).
const readyTimeout = 2 * time.Second

// Handler serves /metrics from reg, /healthz (200 while the process
// runs) and /readyz (200 "ready" or 503 with the reason).
func Handler(reg *prometheus.Registry, ready ReadyFunc) http.Handler {
	m := http.NewServeMux()
	m.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return m
}

// Listener is a running metrics listener.
type Listener struct {
	srv  *http.Server
	Addr net.Addr
}

// Listen opens bind (host:port) and serves h on it.
func Listen(bind string, h http.Handler, log *slog.Logger) (*Listener, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("metrics_bind %s: %w", bind, err)
	}
	return Serve(ln, h, log), nil
}

// Serve serves h on an open listener (the sandbox hands its agents one
// opened in the root network namespace).
func Serve(ln net.Listener, h http.Handler, log *slog.Logger) *Listener {
	l := &Listener{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, Addr: ln.Addr()}
	go func() {
		if err := l.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Error("metrics listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return l
}

// Close stops the listener.
func (l *Listener) Close() {
	if l != nil {
		l.srv.Close()
	}
}

// Buckets for durations from a millisecond to half a minute: API
// requests, reconciles and host-view computations all fall in it.
var Buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
