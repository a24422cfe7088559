package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/server"
)

// ScaleOptions size the API benchmark at scale (neutrino bench api-scale).
type ScaleOptions struct {
	Ports           int   // ports, PortsPerNetwork per network, each network on its own router
	PortsPerNetwork int   //
	Routers         int   // routers (at least one per network of ports)
	FloatingIPs     int   // floating IPs, each on a port
	Rules           int   // security group rules, RulesPerGroup per group
	RulesPerGroup   int   //
	Clients         []int // concurrent clients of each measured round
	Runs            int   // requests of each measured operation per round
	ListRuns        int   // requests of "list all ports" per round
	Chunk           int   // objects per bulk create while populating
	Compact         bool  // compact etcd at the end and report the size again
	Progress        io.Writer
	// CreateProfile receives a CPU profile of the first round of port
	// creates (server and client: one process), if not nil.
	CreateProfile io.Writer
}

// DefaultScale is the size of issue 15's item 2.
func DefaultScale() ScaleOptions {
	return ScaleOptions{
		Ports: 100000, PortsPerNetwork: 100, Routers: 10000, FloatingIPs: 50000,
		Rules: 20000, RulesPerGroup: 100, Clients: []int{8, 32}, Runs: 320, ListRuns: 16, Chunk: 100,
	}
}

// ScaleReport is the outcome of an api-scale run.
type ScaleReport struct {
	Sizes       map[string]int     `json:"sizes"`
	Populate    map[string]float64 `json:"populate_seconds"`
	StartupMs   float64            `json:"startup_ms"` // restart of the server on the populated store (cache load)
	RSSMiB      float64            `json:"rss_mib"`    // the process after the restart (server and benchmark client)
	HeapMiB     float64            `json:"heap_mib"`   // live Go heap after the restart
	EtcdDBMiB   float64            `json:"etcd_db_mib"`
	EtcdInUse   float64            `json:"etcd_db_in_use_mib"`
	EtcdRev     int64              `json:"etcd_revision"`
	Compaction  string             `json:"compaction"`
	Results     []Result           `json:"results"`
	CPUs        int                `json:"cpus"`
	GoVersion   string             `json:"go_version"`
	WallSeconds float64            `json:"wall_seconds"`
}

// RunScale populates an in-process server (embedded etcd) to the sizes,
// restarts it to time the cache load, and measures the operations with
// each number of clients.
func RunScale(ctx context.Context, o ScaleOptions) (*ScaleReport, error) {
	d := DefaultScale()
	if o.PortsPerNetwork <= 0 {
		o.PortsPerNetwork = d.PortsPerNetwork
	}
	if o.RulesPerGroup <= 0 {
		o.RulesPerGroup = d.RulesPerGroup
	}
	if o.Chunk <= 0 {
		o.Chunk = d.Chunk
	}
	if o.Runs <= 0 {
		o.Runs = d.Runs
	}
	if o.ListRuns <= 0 {
		o.ListRuns = d.ListRuns
	}
	if len(o.Clients) == 0 {
		o.Clients = d.Clients
	}
	nets := (o.Ports + o.PortsPerNetwork - 1) / o.PortsPerNetwork
	spare := o.Runs * len(o.Clients) // networks for the interface adds
	switch {
	case o.Ports < 1 || o.PortsPerNetwork > 200:
		return nil, fmt.Errorf("at least one port, at most 200 per network (one /24 each)")
	case o.Routers < nets+spare:
		return nil, fmt.Errorf("%d routers: need one per network of ports (%d) and one per measured interface add (%d)", o.Routers, nets, spare)
	case o.FloatingIPs > 65000-2048:
		return nil, fmt.Errorf("the populated floating IPs must fit 100.64.8.0-100.64.255.254")
	case nets+spare > 2000:
		return nil, fmt.Errorf("router gateways (one per network of ports) and the measured floating IPs must fit 100.64.0.0/21")
	case o.FloatingIPs > o.Ports:
		return nil, fmt.Errorf("%d floating IPs for %d ports: each floating IP is on a port", o.FloatingIPs, o.Ports)
	case nets+spare > 60000:
		return nil, fmt.Errorf("too many networks")
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "neutrino-bench-scale-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := startServerIn(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if srv != nil {
			srv.Close()
		}
	}()
	s := &scaleRun{ctx: ctx, o: o, nets: nets, b: &bencher{o: Options{Project: "bench", Progress: o.Progress}, base: srv.URL, hc: scaleClient()}}
	rep := &ScaleReport{
		Sizes: map[string]int{"ports": o.Ports, "networks": nets, "routers": o.Routers, "floating_ips": o.FloatingIPs,
			"security_group_rules": o.Rules, "security_groups": (o.Rules + o.RulesPerGroup - 1) / o.RulesPerGroup},
		Populate: map[string]float64{}, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
	}
	if err := s.populate(rep); err != nil {
		return nil, err
	}
	// Start-up: the same store, a new server (cache load from etcd).
	srv.Close()
	srv = nil
	runtime.GC()
	t0 := time.Now()
	if srv, err = startServerIn(ctx, dir); err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	rep.StartupMs = ms(time.Since(t0))
	runtime.GC()
	debug.FreeOSMemory()
	rep.RSSMiB = rssMiB(os.Getpid())
	var mst runtime.MemStats
	runtime.ReadMemStats(&mst)
	rep.HeapMiB = float64(mst.HeapAlloc) / (1 << 20)
	s.b.base = srv.URL
	for _, c := range o.Clients {
		if err := s.measure(rep, c); err != nil {
			return nil, err
		}
	}
	if err := etcdState(ctx, srv, dir, o.Compact, rep); err != nil {
		return nil, err
	}
	rep.WallSeconds = time.Since(start).Seconds()
	return rep, nil
}

func scaleClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 90 * time.Second}}
}

// startServerIn runs neutrino-server in this process on the data in dir.
func startServerIn(ctx context.Context, dir string) (*server.Server, error) {
	// One VXLAN network per 100 ports and per measured interface add:
	// more than upstream's default VNI range (1:1000).
	srv, _, err := startServerDir(ctx, dir, func(c *config.Server) { c.VNIRanges = "1:100000" })
	return srv, err
}

// etcdState reports the embedded etcd's database size, revision and
// compaction: the server configures etcd to compact history older than
// 100,000 revisions (store.StartEmbedded); with Compact the benchmark
// compacts to the current revision, to show what that frees.
func etcdState(ctx context.Context, srv *server.Server, dir string, compact bool, rep *ScaleReport) error {
	cli := srv.Store.Client()
	dbFile := filepath.Join(dir, "etcd", "member", "snap", "db")
	size := func() float64 {
		st, err := os.Stat(dbFile)
		if err != nil {
			return 0
		}
		return float64(st.Size()) / (1 << 20)
	}
	rep.EtcdDBMiB = size()
	rep.EtcdRev = srv.Store.Rev()
	_, err := cli.Get(ctx, "x", clientv3.WithRev(1))
	oldest := "revision 1 still readable (nothing compacted yet)"
	if err != nil {
		oldest = "history compacted (revision 1: " + err.Error() + ")"
	}
	rep.Compaction = fmt.Sprintf("embedded etcd auto-compaction, revision mode, retention 100000 (at revision %d: %s)", rep.EtcdRev, oldest)
	if st, err := cli.Status(ctx, "embedded"); err == nil {
		rep.EtcdInUse = float64(st.DbSizeInUse) / (1 << 20)
	}
	if !compact {
		return nil
	}
	if _, err := cli.Compact(ctx, rep.EtcdRev, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	// The in-process client cannot defragment (etcd's maintenance
	// adapter panics); what a defragmentation would give back is the
	// space not in use.
	inUse := "unknown"
	if st, err := cli.Status(ctx, "embedded"); err == nil {
		inUse = fmt.Sprintf("%.1f MiB", float64(st.DbSizeInUse)/(1<<20))
	}
	rep.Compaction += fmt.Sprintf("; compacted to %d by the benchmark: database %.1f MiB, in use %s", rep.EtcdRev, size(), inUse)
	return nil
}

// WriteTable prints the report for people.
func (r *ScaleReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "sizes: %d ports on %d networks, %d routers, %d floating IPs, %d security group rules in %d groups\n",
		r.Sizes["ports"], r.Sizes["networks"], r.Sizes["routers"], r.Sizes["floating_ips"], r.Sizes["security_group_rules"], r.Sizes["security_groups"])
	fmt.Fprintf(w, "%s, %d CPUs; whole run %.0f s\n", r.GoVersion, r.CPUs, r.WallSeconds)
	fmt.Fprintf(w, "populate (bulk creates, not measured per request):")
	for _, k := range []string{"networks", "routers", "interfaces", "ports", "floating_ips", "security_group_rules"} {
		if v, ok := r.Populate[k]; ok {
			fmt.Fprintf(w, " %s %.1fs", k, v)
		}
	}
	fmt.Fprintf(w, "\nstart-up on the populated store (cache load): %.0f ms\n", r.StartupMs)
	fmt.Fprintf(w, "after start-up: RSS %.0f MiB (server and benchmark client, one process), Go heap %.0f MiB\n", r.RSSMiB, r.HeapMiB)
	fmt.Fprintf(w, "etcd: database %.1f MiB (in use %.1f MiB), revision %d\ncompaction: %s\n\n", r.EtcdDBMiB, r.EtcdInUse, r.EtcdRev, r.Compaction)
	fmt.Fprintf(w, "%-50s %6s %10s %10s %10s\n", "operation", "count", "ops/s", "p50", "p99")
	fmt.Fprintln(w, strings.Repeat("-", 90))
	var failures []string
	for _, res := range r.Results {
		fail := ""
		if res.Errors > 0 {
			fail = fmt.Sprintf("  %d FAILED", res.Errors)
			failures = append(failures, res.Operation+": "+res.FirstError)
		}
		fmt.Fprintf(w, "%-50s %6d %10.1f %8.2fms %8.2fms%s\n", res.Operation, res.Count, res.OpsPerSec, res.P50Ms, res.P99Ms, fail)
	}
	for _, f := range failures {
		fmt.Fprintf(w, "first failure of %s\n", f)
	}
}

// WriteJSON prints the report for programs.
func (r *ScaleReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
