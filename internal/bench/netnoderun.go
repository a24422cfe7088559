package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// populate creates the routers, their networks, the ports and the
// floating IPs while network1's agent runs, and waits until the agent
// has caught up.
func (b *netNodeBed) populate(ctx context.Context) error {
	o := b.o
	legacy := (o.Routers + 1) / 2
	perPort := (o.FIPs + o.Ports - 1) / o.Ports
	if perNet := (o.Ports + legacy - 1) / legacy; perNet*perPort > 250 {
		return fmt.Errorf("%d ports with %d fixed IPs each on %d legacy /24 networks: too many; add routers", o.Ports, perPort, legacy)
	}
	b.logf("creating %d routers (%d legacy, %d distributed), each with a /24 network", o.Routers, legacy, o.Routers-legacy)
	t0 := time.Now()
	b.legacyNets, b.legacySubs = make([]string, legacy), make([]string, legacy)
	if err := parallelCtx(ctx, 4, o.Routers, func(i int) error { return b.routerWithNet(ctx, i) }); err != nil {
		return err
	}
	b.logf("  routers in %s", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	type fixed struct{ port, ip string }
	var ips []fixed
	for i := 0; i < o.Ports; i += o.Chunk {
		n := min(o.Chunk, o.Ports-i)
		ports := make([]map[string]any, n)
		for j := range n {
			k := (i + j) % legacy
			fx := make([]map[string]any, perPort)
			for f := range fx {
				fx[f] = map[string]any{"subnet_id": b.legacySubs[k]}
			}
			ports[j] = map[string]any{"network_id": b.legacyNets[k], "fixed_ips": fx, "device_owner": "compute:nova",
				"device_id": fmt.Sprintf("netnode-vm-%d", i+j), "binding:host_id": fmt.Sprintf("sim%d", (i+j)%8+1)}
		}
		var out struct {
			Ports []struct {
				ID       string `json:"id"`
				FixedIPs []struct {
					IP string `json:"ip_address"`
				} `json:"fixed_ips"`
			} `json:"ports"`
		}
		if err := b.api.Do(ctx, http.MethodPost, "/v2.0/ports", map[string]any{"ports": ports}, &out); err != nil {
			return fmt.Errorf("bulk ports %d..%d: %w", i, i+n, err)
		}
		for _, p := range out.Ports {
			for _, f := range p.FixedIPs {
				ips = append(ips, fixed{p.ID, f.IP})
			}
		}
	}
	b.logf("  %d ports (%d fixed IPs) in %s", o.Ports, len(ips), time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	ips = ips[:min(len(ips), o.FIPs)]
	// A create answered 409 "already has a floating IP" is counted, not
	// fatal: the fixed IP has its floating IP, which is all we need.
	// (Ports once got an address twice, so the list named one fixed IP
	// twice; the server no longer does that and the count should be 0.)
	var dup atomic.Int32
	if err := parallelCtx(ctx, 8, len(ips), func(i int) error {
		_, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.bigSub,
			"port_id": ips[i].port, "fixed_ip_address": ips[i].ip})
		if err != nil && strings.Contains(err.Error(), "already has a floating IP") {
			dup.Add(1)
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	b.dup409 = int(dup.Load())
	b.logf("  %d floating IPs in %s (%d answered 409 already associated); waiting for network1", len(ips), time.Since(t0).Round(time.Millisecond), b.dup409)
	if _, err := b.waitCaughtUp(ctx, 15*time.Minute); err != nil {
		return err
	}
	_, err := b.waitSynced(ctx, time.Now(), 15*time.Minute)
	return err
}

// routerWithNet creates router i (odd: distributed) with a gateway and
// one attached /24 network.
func (b *netNodeBed) routerWithNet(ctx context.Context, i int) error {
	r, err := b.create(ctx, "routers", "router", map[string]any{"name": fmt.Sprintf("NN-%d", i), "distributed": i%2 == 1,
		"external_gateway_info": map[string]any{"network_id": b.ext, "external_fixed_ips": []map[string]string{{"subnet_id": b.bigSub}}}})
	if err != nil {
		return err
	}
	d := &dvrBed{benchBed: b.benchBed}
	net, sub, err := d.subnet(ctx, fmt.Sprintf("NN-%d", i), fmt.Sprintf("10.%d.%d.0/24", 64+i/256, i%256), false)
	if err != nil {
		return err
	}
	if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+r["id"].(string)+"/add_router_interface", map[string]any{"subnet_id": sub}, nil); err != nil {
		return fmt.Errorf("attach NN-%d: %w", i, err)
	}
	if i%2 == 0 {
		b.legacyNets[i/2], b.legacySubs[i/2] = net, sub
	}
	return nil
}

// parallelCtx runs f(0..n-1) on workers goroutines; the first error wins.
func parallelCtx(ctx context.Context, workers, n int, f func(i int) error) error {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n || ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// waitCaughtUp waits until network1 has a qrouter- namespace per legacy
// router (the probe's included) and a snat- one per distributed router,
// and its agent's log has then been quiet for 3 s (no apply in
// progress).
func (b *netNodeBed) waitCaughtUp(ctx context.Context, timeout time.Duration) (lastLog time.Time, err error) {
	wantQR, wantSNAT := (b.o.Routers+1)/2+1, b.o.Routers/2
	var quietSince time.Time
	var lastSize int64 = -1
	err = waitFor(ctx, timeout, func() error {
		qr, snat := 0, 0
		for _, n := range b.st.HostNamespaces(sandbox.NodeNetwork1) {
			switch {
			case strings.HasPrefix(n, "qrouter-"):
				qr++
			case strings.HasPrefix(n, "snat-"):
				snat++
			}
		}
		if qr < wantQR || snat < wantSNAT {
			quietSince = time.Time{}
			return fmt.Errorf("network1 has %d/%d qrouter- and %d/%d snat- namespaces", qr, wantQR, snat, wantSNAT)
		}
		fi, err := os.Stat(b.st.AgentLog(sandbox.NodeNetwork1))
		if err != nil {
			return err
		}
		if fi.Size() != lastSize {
			lastSize, quietSince = fi.Size(), time.Now()
		}
		if time.Since(quietSince) < 3*time.Second {
			time.Sleep(200 * time.Millisecond)
			return fmt.Errorf("network1's agent is still logging")
		}
		return nil
	})
	return quietSince, err
}

// start restarts network1's agent: cold deletes every namespace it made
// first; otherwise pings run east-west and through the floating IP
// from before the stop until 1 s after the initial apply.
func (b *netNodeBed) start(ctx context.Context, cold bool) (NodeStart, error) {
	const host = sandbox.NodeNetwork1
	var r NodeStart
	var ew, fip *sandbox.PingStream
	if !cold {
		dst, err := addrOf(b.b1)
		if err != nil {
			return r, err
		}
		if ew, err = b.st.StartPingStream(b.a1.Name, dst, 10*time.Millisecond); err != nil {
			return r, err
		}
		defer ew.Stop()
		if fip, err = b.st.StartPingStream(sandbox.NodeInternet, b.probeFIP, 10*time.Millisecond); err != nil {
			return r, err
		}
		defer fip.Stop()
		time.Sleep(time.Second)
	}
	ts := time.Now()
	if err := b.stopAgent(ctx, host); err != nil {
		return r, err
	}
	r.StopMs = ms(time.Since(ts))
	var names []string // a cold start's deleted namespaces, to come back
	if cold {
		names = b.st.HostNamespaces(host)
		for _, n := range names {
			if err := probe.DeleteNS(b.st.HostNS(host, n)); err != nil {
				return r, err
			}
		}
		b.logf("cold start: deleted network1's %d namespaces", len(names))
		// A rebooted node starts with a clean kernel; here the kernel
		// is still tearing the deleted namespaces down (in a kworker
		// holding RTNL for long stretches), which once made most of a
		// "cold start". Wait for it: the last veth ends of theirs go.
		tc := time.Now()
		if err := b.waitTapsGone(ctx, host, 10*time.Minute); err != nil {
			return r, err
		}
		r.CleanupMs = ms(time.Since(tc))
		b.logf("cold start: the kernel removed them in %.1f s", r.CleanupMs/1000)
	}
	t0 := time.Now()
	p, err := b.st.StartAgent(host)
	if err != nil {
		return r, err
	}
	err = waitFor(ctx, 10*time.Minute, func() error {
		l, err := probe.InitialApply(b.st.AgentLog(host), host)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			return err
		}
		at := l.Time
		if at.IsZero() {
			at = time.Now()
		}
		r.InitialApplyMs = ms(at.Sub(t0))
		if l.Fields["ok"] != "true" {
			return fmt.Errorf("initial apply failed: %s", l.Raw)
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	// The first reconcile is not all of it on a big node: wait for the
	// first complete one (every namespace converged) that has the node
	// whole again.
	last, err := b.waitComplete(ctx, t0, host, names, 10*time.Minute)
	if err != nil {
		return r, err
	}
	r.CompleteMs = ms(last.Sub(t0))
	log, err := probe.AgentLogSinceStart(b.st.AgentLog(host), host)
	if err != nil {
		return r, err
	}
	r.Changes = strings.Count(log, `msg="kernel change"`)
	r.RSSMiB = rssMiB(p.PID)
	b.logf("%s: initial apply %.0f ms, complete %.0f ms, %d changes, RSS %.0f MiB", map[bool]string{true: "cold start", false: "no-op restart"}[cold], r.InitialApplyMs, r.CompleteMs, r.Changes, r.RSSMiB)
	if !cold {
		time.Sleep(time.Second)
		r.EastWest = pingLoss(ew)
		r.FIP = pingLoss(fip)
		if r.Changes != 0 || r.EastWest.Lost > 0 || r.FIP.Lost > 0 {
			return r, fmt.Errorf("no-op restart: %d changes, %d pings lost east-west, %d through the floating IP", r.Changes, r.EastWest.Lost, r.FIP.Lost)
		}
	}
	return r, nil
}

// waitTapsGone waits until host's namespace has no tap* device left:
// the outer ends of the agent's veth pairs, destroyed with the last of
// the deleted namespaces.
func (b *netNodeBed) waitTapsGone(ctx context.Context, host string, timeout time.Duration) error {
	h, err := probe.Handle(sandbox.NodeNS(b.st.Prefix, host))
	if err != nil {
		return err
	}
	defer h.Close()
	return waitFor(ctx, timeout, func() error {
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		n := 0
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, "tap") {
				n++
			}
		}
		if n > 0 {
			time.Sleep(200 * time.Millisecond)
			return fmt.Errorf("%s still has %d tap devices of deleted namespaces", host, n)
		}
		return nil
	})
}

// stopAgent stops host's agent with SIGTERM and waits until it is gone:
// the sandbox gives up after 10 s, a big node's agent may need longer.
func (b *netNodeBed) stopAgent(ctx context.Context, host string) error {
	err := b.st.StopAgent(host, syscall.SIGTERM)
	if err == nil || !strings.Contains(err.Error(), "still runs") {
		return err
	}
	b.logf("%v; waiting", err)
	return waitFor(ctx, 5*time.Minute, func() error {
		if _, alive, err := b.st.AgentProc(host); err != nil || alive {
			time.Sleep(100 * time.Millisecond)
			return fmt.Errorf("the agent of %s still runs after SIGTERM (%v)", host, err)
		}
		return nil
	})
}

func pingLoss(p *sandbox.PingStream) PingLoss {
	sent, lost, gap := p.Stats(0)
	return PingLoss{Sent: sent, Lost: lost, GapMs: ms(gap)}
}

// rssMiB is a process's resident set (VmRSS), 0 if unknown.
func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// KernelCounts are the kernel objects on a host: its own namespace and
// every namespace its agent made.
type KernelCounts struct {
	Namespaces int `json:"namespaces"`
	Links      int `json:"links"`
	Addrs      int `json:"addresses"`
	Routes     int `json:"routes"` // every table
	Rules      int `json:"rules"`
}

func countKernel(st *sandbox.State, host string) (KernelCounts, error) {
	var c KernelCounts
	nss := []string{sandbox.NodeNS(st.Prefix, host)}
	for _, n := range st.HostNamespaces(host) {
		nss = append(nss, st.HostNS(host, n))
	}
	c.Namespaces = len(nss) - 1
	for _, ns := range nss {
		h, err := probe.Handle(ns)
		if err != nil {
			return c, err
		}
		links, err1 := h.LinkList()
		addrs, err2 := h.AddrList(nil, netlink.FAMILY_V4)
		routes, err3 := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		rules, err4 := h.RuleList(netlink.FAMILY_V4)
		h.Close()
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				return c, fmt.Errorf("%s: %w", ns, err)
			}
		}
		c.Links += len(links)
		c.Addrs += len(addrs)
		c.Routes += len(routes)
		c.Rules += len(rules)
	}
	return c, nil
}

// WriteTable prints the report.
func (r *NetNodeReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%s\n\n", r.Definition)
	fmt.Fprintf(w, "size: %d routers, %d floating IPs, %d ports; populated (API + network1 catching up) in %.1f s\n", r.Routers, r.FIPs, r.Ports, r.PopulateMs/1000)
	if r.Dup409 > 0 {
		fmt.Fprintf(w, "  %d floating IP creates answered 409 \"already has a floating IP\" (asked once per fixed IP)\n", r.Dup409)
	}
	fmt.Fprintf(w, "net.core.netdev_max_backlog %d during the run (%d before)\n", r.Backlog, r.BacklogWas)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "cold start: the kernel's teardown of the deleted namespaces took %.1f s before the agent started (not counted)\n", r.Cold.CleanupMs/1000)
	fmt.Fprintf(w, "%-6s %7s %14s %11s %8s %8s %24s %24s\n", "start", "stop s", "first apply s", "complete s", "changes", "RSS MiB", "east-west lost/sent gap", "FIP lost/sent gap")
	fmt.Fprintf(w, "%-6s %7.1f %14.1f %11.1f %8d %8.0f %24s %24s\n", "cold", r.Cold.StopMs/1000, r.Cold.InitialApplyMs/1000, r.Cold.CompleteMs/1000, r.Cold.Changes, r.Cold.RSSMiB, "-", "-")
	pl := func(p PingLoss) string { return fmt.Sprintf("%d/%d %.0fms", p.Lost, p.Sent, p.GapMs) }
	fmt.Fprintf(w, "%-6s %7.1f %14.1f %11.1f %8d %8.0f %24s %24s\n", "no-op", r.NoOp.StopMs/1000, r.NoOp.InitialApplyMs/1000, r.NoOp.CompleteMs/1000, r.NoOp.Changes, r.NoOp.RSSMiB, pl(r.NoOp.EastWest), pl(r.NoOp.FIP))
	k := r.KernelAfter
	fmt.Fprintf(w, "\nkernel objects on network1 after the cold start: %d namespaces, %d links, %d addresses, %d routes, %d rules\n", k.Namespaces, k.Links, k.Addrs, k.Routes, k.Rules)
	row := func(name string, d Dist) {
		fmt.Fprintf(w, "%-52s %5d %8.1f %8.1f %8.1f\n", name, d.N, d.MinMs, d.P50Ms, d.MaxMs)
	}
	fmt.Fprintf(w, "\n%-52s %5s %8s %8s %8s\n", "floating IP associate -> first packet", "n", "min ms", "p50 ms", "max ms")
	row("  empty node (probe router only), settled", r.FIPEmpty)
	row("  full node, settled", r.FIPFull)
	fmt.Fprintf(w, "  ratio of p50s, full / empty: %.2f (target <= 1.5)\n", r.FIPRatio)
	row("  empty node, back to back", r.FIPEmptyB2B)
	row("  full node, back to back", r.FIPFullB2B)
	fmt.Fprintf(w, "  ratio of p50s, back to back: %.2f\n", r.FIPRatioB2B)
	for _, p := range []struct {
		what string
		fp   FIPPair
	}{{"before the routers (both empty)", r.FIPPairBefore}, {"network1 full", r.FIPPairFull}} {
		fmt.Fprintf(w, "interleaved with network2 (empty), settled, %s:\n", p.what)
		row("  network2 (EMPTY only)", p.fp.Network2)
		row("  network1", p.fp.Network1)
		fmt.Fprintf(w, "  ratio of p50s, network1 / network2: %.2f\n", p.fp.Ratio)
	}
}

// WriteJSON prints the report as JSON.
func (r *NetNodeReport) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}
