package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// fanout is one run of the fan-out benchmark, phase by phase.
type fanout struct {
	o      FanoutOptions
	rep    *FanoutReport
	b      *bencher
	srv    *serverProc
	url    string
	hc     *http.Client
	shared *hostmodel.Shared
	hosts  []*simAgent
	ext    string   // the external network
	fips   []string // unassociated floating IPs
	common string   // the security group every port is in
	// cur is the operation in flight, which the streams look for.
	cur atomic.Pointer[fanOp]
	// retries counts watch calls that failed (the agents reconnect).
	retries  atomic.Int64
	lastFail atomic.Pointer[string]
}

func (f *fanout) logf(format string, args ...any) {
	if f.o.Progress != nil {
		fmt.Fprintf(f.o.Progress, format+"\n", args...)
	}
}

func (f *fanout) admin(ctx context.Context, method, path, body string, want int) ([]byte, error) {
	var raw []byte
	if body != "" {
		raw = []byte(body)
	}
	return f.b.call(ctx, method, path, raw, true, want)
}

func (f *fanout) create(ctx context.Context, coll, member, body string) (string, error) {
	raw, err := f.admin(ctx, "POST", "/v2.0/"+coll, body, 201)
	if err != nil {
		return "", err
	}
	return idOf(raw, member)
}

func (f *fanout) registerHosts(ctx context.Context) error {
	f.logf("registering %d hosts", f.o.Hosts)
	f.hosts = make([]*simAgent, f.o.Hosts)
	start := time.Now()
	err := parallel(16, f.o.Hosts, func(i int) error {
		h := newSimAgent(i, f.url, f.hc, f.shared)
		f.hosts[i] = h
		_, err := h.client.Report(ctx, &syncproto.ReportRequest{Agents: agentStates(i), StartFlag: true})
		return err
	})
	f.rep.RegisterSec = time.Since(start).Seconds()
	return err
}

// heartbeats reports every host every 30 s, spread over the period,
// until ctx ends.
func (f *fanout) heartbeats(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second / time.Duration(f.o.Hosts))
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % f.o.Hosts {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f.hosts[i].client.Report(ctx, &syncproto.ReportRequest{Agents: agentStates(i)})
		}
	}
}

// topology creates DVR routers with a gateway, networks attached to
// them, a security group per network (its ports may reach each other)
// and one every port is in, one compute port per host and unassociated
// floating IPs; then it reads the server's memory.
func (f *fanout) topology(ctx context.Context) error {
	o := f.o
	f.logf("creating %d networks, %d DVR routers, %d ports", o.Networks, o.Routers, o.Hosts)
	start := time.Now()
	nFIP := (o.Ops + 1) / 2
	q := fmt.Sprintf(`{"quota":{"network":%d,"subnet":%d,"port":%d,"router":%d,"floatingip":%d,"security_group":%d,"security_group_rule":%d}}`,
		o.Networks+10, o.Networks+10, 2*o.Hosts+nFIP+o.Routers*(o.Networks+2)+100, o.Routers+10, nFIP+10, o.Networks+10, 4*o.Networks+o.WideOps+100)
	if _, err := f.admin(ctx, "PUT", "/v2.0/quotas/bench", q, 200); err != nil {
		return err
	}
	nets, err := f.routedNetworks(ctx)
	if err != nil {
		return err
	}
	groups, err := f.groups(ctx)
	if err != nil {
		return err
	}
	err = parallel(8, o.Hosts, func(i int) error {
		var err error
		n := i % o.Networks
		f.hosts[i].port, err = f.create(ctx, "ports", "port", fmt.Sprintf(`{"port":{"network_id":%q,"device_owner":"compute:nova","device_id":"bench-vm%d","binding:host_id":%q,"security_groups":[%q,%q]}}`,
			nets[n], i, f.hosts[i].name, groups[n], f.common))
		return err
	})
	if err != nil {
		return err
	}
	// The bookkeeping controller gives every host serving a DVR router
	// with a gateway a floating IP agent gateway port: let it finish
	// before measuring.
	f.logf("waiting for the floating IP agent gateway ports")
	if err := waitSettled(ctx, f.b, o.Hosts); err != nil {
		return err
	}
	f.fips = make([]string, nFIP)
	for i := range f.fips {
		if f.fips[i], err = f.create(ctx, "floatingips", "floatingip", fmt.Sprintf(`{"floatingip":{"floating_network_id":%q}}`, f.ext)); err != nil {
			return err
		}
	}
	f.rep.TopologySec = time.Since(start).Seconds()
	m, err := f.srv.memory(ctx, nil)
	f.rep.ServerRSSBeforeMB = m.RSS
	return err
}

// groups creates the group every port is in (f.common; its rules name
// no group, so it brings no other host's ports into a view) and one
// group per network whose members may reach each other (a rule with
// the group itself as remote group, as a default group has), returned
// by network.
func (f *fanout) groups(ctx context.Context) ([]string, error) {
	var err error
	if f.common, err = f.create(ctx, "security-groups", "security_group", `{"security_group":{"name":"bench-common"}}`); err != nil {
		return nil, err
	}
	out := make([]string, f.o.Networks)
	for i := range out {
		if out[i], err = f.create(ctx, "security-groups", "security_group", fmt.Sprintf(`{"security_group":{"name":"bench-n%d"}}`, i)); err != nil {
			return nil, err
		}
		if _, err := f.create(ctx, "security-group-rules", "security_group_rule", fmt.Sprintf(`{"security_group_rule":{"security_group_id":%q,"direction":"ingress","ethertype":"IPv4","remote_group_id":%q}}`, out[i], out[i])); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// routedNetworks creates the external network (flat, as external
// networks usually are), the DVR routers and the
// tenant networks (each attached to a router), and returns the latter.
func (f *fanout) routedNetworks(ctx context.Context) ([]string, error) {
	o := f.o
	var err error
	if f.ext, err = f.create(ctx, "networks", "network", `{"network":{"name":"bench-public","router:external":true,"provider:network_type":"flat","provider:physical_network":"public"}}`); err != nil {
		return nil, err
	}
	if _, err := f.create(ctx, "subnets", "subnet", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"100.64.0.0/16"}}`, f.ext)); err != nil {
		return nil, err
	}
	routers := make([]string, o.Routers)
	for i := range routers {
		if routers[i], err = f.create(ctx, "routers", "router", fmt.Sprintf(`{"router":{"name":"bench-dvr%d","distributed":true,"external_gateway_info":{"network_id":%q}}}`, i, f.ext)); err != nil {
			return nil, err
		}
	}
	nets := make([]string, o.Networks)
	for i := range nets {
		if nets[i], err = f.create(ctx, "networks", "network", fmt.Sprintf(`{"network":{"name":"bench-n%d"}}`, i)); err != nil {
			return nil, err
		}
		sub, err := f.create(ctx, "subnets", "subnet", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"10.%d.0.0/16"}}`, nets[i], i))
		if err != nil {
			return nil, err
		}
		if _, err := f.admin(ctx, "PUT", "/v2.0/routers/"+routers[i%o.Routers]+"/add_router_interface", fmt.Sprintf(`{"subnet_id":%q}`, sub), 200); err != nil {
			return nil, err
		}
	}
	return nets, nil
}

// connectStreams connects every host's watch stream (living, with
// reconnections, until streamCtx ends) and waits until each has planned
// its first event.
func (f *fanout) connectStreams(ctx, streamCtx context.Context) error {
	f.logf("connecting %d watch streams", f.o.Hosts)
	var synced sync.WaitGroup
	start := time.Now()
	failed := func(err error) {
		f.retries.Add(1)
		msg := err.Error()
		f.lastFail.Store(&msg)
	}
	for _, h := range f.hosts {
		synced.Add(1)
		var first sync.Once
		go h.watch(streamCtx, func(h *simAgent, ev *syncproto.Event, recv, at time.Time) {
			first.Do(synced.Done)
			if op := f.cur.Load(); op != nil && op.match(ev) {
				op.arrived(h.idx, recv, at)
			}
		}, failed)
	}
	waitSynced := make(chan struct{})
	go func() { synced.Wait(); close(waitSynced) }()
	select {
	case <-waitSynced:
	case <-time.After(8 * time.Minute):
		return fmt.Errorf("not every host synced within 8 minutes (%d failed watch calls; last: %s)", f.retries.Load(), f.lastFailure())
	case <-ctx.Done():
		return ctx.Err()
	}
	f.rep.SyncSec = time.Since(start).Seconds()
	f.rep.SyncRetries = int(f.retries.Load())
	return nil
}

func (f *fanout) lastFailure() string {
	if p := f.lastFail.Load(); p != nil {
		return *p
	}
	return "none"
}

// measureMemory records the size of the hosts' views, the server
// process's memory with every stream synced and the simulated agents'.
func (f *fanout) measureMemory(ctx context.Context) error {
	var objs int
	for _, h := range f.hosts {
		objs += len(h.model.Revisions())
	}
	rep := f.rep
	rep.ViewObjects = objs / f.o.Hosts
	m, err := f.srv.memory(ctx, f.o.ServerHeapProfile)
	if err != nil {
		return err
	}
	rep.ServerRSSMB, rep.ServerHWMMB = m.RSS, m.HWM
	rep.ServerPerWatcherKB = (m.RSS - rep.ServerRSSBeforeMB) * 1024 / float64(f.o.Hosts)
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.AgentsHeapMB = mb(ms.HeapInuse)
	if self, err := memoryOf(os.Getpid()); err == nil {
		rep.AgentsRSSMB = self.RSS
	}
	rep.AgentsPerAgentKB = rep.AgentsRSSMB * 1024 / float64(f.o.Hosts)
	if f.o.AgentsHeapProfile != nil {
		if err := pprof.Lookup("heap").WriteTo(f.o.AgentsHeapProfile, 0); err != nil {
			return err
		}
	}
	f.logf("%d hosts synced in %.1fs, %d objects per view; server RSS %.0f MB (%.0f MB before the watchers), agents RSS %.0f MB",
		f.o.Hosts, rep.SyncSec, rep.ViewObjects, rep.ServerRSSMB, rep.ServerRSSBeforeMB, rep.AgentsRSSMB)
	return nil
}

// cpuProfiles starts the CPU profiles asked for; the function returned
// stops them.
func (f *fanout) cpuProfiles(ctx context.Context) (func(), error) {
	var stops []func()
	if f.o.ServerCPUProfile != "" {
		if err := f.srv.get(ctx, "/debug/cpu/start?file="+url.QueryEscape(f.o.ServerCPUProfile), io.Discard); err != nil {
			return nil, err
		}
		stops = append(stops, func() { f.srv.get(context.Background(), "/debug/cpu/stop", io.Discard) })
	}
	if f.o.AgentsCPUProfile != nil {
		if err := pprof.StartCPUProfile(f.o.AgentsCPUProfile); err != nil {
			return nil, err
		}
		stops = append(stops, pprof.StopCPUProfile)
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}, nil
}

// operations runs the floating IP series, then the rule series.
func (f *fanout) operations(ctx context.Context) error {
	f.logf("%d floating IP operations, %d rule operations", f.o.Ops, f.o.WideOps)
	fipOps, err := f.fipOps(ctx)
	if err != nil {
		return err
	}
	ruleOps, err := f.ruleOps(ctx)
	if err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		ops  []fanDone
	}{{"floating IP associate/disassociate", fipOps}, {"rule added to/removed from every port's group", ruleOps}} {
		if len(s.ops) > 0 {
			f.rep.Series = append(f.rep.Series, seriesOf(s.name, s.ops))
		}
	}
	return nil
}

// fanDone is one finished operation.
type fanDone struct {
	api  time.Duration
	lat  []time.Duration // one per concerned host
	recv []time.Duration // the same, until received (before planning)
}

// fipOps associates and disassociates the floating IPs in turn; each
// must reach the host of the port.
func (f *fanout) fipOps(ctx context.Context) ([]fanDone, error) {
	var out []fanDone
	hostOf := make([]int, len(f.fips))
	for j := range f.o.Ops {
		k := j / 2
		body, fip := `{"floatingip":{"port_id":null}}`, f.fips[k]
		match := deleted("floatingip", fip)
		if j%2 == 0 {
			hostOf[k] = rand.IntN(f.o.Hosts)
			body = fmt.Sprintf(`{"floatingip":{"port_id":%q}}`, f.hosts[hostOf[k]].port)
			match = upserted("floatingip", fip)
		}
		op := newFanOp("fip", f.o.Hosts, map[int]bool{hostOf[k]: true}, match)
		d, _, err := f.runOp(ctx, op, "PUT", "/v2.0/floatingips/"+fip, body, 200)
		if err != nil {
			return nil, fmt.Errorf("floating IP operation %d: %w", j, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// ruleOps adds a rule to the group every port is in and removes it
// again, in turn; each must reach every host.
func (f *fanout) ruleOps(ctx context.Context) ([]fanDone, error) {
	var out []fanDone
	var rule string
	for j := range f.o.WideOps {
		method, path, body, want := "DELETE", "/v2.0/security-group-rules/"+rule, "", 204
		match := deleted("security_group_rule", rule)
		if j%2 == 0 {
			method, path, want = "POST", "/v2.0/security-group-rules", 201
			body = fmt.Sprintf(`{"security_group_rule":{"security_group_id":%q,"direction":"ingress","ethertype":"IPv4","protocol":"tcp","port_range_min":%d,"port_range_max":%d,"remote_ip_prefix":"198.51.100.0/24"}}`,
				f.common, 1000+j, 1000+j)
			// The rule's ID is known only when the call returns, which
			// may be after the first hosts received it.
			match = upserted("security_group_rule", "")
		}
		op := newFanOp("rule", f.o.Hosts, nil, match)
		d, raw, err := f.runOp(ctx, op, method, path, body, want)
		if err != nil {
			return nil, fmt.Errorf("rule operation %d: %w", j, err)
		}
		if j%2 == 0 {
			if rule, err = idOf(raw, "security_group_rule"); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// runOp makes the API call of op and waits until every host op wants
// planned it, then for the pause between operations (in which other
// concerned hosts are still counted).
func (f *fanout) runOp(ctx context.Context, op *fanOp, method, path, body string, want int) (fanDone, []byte, error) {
	f.cur.Store(op)
	op.t0 = time.Now()
	raw, err := f.admin(ctx, method, path, body, want)
	if err != nil {
		return fanDone{}, nil, err
	}
	api := time.Since(op.t0)
	select {
	case <-op.done:
	case <-time.After(60 * time.Second):
		op.mu.Lock()
		missing := op.missing
		op.mu.Unlock()
		return fanDone{}, nil, fmt.Errorf("%d hosts did not plan the change within 60 s", missing)
	case <-ctx.Done():
		return fanDone{}, nil, ctx.Err()
	}
	time.Sleep(max(f.o.Interval, 20*time.Millisecond))
	f.cur.Store(nil)
	f.rep.OpsRetries = int(f.retries.Load()) - f.rep.SyncRetries
	d := fanDone{api: api}
	d.lat, d.recv = op.seal()
	return d, raw, nil
}

// seriesOf summarises a series of operations.
func seriesOf(name string, ops []fanDone) FanSeries {
	s := FanSeries{Name: name, Ops: len(ops)}
	var all, recv, api []time.Duration
	for _, d := range ops {
		all = append(all, d.lat...)
		recv = append(recv, d.recv...)
		api = append(api, d.api)
		s.ConcernedMax = max(s.ConcernedMax, len(d.lat))
	}
	slices.Sort(all)
	slices.Sort(recv)
	slices.Sort(api)
	s.RecvP50Ms, s.RecvP99Ms = msOf(percentile(recv, 50)), msOf(percentile(recv, 99))
	s.Deliveries = len(all)
	s.ConcernedAvg = float64(len(all)) / float64(len(ops))
	s.P50Ms, s.P99Ms, s.MaxMs = msOf(percentile(all, 50)), msOf(percentile(all, 99)), msOf(all[len(all)-1])
	s.APIP50Ms = msOf(percentile(api, 50))
	s.Met = s.P99Ms <= FanoutTargetMs
	return s
}
