// Package bench measures the Neutron API of a neutrino-server through
// HTTP: creates (sequential and concurrent) and lists of a large port
// collection, next to the project's targets and upstream Neutron's
// figures on the same machine.
//
// By default it starts its own server in-process (embedded etcd in a
// temporary directory, noauth); with a URL it targets a running server.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/server"
)

// Options say what to measure and against which server.
type Options struct {
	URL     string      // a running server; empty = start one in-process (or the catalog's, with Creds)
	Token   string      // X-Auth-Token for URL; empty = Creds, else noauth headers
	Creds   Credentials // Keystone credentials (an openrc's); used when AuthURL is set
	Project string      // noauth project (default "bench")

	Networks    int   // sequential network creates, and subnet creates (one per network)
	Ports       int   // sequential port creates, and concurrent port creates
	Concurrency int   // clients of the concurrent port creates
	ListSizes   []int // total ports when the lists are measured
	ListRuns    int   // runs of each full list
	FilterRuns  int   // runs of each filtered list
	Chunk       int   // ports per bulk create while populating

	// The other collections (objects.go): security groups with rules,
	// routers, floating IPs.
	Groups          int    // security groups created (besides the default one)
	RulesPerGroup   int    // rules each group ends with (its defaults included)
	Routers         int    // routers created
	FloatingIPs     int    // floating IPs created
	ExternalNetwork string // id of the external network of the floating IPs; empty = create one (needs admin)

	Progress io.Writer // progress lines; nil = silent
}

// Defaults are the sizes the targets refer to.
func Defaults() Options {
	return Options{
		Project: "bench", Networks: 200, Ports: 1000, Concurrency: 8,
		ListSizes: []int{5000, 10000}, ListRuns: 20, FilterRuns: 100, Chunk: 100,
		Groups: 50, RulesPerGroup: 10, Routers: 50, FloatingIPs: 100,
	}
}

// Result is one measured operation.
type Result struct {
	Operation string  `json:"operation"`
	Count     int     `json:"count"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	Target    string  `json:"target,omitempty"`
	Met       *bool   `json:"target_met,omitempty"`
	Upstream  string  `json:"upstream_neutron,omitempty"`
	// UpstreamMs is upstream Neutron's time for the same operation at
	// about the same size, measured with this harness on the same machine
	// (upstream.go); Ratio is UpstreamMs over P50Ms (for the concurrent
	// creates, OpsPerSec over upstream's throughput).
	UpstreamMs float64 `json:"upstream_ms,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	// Errors is how many requests failed (api-scale counts them and goes
	// on; p50/p99 are of the others), FirstError the first one's.
	Errors     int    `json:"errors,omitempty"`
	FirstError string `json:"first_error,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Server      string   `json:"server"`
	GoVersion   string   `json:"go_version"`
	CPUs        int      `json:"cpus"`
	Concurrency int      `json:"concurrency"`
	Results     []Result `json:"results"`
}

// Run performs the benchmark.
func Run(ctx context.Context, o Options) (*Report, error) {
	d := Defaults()
	if o.Project == "" {
		o.Project = d.Project
	}
	if o.Networks <= 0 {
		o.Networks = d.Networks
	}
	if o.Ports <= 0 {
		o.Ports = d.Ports
	}
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	if o.ListSizes == nil {
		o.ListSizes = d.ListSizes
	}
	if o.ListRuns <= 0 {
		o.ListRuns = d.ListRuns
	}
	if o.FilterRuns <= 0 {
		o.FilterRuns = d.FilterRuns
	}
	if o.Chunk <= 0 {
		o.Chunk = d.Chunk
	}
	rep := &Report{GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Concurrency: o.Concurrency}
	if err := authenticate(ctx, &o, http.DefaultClient); err != nil {
		return nil, err
	}
	base := o.URL
	if base == "" {
		srv, dir, err := startServer(ctx)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		defer srv.Close()
		base = srv.URL
		rep.Server = "in-process neutrino-server (embedded etcd in " + dir + ", noauth)"
	} else {
		rep.Server = strings.TrimSuffix(base, "/")
	}
	b := &bencher{
		o:    o,
		tag:  rand.Uint32(),
		base: strings.TrimSuffix(base, "/"),
		hc: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: max(64, 2*o.Concurrency),
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	defer b.hc.CloseIdleConnections()
	if err := b.run(ctx, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// startServer runs neutrino-server in this process: embedded etcd in a
// temporary directory, noauth, a free loopback port.
func startServer(ctx context.Context) (*server.Server, string, error) {
	dir, err := os.MkdirTemp("", "neutrino-bench-")
	if err != nil {
		return nil, "", err
	}
	return startServerDir(ctx, dir, nil)
}

// startServerDir is startServer on the data in dir (removed if the
// server cannot start).
func startServerDir(ctx context.Context, dir string, edit func(*config.Server)) (*server.Server, string, error) {
	cfg := config.Defaults()
	if edit != nil {
		edit(&cfg)
	}
	cfg.AuthStrategy = "noauth"
	cfg.BindHost, cfg.BindPort = "127.0.0.1", 0
	srv, err := server.Start(ctx, server.Options{Config: cfg, DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return srv, dir, nil
}

type bencher struct {
	o     Options
	base  string
	hc    *http.Client
	tag   uint32       // tells this run's device ids from earlier runs' on a shared server
	seq   atomic.Int64 // makes device ids unique within the run
	rules int          // security group rules of the listed groups (objects.go)
}

func (b *bencher) logf(format string, args ...any) {
	if b.o.Progress != nil {
		fmt.Fprintf(b.o.Progress, format+"\n", args...)
	}
}

// call sends one request and reads the whole reply. admin adds the admin
// role in noauth mode (for raising quotas).
func (b *bencher) call(ctx context.Context, method, path string, body []byte, admin bool, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.o.Token != "" {
		req.Header.Set("X-Auth-Token", b.o.Token)
	} else {
		req.Header.Set("X-Project-Id", b.o.Project)
		roles := "member,reader"
		if admin {
			roles = "admin,member,reader"
		}
		req.Header.Set("X-Roles", roles)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("%s %s: read reply: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return raw, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, truncate(raw))
	}
	return raw, nil
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// idOf extracts member.id of a create reply.
func idOf(raw []byte, member string) (string, error) {
	var r map[string]struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r[member].ID == "" {
		return "", fmt.Errorf("reply without %s id: %s", member, truncate(raw))
	}
	return r[member].ID, nil
}

func (b *bencher) run(ctx context.Context, rep *Report) error {
	o := b.o
	maxList := 0
	for _, n := range o.ListSizes {
		maxList = max(maxList, n)
	}
	portNet, err := b.setupPortNetwork(ctx, maxList)
	if err != nil {
		return err
	}
	netIDs, err := b.createNetworks(ctx, rep)
	if err != nil {
		return err
	}
	if err := b.createSubnets(ctx, rep, netIDs); err != nil {
		return err
	}

	// Sequential port creates.
	b.logf("creating %d ports sequentially", o.Ports)
	devices, res, err := b.sequentialCreates(ctx, portNet, o.Ports, "port create (sequential)")
	if err != nil {
		return err
	}
	existing := o.Ports // ports on the server made by this run
	res.target("p50 < 5 ms", res.P50Ms < 5)
	res.compare("port create (sequential)", 0)
	rep.add(res)
	if err := b.listAll(ctx, rep, "ports", "port", o.ListRuns); err != nil {
		return err
	}

	// Concurrent port creates.
	b.logf("creating %d ports with %d clients", o.Ports, o.Concurrency)
	devs, lat, wall, err := b.concurrentCreates(ctx, portNet, o.Ports)
	if err != nil {
		return err
	}
	devices = append(devices, devs...)
	existing += o.Ports
	res = result(fmt.Sprintf("port create (%d clients)", o.Concurrency), lat, wall)
	res.target("≥ 500/s", res.OpsPerSec >= 500)
	res.compare(res.Operation, 0)
	rep.add(res)

	// Lists.
	sizes := slices.Clone(o.ListSizes)
	sort.Ints(sizes)
	for _, size := range sizes {
		if size > existing {
			b.logf("populating to %d ports (bulk creates of %d, not measured)", size, o.Chunk)
			devs, err := b.populate(ctx, portNet, size-existing)
			if err != nil {
				return err
			}
			devices = append(devices, devs...)
			existing = size
		}
		if err := b.lists(ctx, rep, devices); err != nil {
			return err
		}
	}

	// Creates stay fast with many ports: sequential creates at the
	// largest size.
	if n := o.Ports / 5; n > 0 && existing > o.Ports {
		b.logf("creating %d ports sequentially with %d existing", n, existing)
		_, res, err := b.sequentialCreates(ctx, portNet, n, fmt.Sprintf("port create (seq., %d exist)", existing))
		if err != nil {
			return err
		}
		res.target("p50 < 5 ms", res.P50Ms < 5)
		res.compare("port create (existing)", existing)
		rep.add(res)
	}
	return b.objects(ctx, rep)
}

// setupPortNetwork creates the network of the ports, with a /16 subnet,
// and raises the caller's quotas for the run. Quotas must not stop the
// run, but they stay enforced (and counted): they are raised, not made
// unlimited. A running server may hold resources of earlier runs.
func (b *bencher) setupPortNetwork(ctx context.Context, maxList int) (string, error) {
	o := b.o
	// The network's reply names the caller's project (the token's, with
	// --token).
	raw, err := b.call(ctx, "POST", "/v2.0/networks", []byte(`{"network":{"name":"bench-ports"}}`), false, 201)
	if err != nil {
		return "", err
	}
	var pn struct {
		Network struct {
			ID        string `json:"id"`
			ProjectID string `json:"project_id"`
		} `json:"network"`
	}
	if err := json.Unmarshal(raw, &pn); err != nil || pn.Network.ID == "" {
		return "", fmt.Errorf("network create: unexpected reply %s", truncate(raw))
	}
	portNet := pn.Network.ID
	if _, err := b.call(ctx, "POST", "/v2.0/subnets", fmt.Appendf(nil, `{"subnet":{"name":"bench-ports","network_id":%q,"ip_version":4,"cidr":"172.16.0.0/16"}}`, portNet), false, 201); err != nil {
		return "", err
	}
	before, err := b.countPorts(ctx)
	if err != nil {
		return "", err
	}
	need := before + max(maxList, 2*o.Ports) + o.Ports + 10
	quota := fmt.Sprintf(`{"quota":{"network":%d,"subnet":%d,"port":%d,"security_group":%d,"security_group_rule":%d,"router":%d,"floatingip":%d}}`,
		10*(o.Networks+10), 10*(o.Networks+10), 2*need+2*o.FloatingIPs, 10*(o.Groups+10), 10*(o.Groups+10)*max(o.RulesPerGroup, 10), 10*(o.Routers+10), 10*(o.FloatingIPs+10))
	if _, err := b.call(ctx, "PUT", "/v2.0/quotas/"+pn.Network.ProjectID, []byte(quota), true, 200); err != nil {
		b.logf("warning: could not raise the quotas (%v); the default quotas may stop the run", err)
	}
	return portNet, nil
}

// createNetworks times sequential network creates.
func (b *bencher) createNetworks(ctx context.Context, rep *Report) ([]string, error) {
	o := b.o
	b.logf("creating %d networks", o.Networks)
	netIDs := make([]string, 0, o.Networks)
	lat := make([]time.Duration, 0, o.Networks)
	start := time.Now()
	for i := range o.Networks {
		t0 := time.Now()
		raw, err := b.call(ctx, "POST", "/v2.0/networks", fmt.Appendf(nil, `{"network":{"name":"bench-net-%d"}}`, i), false, 201)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return nil, err
		}
		id, err := idOf(raw, "network")
		if err != nil {
			return nil, err
		}
		netIDs = append(netIDs, id)
	}
	res := result("network create (sequential)", lat, time.Since(start))
	res.compare("network create", 0)
	rep.add(res)
	return netIDs, b.listAll(ctx, rep, "networks", "network", o.ListRuns)
}

// createSubnets times sequential subnet creates, one per network.
func (b *bencher) createSubnets(ctx context.Context, rep *Report, netIDs []string) error {
	b.logf("creating %d subnets", len(netIDs))
	lat := make([]time.Duration, 0, len(netIDs))
	start := time.Now()
	for i, nid := range netIDs {
		t0 := time.Now()
		_, err := b.call(ctx, "POST", "/v2.0/subnets", fmt.Appendf(nil, `{"subnet":{"name":"bench-subnet-%d","network_id":%q,"ip_version":4,"cidr":"10.%d.%d.0/24"}}`, i, nid, (i>>8)&255, i&255), false, 201)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return err
		}
	}
	res := result("subnet create (sequential)", lat, time.Since(start))
	res.compare("subnet create", 0)
	rep.add(res)
	return nil
}

// lists times listing every port and listing by device_id at the
// server's current size.
func (b *bencher) lists(ctx context.Context, rep *Report, devices []string) error {
	o := b.o
	total, err := b.countPorts(ctx)
	if err != nil {
		return err
	}
	b.logf("listing %d ports", total)
	var lat []time.Duration
	for range o.ListRuns {
		t0 := time.Now()
		if _, err := b.call(ctx, "GET", "/v2.0/ports", nil, false, 200); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	res := result(fmt.Sprintf("list all ports (%d)", total), lat, 0)
	res.Count = o.ListRuns
	if total <= 5000 {
		res.target("< 50 ms", res.P50Ms < 50)
	}
	res.compare("list all ports", total)
	rep.add(res)

	// One check of a filtered reply, then the timed runs.
	if err := b.checkFiltered(ctx, devices[0]); err != nil {
		return err
	}
	lat = lat[:0]
	for range o.FilterRuns {
		dev := devices[rand.IntN(len(devices))]
		t0 := time.Now()
		if _, err := b.call(ctx, "GET", "/v2.0/ports?device_id="+dev, nil, false, 200); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	res = result(fmt.Sprintf("list ports by device_id (%d)", total), lat, 0)
	res.Count = o.FilterRuns
	res.target("< 5 ms", res.P50Ms < 5)
	res.compare("list ports by device_id", total)
	rep.add(res)
	return nil
}
