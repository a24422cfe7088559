package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// NetNodeOptions size the network node benchmark.
type NetNodeOptions struct {
	Routers int // half legacy, half distributed (DVR SNAT on network1)
	FIPs    int // on ports of the legacy routers' networks
	Ports   int // bound to simulated remote hosts (no taps)
	FIPRuns int // associate -> first packet runs, empty node and full
	Chunk   int // ports per bulk create
	// Backlog is net.core.netdev_max_backlog during the run (restored
	// afterwards): 0 = twice the external bridge's ports unless the host
	// has more, < 0 = the host's value (wantBacklog).
	Backlog  int
	Sandbox  SandboxOptions
	Progress io.Writer
}

// DefaultNetNode is the size of issue 15's target.
func DefaultNetNode() NetNodeOptions {
	return NetNodeOptions{Routers: 1000, FIPs: 10000, Ports: 5000, FIPRuns: 5, Chunk: 40}
}

// NetNodeDefinition says what RunNetNode measures.
const NetNodeDefinition = `One network node (network1, dvr_snat) carrying many routers, in a fresh
sandbox with network1 and compute1. A probe legacy router PROBE with
networks PA and PB holds instances A1 and B1 on compute1 and a floating
IP of A1 (203.0.113.0/24). Then the benchmark creates --routers routers
with a gateway on EXT_NET (odd ones distributed: their SNAT namespace is
on network1), each with one /24 network attached, and --ports ports on
the legacy routers' networks bound to simulated remote hosts (sim1..sim8:
no agent, no taps), each with enough fixed IPs to carry --fips floating
IPs between them (from 100.64.0.0/16), all while network1's agent runs;
it waits until network1 has every router's namespace. Then:
  cold:   network1's agent is stopped, every namespace it made is deleted
          (a rebooted node: the agent starts once the kernel has torn
          them down, which is timed apart), and it starts again: time
          from the fork to
          its "initial apply" log line (its first reconcile) and to the end
          of its first complete reconcile (every namespace converged and
          nothing newer to apply: the agent's metrics
          neutrino_agent_last_sync_age_seconds and _revision_lag), the
          kernel changes it logged by then,
          its RSS, and the kernel objects on network1;
  (both: also the time the old agent took to exit after SIGTERM)
  no-op:  the agent is stopped (SIGTERM) and started with everything in
          place: the same times; it must log no kernel change,
          while A1 pings B1 (east-west through PROBE on network1) and the
          internet host pings A1's floating IP every 10 ms: lost
          replies and the longest gap;
  FIP:    associate a floating IP to A1 -> first TCP connection from the
          internet reaches A1 (a new one every 1 ms), --fip-runs times
          before the routers are created (empty node) and after; the
          ratio of the p50s. Each association comes 500 ms after the
          disassociation before it was applied (a settled node: the
          agent done with the disassociation's reconcile); also measured
          right after it (back to back: the association then waits for
          the rest of that reconcile, its status report).
For the run the host's net.core.netdev_max_backlog is at least twice
the external bridge's ports (2 x (routers + 2)), as on a network node
set up by docs/deploy.md; the old value is put back at the end.
The empty node beside the full one: network2, a second network node,
holds only the legacy router EMPTY (network PE, instance A2 on compute1,
a floating IP of A2) and takes no other router (its L3 agent is
disabled after EMPTY is scheduled there; the server's automatic L3
failover is off, so EMPTY stays). --fip-runs rounds of one settled
association on each node, alternating which goes first, are timed
before the routers are created (both nodes empty: what the two paths
differ by) and after the full node's runs above (the ratio under the
same load for both).`

// NetNodeReport is RunNetNode's result.
type NetNodeReport struct {
	Definition string    `json:"definition"`
	Routers    int       `json:"routers"`
	FIPs       int       `json:"fips"`
	Ports      int       `json:"ports"`
	PopulateMs float64   `json:"populate_ms"` // API calls and network1 catching up
	Dup409     int       `json:"fip_create_409,omitempty"`
	Cold       NodeStart `json:"cold"`
	NoOp       NodeStart `json:"noop"`
	FIPEmpty   Dist      `json:"fip_empty"`
	FIPFull    Dist      `json:"fip_full"`
	FIPRatio   float64   `json:"fip_ratio"`
	// The same, each association right after the disassociation was
	// applied (back to back, as before 2026-12-07).
	FIPEmptyB2B Dist    `json:"fip_empty_back_to_back"`
	FIPFullB2B  Dist    `json:"fip_full_back_to_back"`
	FIPRatioB2B float64 `json:"fip_ratio_back_to_back"`
	// Interleaved with network2's empty probe router (netnodepair.go):
	// before the routers are created (both nodes empty: what the two
	// paths differ by) and after the no-op restart (the same load for
	// both: the target's ratio measured at one time).
	FIPPairBefore FIPPair      `json:"fip_interleaved_before"`
	FIPPairFull   FIPPair      `json:"fip_interleaved_full"`
	Backlog       int          `json:"netdev_max_backlog"` // during the run
	BacklogWas    int          `json:"netdev_max_backlog_before"`
	KernelAfter   KernelCounts `json:"kernel"`
}

// NodeStart is one start of network1's agent.
type NodeStart struct {
	StopMs         float64 `json:"stop_ms"`          // SIGTERM -> the old agent gone
	CleanupMs      float64 `json:"cleanup_ms"`       // cold: the kernel's teardown of the deleted namespaces, before the start
	InitialApplyMs float64 `json:"initial_apply_ms"` // the first reconcile
	CompleteMs     float64 `json:"complete_ms"`      // first complete reconcile (metrics)
	Changes        int     `json:"changes"`          // kernel changes logged since the start
	RSSMiB         float64 `json:"rss_mib"`
	// Pings during a no-op restart (from SIGTERM to 1 s after the apply).
	EastWest PingLoss `json:"east_west,omitempty"`
	FIP      PingLoss `json:"fip,omitempty"`
}

// PingLoss is what a ping stream saw.
type PingLoss struct {
	Sent  int     `json:"sent"`
	Lost  int     `json:"lost"`
	GapMs float64 `json:"longest_gap_ms"`
}

// netNodeBed is the benchmark's sandbox and probe topology.
type netNodeBed struct {
	*benchBed
	o                   NetNodeOptions
	ext, extSub, bigSub string
	probeRouter         string
	a1, b1              *sandbox.Instance
	probeFIPID          string
	probeFIP            netip.Addr
	legacyNets          []string // network ids, for the ports
	legacySubs          []string // their subnets
	dup409              int
	full, empty         *fipProbe // network1's probe, network2's (netnodepair.go)
}

func (b *netNodeBed) logf(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// RunNetNode runs the network node benchmark (see NetNodeDefinition).
func RunNetNode(ctx context.Context, o NetNodeOptions) (*NetNodeReport, error) {
	d := DefaultNetNode()
	if o.Routers < 2 || o.Ports < 1 || o.FIPs < 1 || o.Routers > 5000 {
		return nil, fmt.Errorf("--routers %d --ports %d --fips %d: want at least 2 routers (at most 5000), 1 port, 1 floating IP", o.Routers, o.Ports, o.FIPs)
	}
	unsetTo(&o.FIPRuns, d.FIPRuns)
	unsetTo(&o.Chunk, d.Chunk)
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	// Every router has a VXLAN network of its own: upstream's default
	// range (1:1000) is too small for the full size.
	if o.Sandbox.VNIRanges == "" {
		o.Sandbox.VNIRanges = "1:100000"
	}
	// network2 keeps only the router EMPTY (netnodepair.go).
	o.Sandbox.NetworkNodes, o.Sandbox.NoL3Failover = 2, true
	rep := &NetNodeReport{Definition: NetNodeDefinition, Routers: o.Routers, FIPs: o.FIPs, Ports: o.Ports}
	var restore func() error
	var err error
	if rep.BacklogWas, rep.Backlog, restore, err = raiseBacklog(o.Backlog, o.Routers); err != nil {
		return nil, err
	}
	defer func() {
		if err := restore(); err != nil {
			fmt.Fprintf(o.Progress, "restore net.core.netdev_max_backlog=%d: %v\n", rep.BacklogWas, err)
		}
	}()
	bb, cleanup, err := upSandbox(ctx, o.Sandbox, o.Progress, 1)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	b := &netNodeBed{benchBed: bb, o: o}
	b.logf("net.core.netdev_max_backlog %d during the run (was %d)", rep.Backlog, rep.BacklogWas)
	if err := b.setup(ctx); err != nil {
		return rep, fmt.Errorf("setup: %w", err)
	}
	if rep.FIPPairBefore, err = b.fipInterleaved(ctx, "both nodes empty"); err != nil {
		return rep, fmt.Errorf("floating IP associate, interleaved, both empty: %w", err)
	}
	if rep.FIPEmpty, rep.FIPEmptyB2B, err = b.fipBoth(ctx); err != nil {
		return rep, fmt.Errorf("floating IP associate, empty node: %w", err)
	}
	t0 := time.Now()
	if err := b.populate(ctx); err != nil {
		return rep, fmt.Errorf("populate: %w", err)
	}
	rep.PopulateMs, rep.Dup409 = ms(time.Since(t0)), b.dup409
	var errs []error
	if rep.Cold, err = b.start(ctx, true); err != nil {
		errs = append(errs, fmt.Errorf("cold start: %w", err))
	}
	if rep.KernelAfter, err = countKernel(b.st, sandbox.NodeNetwork1); err != nil {
		errs = append(errs, fmt.Errorf("kernel objects: %w", err))
	}
	if rep.NoOp, err = b.start(ctx, false); err != nil {
		errs = append(errs, fmt.Errorf("no-op restart: %w", err))
	}
	if rep.FIPFull, rep.FIPFullB2B, err = b.fipBoth(ctx); err != nil {
		errs = append(errs, fmt.Errorf("floating IP associate, full node: %w", err))
	} else if rep.FIPEmpty.P50Ms > 0 && rep.FIPEmptyB2B.P50Ms > 0 {
		rep.FIPRatio = rep.FIPFull.P50Ms / rep.FIPEmpty.P50Ms
		rep.FIPRatioB2B = rep.FIPFullB2B.P50Ms / rep.FIPEmptyB2B.P50Ms
	}
	if rep.FIPPairFull, err = b.fipInterleaved(ctx, "network1 full"); err != nil {
		errs = append(errs, fmt.Errorf("floating IP associate, interleaved, full: %w", err))
	}
	return rep, errors.Join(errs...)
}

// setup: EXT_NET with 203.0.113.0/24, the probe router with PA and PB,
// A1 and B1 on compute1, A1's floating IP (kept, disassociated), then
// the scale subnet 100.64.0.0/16.
func (b *netNodeBed) setup(ctx context.Context) error {
	b.logf("setting up: external network, probe router PROBE, instances A1 and B1")
	d := &dvrBed{benchBed: b.benchBed}
	if err := d.external(ctx); err != nil {
		return err
	}
	b.ext, b.extSub = d.ext, d.extSub
	// network2 takes no router but EMPTY (setupEmpty).
	if err := b.setL3Admin(ctx, emptyHost, false); err != nil {
		return err
	}
	var err error
	if b.probeRouter, err = d.router(ctx, "PROBE", false); err != nil {
		return err
	}
	var pa, pb string
	for _, n := range []struct {
		name, cidr string
		id         *string
	}{{"PA", "10.250.1.0/24", &pa}, {"PB", "10.250.2.0/24", &pb}} {
		id, sub, err := d.subnet(ctx, n.name, n.cidr, true)
		if err != nil {
			return err
		}
		*n.id = id
		if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+b.probeRouter+"/add_router_interface", map[string]any{"subnet_id": sub}, nil); err != nil {
			return fmt.Errorf("attach %s: %w", n.name, err)
		}
	}
	if b.a1, err = b.st.Boot(ctx, sandbox.BootOptions{Name: "A1", Network: pa, Host: "compute1"}); err != nil {
		return err
	}
	if b.b1, err = b.st.Boot(ctx, sandbox.BootOptions{Name: "B1", Network: pb, Host: "compute1"}); err != nil {
		return err
	}
	if err := b.openIngress(ctx); err != nil {
		return err
	}
	if err := d.pingInstance(ctx, b.a1, b.b1, 60*time.Second); err != nil {
		return fmt.Errorf("east-west through PROBE: %w", err)
	}
	if err := b.setupEmpty(ctx, d); err != nil {
		return fmt.Errorf("the empty node's router: %w", err)
	}
	f, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.extSub})
	if err != nil {
		return err
	}
	b.probeFIPID, b.probeFIP = f["id"].(string), netip.MustParseAddr(f["floating_ip_address"].(string))
	s, err := b.create(ctx, "subnets", "subnet", map[string]any{"name": "EXT_SCALE", "network_id": b.ext, "ip_version": 4,
		"cidr": "100.64.0.0/16", "gateway_ip": nil, "enable_dhcp": false})
	if err != nil {
		return err
	}
	b.bigSub = s["id"].(string)
	return nil
}

// fipSettle is how long after a disassociation was applied the settled
// runs associate. The agent's reconcile of the disassociation goes on
// after the kernel change (the metadata proxies' sync, the status
// report: 15-25 ms at 1,000 routers, about 1 ms on an empty node), and
// an association arriving meanwhile waits for it, so back-to-back runs
// time the benchmark's own previous change as well. 500 ms is well past
// it at the full size; the same pause on the empty and the full node.
const fipSettle = 500 * time.Millisecond

// fipBoth runs fipRuns settled (the headline figure) and back to back.
func (b *netNodeBed) fipBoth(ctx context.Context) (settled, b2b Dist, err error) {
	if settled, err = b.fipRuns(ctx, fipSettle); err != nil {
		return settled, b2b, err
	}
	b2b, err = b.fipRuns(ctx, 0)
	return settled, b2b, err
}

// fipRuns associates the probe floating IP to A1 and times the first TCP
// connection from the internet, o.FIPRuns times, each settle after the
// disassociation before it was applied; it leaves the floating IP
// associated (the no-op restart pings through it).
func (b *netNodeBed) fipRuns(ctx context.Context, settle time.Duration) (Dist, error) {
	p := b.probe1()
	srv, err := probe.ListenTCP(p.inst.Netns, "0.0.0.0:7777")
	if err != nil {
		return Dist{}, err
	}
	defer srv.Close()
	var lat []time.Duration
	for i := range b.o.FIPRuns {
		d, err := b.fipOnce(ctx, p, settle)
		if err != nil {
			return Dist{}, fmt.Errorf("run %d: %w", i+1, err)
		}
		lat = append(lat, d)
	}
	d := distOf(lat)
	b.logf("floating IP associate (%s after the disassociation) -> first packet: p50 %.1f ms (min %.1f, max %.1f)", settle, d.P50Ms, d.MinMs, d.MaxMs)
	return d, nil
}
