package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/server"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// FanoutOptions size the agent fan-out benchmark.
type FanoutOptions struct {
	Hosts    int           // simulated hosts, each with an L2 and a dvr L3 agent and one compute port
	Networks int           // networks the compute ports are spread over
	Routers  int           // DVR routers the networks are attached to (round robin)
	Ops      int           // floating IP operations (associate, disassociate, alternating)
	Interval time.Duration // pause between operations
	Progress io.Writer
	// OpsProfile, if set, receives a CPU profile of the operations phase.
	OpsProfile io.Writer `json:"-"`
	// HeapProfile, if set, receives a heap profile taken (after GC) once
	// all streams are synced: it tells the server's share from the
	// simulated agents'.
	HeapProfile io.Writer `json:"-"`
}

// DefaultFanout is the size the target refers to.
func DefaultFanout() FanoutOptions {
	return FanoutOptions{Hosts: 1000, Networks: 10, Routers: 5, Ops: 50, Interval: 50 * time.Millisecond}
}

// FanoutTargetMs is the p99 delivery latency target.
const FanoutTargetMs = 100

// FanoutReport is the outcome of a fan-out run.
type FanoutReport struct {
	Server    string        `json:"server"`
	GoVersion string        `json:"go_version"`
	CPUs      int           `json:"cpus"`
	Options   FanoutOptions `json:"options"`

	RegisterSec float64 `json:"register_s"`       // reporting all hosts
	TopologySec float64 `json:"topology_s"`       // networks, routers, ports, floating IPs
	ConnectSec  float64 `json:"connect_s"`        // all streams connected and synced
	ViewObjects int     `json:"avg_view_objects"` // per host, after the initial sync

	Deliveries int     `json:"deliveries"`
	Unexpected int     `json:"unexpected_deliveries"` // to hosts whose view does not hold the FIP
	P50Ms      float64 `json:"delivery_p50_ms"`
	P99Ms      float64 `json:"delivery_p99_ms"`
	MaxMs      float64 `json:"delivery_max_ms"`
	APIP50Ms   float64 `json:"api_p50_ms"`
	APIP99Ms   float64 `json:"api_p99_ms"`
	Met        bool    `json:"target_met"`

	// Process memory after GC (server, embedded etcd and the simulated
	// agents all live in this process).
	HeapBeforeMB  float64 `json:"heap_inuse_before_streams_mb"`
	HeapStreamsMB float64 `json:"heap_inuse_with_streams_mb"`
	SysStreamsMB  float64 `json:"sys_with_streams_mb"`
	ModelsMB      float64 `json:"agent_models_json_mb"` // object JSON held by the simulated agents' models
	Goroutines    int     `json:"goroutines"`
}

type fanHost struct {
	name   string
	client *hostmodel.Client
	model  *hostmodel.Model
	port   string
}

// fanOp is the operation in flight: which FIP, on which host it must
// show up, and when the API call started.
type fanOp struct {
	fip    string
	host   int
	delete bool // disassociation: the FIP leaves the host's view
	t0     time.Time
	done   chan time.Time
	once   sync.Once
}

// RunFanout starts a server in-process, registers Hosts simulated hosts,
// connects all their watch streams, then performs Ops floating IP
// associations and disassociations and measures, per operation and per
// host whose view holds the FIP, the time from just before the API call
// until that host's model applied the event with the change.
func RunFanout(ctx context.Context, o FanoutOptions) (*FanoutReport, error) {
	d := DefaultFanout()
	if o.Hosts <= 0 {
		o.Hosts = d.Hosts
	}
	if o.Networks <= 0 {
		o.Networks = d.Networks
	}
	if o.Routers <= 0 {
		o.Routers = d.Routers
	}
	if o.Ops <= 0 {
		o.Ops = d.Ops
	}
	if o.Hosts > 60000 || o.Networks > 250 {
		return nil, errors.New("at most 60000 hosts and 250 networks")
	}
	raiseFDLimit(4*o.Hosts + 1000)
	rep := &FanoutReport{GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Options: o}
	// Agents report every 30 s and are dead after 75 s (upstream's
	// report_interval and agent_down_time).
	srv, dir, err := startServerWith(ctx, func(c *config.Server) { c.AgentDownTime = 75 * time.Second })
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	defer srv.Close()
	rep.Server = "in-process neutrino-server (embedded etcd in " + dir + ", noauth)"
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConns: o.Hosts + 100, MaxIdleConnsPerHost: o.Hosts + 100, IdleConnTimeout: 5 * time.Minute, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 2 * time.Minute, Transport: tr}
	f := &fanout{o: o, rep: rep, url: srv.URL, hc: hc, streamErr: make(chan error, o.Hosts),
		b: &bencher{o: Options{Project: "bench"}, base: srv.URL, hc: hc}}

	if err := f.registerHosts(ctx); err != nil {
		return nil, err
	}
	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go f.heartbeats(hbCtx)
	if err := f.topology(ctx); err != nil {
		return nil, err
	}
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	if err := f.connectStreams(ctx, streamCtx); err != nil {
		return nil, err
	}
	if err := f.measureViews(); err != nil {
		return nil, err
	}
	f.logf("%d floating IP operations", o.Ops)
	if o.OpsProfile != nil {
		if err := pprof.StartCPUProfile(o.OpsProfile); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	if err := f.operations(ctx); err != nil {
		return nil, err
	}
	return rep, nil
}

// waitSettled waits until the bookkeeping controller created want
// floating IP agent gateway ports, or their number stayed the same for
// 3 s.
func waitSettled(ctx context.Context, b *bencher, want int) error {
	last, since := -1, time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		raw, err := b.call(ctx, "GET", "/v2.0/ports?device_owner=network:floatingip_agent_gateway&fields=id", nil, true, 200)
		if err != nil {
			return err
		}
		var r struct {
			Ports []json.RawMessage `json:"ports"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		n := len(r.Ports)
		if n != last {
			last, since = n, time.Now()
		}
		if n >= want || time.Since(since) > 3*time.Second {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bookkeeping did not settle: %d agent gateway ports after 5 min", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// mentions reports whether the event carries the FIP (as an upsert, or
// as a delete for a disassociation).
func mentions(ev *syncproto.Event, fip string, deleted bool) bool {
	if deleted {
		for _, k := range ev.Deletes {
			if k.Kind == "floatingip" && k.ID == fip {
				return true
			}
		}
		return false
	}
	for _, u := range ev.Upserts {
		if u.Kind == "floatingip" && u.ID == fip {
			return true
		}
	}
	return false
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// parallel runs fn(0..n-1) on workers goroutines; the first error stops
// the rest.
func parallel(workers, n int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// raiseFDLimit lifts the soft open-files limit towards want (up to the
// hard limit): every stream costs a descriptor on each side.
func raiseFDLimit(want int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur >= uint64(want) {
		return
	}
	lim.Cur = min(uint64(want), lim.Max)
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// startServerWith is startServer with a configuration edit.
func startServerWith(ctx context.Context, edit func(*config.Server)) (*server.Server, string, error) {
	dir, err := os.MkdirTemp("", "neutrino-bench-")
	if err != nil {
		return nil, "", err
	}
	cfg := config.Defaults()
	cfg.AuthStrategy = "noauth"
	cfg.BindHost, cfg.BindPort = "127.0.0.1", 0
	edit(&cfg)
	srv, err := server.Start(ctx, server.Options{Config: cfg, DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return srv, dir, nil
}

// WriteTable prints the fan-out report for people.
func (r *FanoutReport) WriteTable(w io.Writer) {
	o := r.Options
	status := "ok"
	if !r.Met {
		status = "MISSED"
	}
	fmt.Fprintf(w, "server: %s\n%s, %d CPUs\n\n", r.Server, r.GoVersion, r.CPUs)
	fmt.Fprintf(w, "%d hosts (L2 + dvr L3 agent, one compute port each) on %d networks behind %d DVR routers\n", o.Hosts, o.Networks, o.Routers)
	fmt.Fprintf(w, "setup: register %.1fs, topology %.1fs, %d streams connected and synced in %.1fs (%d objects per view)\n\n",
		r.RegisterSec, r.TopologySec, o.Hosts, r.ConnectSec, r.ViewObjects)
	fmt.Fprintf(w, "%-44s %8s %10s %10s %10s  %-14s %s\n", "measure", "count", "p50", "p99", "max", "target", "")
	fmt.Fprintln(w, strings.Repeat("-", 108))
	fmt.Fprintf(w, "%-44s %8d %8.2fms %8.2fms %8.2fms  %-14s %s\n", "FIP change: API call → agent model applied", r.Deliveries, r.P50Ms, r.P99Ms, r.MaxMs, fmt.Sprintf("p99 < %d ms", FanoutTargetMs), status)
	fmt.Fprintf(w, "%-44s %8d %8.2fms %8.2fms %10s\n", "FIP update API call alone", o.Ops, r.APIP50Ms, r.APIP99Ms, "")
	fmt.Fprintf(w, "\nunexpected deliveries (to hosts whose view lacks the FIP): %d\n", r.Unexpected)
	fmt.Fprintf(w, "memory with %d streams (whole process after GC: server, embedded etcd AND the %d simulated agents):\n", o.Hosts, o.Hosts)
	fmt.Fprintf(w, "  heap in use %.0f MB (%.0f MB before the streams), sys %.0f MB; agent models hold %.0f MB of object JSON; %d goroutines\n",
		r.HeapStreamsMB, r.HeapBeforeMB, r.SysStreamsMB, r.ModelsMB, r.Goroutines)
	fmt.Fprintf(w, "operations: %d, alternating associate/disassociate, %v apart, sequential\n", o.Ops, o.Interval)
}

// WriteJSON prints the report for programs.
func (r *FanoutReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
