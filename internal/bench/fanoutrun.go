package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
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
	o     FanoutOptions
	rep   *FanoutReport
	b     *bencher
	url   string
	hc    *http.Client
	hosts []*fanHost
	ext   string   // the external network
	fips  []string // unassociated floating IPs
	// cur is the operation in flight, whose FIP the streams look for.
	cur        atomic.Pointer[fanOp]
	unexpected atomic.Int64
	streamErr  chan error
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

// agentStates are what simulated host i reports: an L2 agent with its
// tunnel address and a dvr-mode L3 agent.
func agentStates(i int) []syncproto.AgentState {
	return []syncproto.AgentState{
		{AgentType: "Linux bridge agent", Binary: "neutron-linuxbridge-agent", Topic: "N/A",
			Configurations: map[string]any{"tunnel_types": []string{"vxlan"}, "tunneling_ip": fmt.Sprintf("10.%d.%d.%d", 200+i>>16, (i>>8)&255, i&255)}},
		{AgentType: "L3 agent", Binary: "neutron-l3-agent", Topic: "l3_agent", Configurations: map[string]any{"agent_mode": "dvr"}},
	}
}

func (f *fanout) registerHosts(ctx context.Context) error {
	f.logf("registering %d hosts", f.o.Hosts)
	f.hosts = make([]*fanHost, f.o.Hosts)
	agentHdr := http.Header{"X-Project-Id": {"service"}, "X-Roles": {"service"}}
	start := time.Now()
	err := parallel(16, f.o.Hosts, func(i int) error {
		h := &fanHost{name: fmt.Sprintf("host-%04d", i), model: hostmodel.New()}
		h.client = &hostmodel.Client{URL: f.url, Host: h.name, HTTP: f.hc, Header: agentHdr}
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
// them, one compute port per host and unassociated floating IPs.
func (f *fanout) topology(ctx context.Context) error {
	o := f.o
	f.logf("creating %d networks, %d DVR routers, %d ports", o.Networks, o.Routers, o.Hosts)
	start := time.Now()
	nFIP := (o.Ops + 1) / 2
	q := fmt.Sprintf(`{"quota":{"network":%d,"subnet":%d,"port":%d,"router":%d,"floatingip":%d}}`, o.Networks+10, o.Networks+10, 2*o.Hosts+nFIP+o.Routers*(o.Networks+2)+100, o.Routers+10, nFIP+10)
	if _, err := f.admin(ctx, "PUT", "/v2.0/quotas/bench", q, 200); err != nil {
		return err
	}
	nets, err := f.routedNetworks(ctx)
	if err != nil {
		return err
	}
	err = parallel(8, o.Hosts, func(i int) error {
		var err error
		f.hosts[i].port, err = f.create(ctx, "ports", "port", fmt.Sprintf(`{"port":{"network_id":%q,"device_owner":"compute:nova","device_id":"bench-vm%d","binding:host_id":%q}}`, nets[i%o.Networks], i, f.hosts[i].name))
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
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f.rep.HeapBeforeMB = mb(ms.HeapInuse)
	return nil
}

// routedNetworks creates the external network, the DVR routers and the
// tenant networks (each attached to a router), and returns the latter.
func (f *fanout) routedNetworks(ctx context.Context) ([]string, error) {
	o := f.o
	var err error
	if f.ext, err = f.create(ctx, "networks", "network", `{"network":{"name":"bench-public","router:external":true}}`); err != nil {
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

// connectStreams connects every host's watch stream (living until
// streamCtx ends) and waits until each has its first event.
func (f *fanout) connectStreams(ctx, streamCtx context.Context) error {
	f.logf("connecting %d watch streams", f.o.Hosts)
	var synced sync.WaitGroup
	start := time.Now()
	for i, h := range f.hosts {
		synced.Add(1)
		var first sync.Once
		go func() {
			err := h.client.Watch(streamCtx, h.model, func(ev *syncproto.Event) {
				first.Do(synced.Done)
				op := f.cur.Load()
				if op == nil || !mentions(ev, op.fip, op.delete) {
					return
				}
				if i != op.host {
					f.unexpected.Add(1)
					return
				}
				now := time.Now()
				op.once.Do(func() { op.done <- now })
			})
			if streamCtx.Err() == nil {
				f.streamErr <- fmt.Errorf("%s: stream ended: %v", h.name, err)
				first.Do(synced.Done)
			}
		}()
	}
	waitSynced := make(chan struct{})
	go func() { synced.Wait(); close(waitSynced) }()
	select {
	case <-waitSynced:
	case err := <-f.streamErr:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-f.streamErr:
		return err
	default:
	}
	f.rep.ConnectSec = time.Since(start).Seconds()
	return nil
}

// measureViews records the size of the hosts' views and the server's
// memory with every stream connected.
func (f *fanout) measureViews() error {
	var objs, bytes int
	for _, h := range f.hosts {
		for _, k := range []string{"network", "subnet", "port", "security_group", "security_group_rule", "router", "floatingip", "agent", "l3_binding", "dhcp_binding", "dvr_mac"} {
			h.model.Each(k, func(o syncproto.Object) { objs++; bytes += len(o.Data) })
		}
	}
	rep := f.rep
	rep.ViewObjects = objs / f.o.Hosts
	rep.ModelsMB = float64(bytes) / (1 << 20)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapStreamsMB, rep.SysStreamsMB = mb(ms.HeapInuse), mb(ms.Sys)
	if f.o.HeapProfile != nil {
		if err := pprof.Lookup("heap").WriteTo(f.o.HeapProfile, 0); err != nil {
			return err
		}
	}
	rep.Goroutines = runtime.NumGoroutine()
	f.logf("%d streams synced in %.1fs, %d objects per view, heap %.0f MB", f.o.Hosts, rep.ConnectSec, rep.ViewObjects, rep.HeapStreamsMB)
	return nil
}

// operations associates and disassociates the floating IPs in turn and
// times each until the host it concerns applied it.
func (f *fanout) operations(ctx context.Context) error {
	o := f.o
	var deliveries, apiLat []time.Duration
	hostOf := make([]int, len(f.fips))
	for j := range o.Ops {
		k := j / 2
		op := &fanOp{fip: f.fips[k], delete: j%2 == 1, done: make(chan time.Time, 1)}
		body := `{"floatingip":{"port_id":null}}`
		if op.delete {
			op.host = hostOf[k]
		} else {
			op.host = rand.IntN(o.Hosts)
			hostOf[k] = op.host
			body = fmt.Sprintf(`{"floatingip":{"port_id":%q}}`, f.hosts[op.host].port)
		}
		f.cur.Store(op)
		op.t0 = time.Now()
		if _, err := f.admin(ctx, "PUT", "/v2.0/floatingips/"+op.fip, body, 200); err != nil {
			return err
		}
		apiLat = append(apiLat, time.Since(op.t0))
		select {
		case at := <-op.done:
			deliveries = append(deliveries, at.Sub(op.t0))
		case err := <-f.streamErr:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("operation %d: %s did not receive floating IP %s within 30 s", j, f.hosts[op.host].name, op.fip)
		case <-ctx.Done():
			return ctx.Err()
		}
		if o.Interval > 0 {
			time.Sleep(o.Interval)
		}
	}
	f.cur.Store(nil)
	rep := f.rep
	rep.Deliveries = len(deliveries)
	rep.Unexpected = int(f.unexpected.Load())
	slices.Sort(deliveries)
	slices.Sort(apiLat)
	rep.P50Ms, rep.P99Ms, rep.MaxMs = msOf(percentile(deliveries, 50)), msOf(percentile(deliveries, 99)), msOf(deliveries[len(deliveries)-1])
	rep.APIP50Ms, rep.APIP99Ms = msOf(percentile(apiLat, 50)), msOf(percentile(apiLat, 99))
	rep.Met = rep.P99Ms < FanoutTargetMs
	return nil
}
