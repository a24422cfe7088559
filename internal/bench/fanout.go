package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
)

// FanoutOptions size the agent fan-out benchmark.
type FanoutOptions struct {
	Hosts    int           // simulated hosts, each with an L2 and a dvr L3 agent and one compute port
	Networks int           // networks the compute ports are spread over
	Routers  int           // DVR routers the networks are attached to (round robin)
	Ops      int           // floating IP operations (associate, disassociate, alternating)
	WideOps  int           // rule changes in the group every port is in (add, delete, alternating)
	Interval time.Duration // pause between operations
	// ShareDecode: an object another simulated agent already decoded
	// at the same revision (compared byte for byte) is not decoded
	// again (hostmodel.Shared). By default every simulated agent
	// decodes every object it receives, as a real agent does; the
	// memory is shared either way.
	ShareDecode bool
	Progress    io.Writer `json:"-"`
	// Exe is the program run as the server process (`<exe> bench
	// fanout-server`; "" = this program), with Env added to its
	// environment (tests re-execute the test binary).
	Exe string   `json:"-"`
	Env []string `json:"-"`
	// ServerHeapProfile and AgentsHeapProfile, if set, receive heap
	// profiles taken once every host synced: the server process's and
	// the simulated agents'.
	ServerHeapProfile io.Writer `json:"-"`
	AgentsHeapProfile io.Writer `json:"-"`
	// ServerCPUProfile (a file the server process creates) and
	// AgentsCPUProfile, if set, receive CPU profiles of the operations.
	ServerCPUProfile string    `json:"-"`
	AgentsCPUProfile io.Writer `json:"-"`
}

// DefaultFanout is the size the targets refer to: 5,000 hosts, 100 per
// network.
func DefaultFanout() FanoutOptions {
	return FanoutOptions{Hosts: 5000, Networks: 50, Routers: 10, Ops: 40, WideOps: 4, Interval: 50 * time.Millisecond}
}

// Targets (issue 15): a change reaches every concerned agent within
// 200 ms (p99), and the server with 5,000 watchers stays within 2 GB.
const (
	FanoutTargetMs    = 200
	FanoutTargetRSSMB = 2048
)

// FanoutReport is the outcome of a fan-out run.
type FanoutReport struct {
	Server    string        `json:"server"`
	GoVersion string        `json:"go_version"`
	CPUs      int           `json:"cpus"`
	Options   FanoutOptions `json:"options"`

	RegisterSec float64 `json:"register_s"`       // reporting all hosts
	TopologySec float64 `json:"topology_s"`       // networks, routers, ports, floating IPs
	SyncSec     float64 `json:"sync_s"`           // all streams connected, every host planned its view
	ViewObjects int     `json:"avg_view_objects"` // per host, after the initial sync
	// Failed watch calls (the agents reconnect and resume) during the
	// initial sync and during the operations.
	SyncRetries int `json:"sync_failed_watch_calls"`
	OpsRetries  int `json:"ops_failed_watch_calls"`

	Series []FanSeries `json:"series"`

	// The server process alone (VmRSS after a GC that returned the freed
	// memory; VmHWM is its peak).
	ServerRSSBeforeMB  float64 `json:"server_rss_before_watchers_mb"`
	ServerRSSMB        float64 `json:"server_rss_with_watchers_mb"`
	ServerHWMMB        float64 `json:"server_peak_rss_mb"`
	ServerPerWatcherKB float64 `json:"server_kb_per_watcher"`
	// The benchmark process: the simulated agents (after GC).
	AgentsHeapMB     float64 `json:"agents_heap_inuse_mb"`
	AgentsRSSMB      float64 `json:"agents_rss_mb"`
	AgentsPerAgentKB float64 `json:"agents_kb_per_agent"`
	Met              bool    `json:"targets_met"`
}

// FanSeries is the latency of one kind of change, from just before its
// API call until each concerned host planned it.
type FanSeries struct {
	Name         string  `json:"name"`
	Ops          int     `json:"ops"`
	Deliveries   int     `json:"deliveries"`    // (operation, concerned host) pairs
	ConcernedAvg float64 `json:"concerned_avg"` // hosts per operation
	ConcernedMax int     `json:"concerned_max"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
	APIP50Ms     float64 `json:"api_p50_ms"`
	Met          bool    `json:"target_met"`
	// Until received (read from the stream and applied to the model,
	// before planning): what the server and the transport take, less
	// the simulated agents' planning (which shares the machine's cores).
	RecvP50Ms float64 `json:"received_p50_ms"`
	RecvP99Ms float64 `json:"received_p99_ms"`
}

// RunFanout starts a server process, registers Hosts simulated hosts in
// this process, connects all their watch streams, then changes floating
// IPs (each concerns the host of its port) and the rules of the group
// every port is in (each concerns every host), and measures, per
// operation and per host whose stream carries it, the time from just
// before the API call until that host planned the change.
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
	if o.Ops < 0 || o.WideOps < 0 {
		return nil, errors.New("--ops and --wide-ops cannot be negative")
	}
	if o.Hosts > 60000 || o.Networks > 250 {
		return nil, errors.New("at most 60000 hosts and 250 networks")
	}
	raiseFDLimit(4*o.Hosts + 1000)
	rep := &FanoutReport{GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Options: o}
	srv, err := startServerProc(ctx, o.Exe, o.Env)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	rep.Server = fmt.Sprintf("neutrino-server in its own process (pid %d, embedded etcd in %s, noauth)", srv.cmd.Process.Pid, srv.dir)
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConns: o.Hosts + 100, MaxIdleConnsPerHost: o.Hosts + 100, IdleConnTimeout: 5 * time.Minute, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 2 * time.Minute, Transport: tr}
	f := &fanout{o: o, rep: rep, srv: srv, url: srv.URL, hc: hc, shared: hostmodel.NewShared(),
		b: &bencher{o: Options{Project: "bench"}, base: srv.URL, hc: hc}}
	if !o.ShareDecode {
		f.shared.DecodeEach()
	}

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
	if err := f.measureMemory(ctx); err != nil {
		return nil, err
	}
	stopProfiles, err := f.cpuProfiles(ctx)
	if err != nil {
		return nil, err
	}
	err = f.operations(ctx)
	stopProfiles()
	if err != nil {
		return nil, err
	}
	rep.Met = rep.ServerRSSMB <= FanoutTargetRSSMB
	for _, s := range rep.Series {
		rep.Met = rep.Met && s.Met
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

// WriteTable prints the fan-out report for people.
func (r *FanoutReport) WriteTable(w io.Writer) {
	o := r.Options
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "server: %s\n%s, %d CPUs\n\n", r.Server, r.GoVersion, r.CPUs)
	fmt.Fprintf(w, "%d hosts (L2 + dvr L3 agent, one compute port each; plan, no apply) on %d networks behind %d DVR routers\n", o.Hosts, o.Networks, o.Routers)
	fmt.Fprintf(w, "setup: register %.1fs, topology %.1fs; all %d hosts connected and planned their view in %.1fs (%d objects per view)\n\n",
		r.RegisterSec, r.TopologySec, o.Hosts, r.SyncSec, r.ViewObjects)
	fmt.Fprintf(w, "%-46s %5s %9s %9s %9s %9s %9s  %-14s %s\n", "change → planned by every concerned host", "ops", "hosts/op", "p50", "p99", "max", "API p50", "target", "")
	fmt.Fprintln(w, strings.Repeat("-", 124))
	for _, s := range r.Series {
		fmt.Fprintf(w, "%-46s %5d %9.0f %7.1fms %7.1fms %7.1fms %7.1fms  %-14s %s\n", s.Name, s.Ops, s.ConcernedAvg, s.P50Ms, s.P99Ms, s.MaxMs, s.APIP50Ms,
			fmt.Sprintf("p99 ≤ %d ms", FanoutTargetMs), verdict(s.Met))
	}
	fmt.Fprintln(w, "\nreceived (read and applied to the model, before planning), p50 / p99:")
	for _, s := range r.Series {
		fmt.Fprintf(w, "  %-44s %7.1fms %7.1fms\n", s.Name, s.RecvP50Ms, s.RecvP99Ms)
	}
	fmt.Fprintf(w, "\nserver process alone: RSS %.0f MB before the watchers, %.0f MB with %d watchers synced (peak %.0f MB): %.1f KB per watcher  target ≤ %d MB %s\n",
		r.ServerRSSBeforeMB, r.ServerRSSMB, o.Hosts, r.ServerHWMMB, r.ServerPerWatcherKB, FanoutTargetRSSMB, verdict(r.ServerRSSMB <= FanoutTargetRSSMB))
	fmt.Fprintf(w, "simulated agents (benchmark process): heap %.0f MB, RSS %.0f MB: %.0f KB per agent\n", r.AgentsHeapMB, r.AgentsRSSMB, r.AgentsPerAgentKB)
	fmt.Fprintf(w, "operations sequential, %v apart; failed watch calls (the agents reconnected): %d during the initial sync, %d during the operations\n",
		o.Interval, r.SyncRetries, r.OpsRetries)
	if o.ShareDecode {
		fmt.Fprintln(w, "simulated agents reused each other's decoded objects (--share-decode): a real agent decodes everything it receives")
	} else {
		fmt.Fprintln(w, "every simulated agent decoded every object it received, as a real agent does")
	}
}

// WriteJSON prints the report for programs.
func (r *FanoutReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
