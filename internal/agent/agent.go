package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/linklocal"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/dataplane"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/kernelfeat"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Agent is one running neutrino-agent.
type Agent struct {
	cfg    *Config
	log    *slog.Logger
	model  *hostmodel.Model
	client *hostmodel.Client
	tokens *tokenSource
	ns     names.Namespaces

	kick chan struct{} // wakes the reconcile loop
	// appliedRev is the revision of the last view applied in full
	// (reported with heartbeats).
	appliedRev atomic.Int64

	mu      sync.Mutex
	sent    map[string]string // object id -> "<rev> <status>" last reported
	applied bool              // the first apply since start is done
	// backlogWarned: the widest bridge was last seen outgrowing the
	// backlog (backlog.go), so the warning is not repeated.
	backlogWarned bool
	backlogRead   backlogSample
	services      *services

	// planner and planRev belong to the reconcile loop: the host is
	// replanned per unit from the changes since planRev.
	planner *plan.Planner
	planRev int64
	// skipped are the undecodable objects already logged, with the
	// error logged.
	skipped map[syncproto.Key]string
	// retry and plugged are per agent namespace: its failure backoff
	// and the ports it last plugged (see retry.go).
	retry   map[string]*nsRetry
	plugged map[string][]string
	// unbound are the ports logged as impossible to bind, with why.
	unbound map[string]string
	// lacksVLAN and lacksGRE are what the kernel probe at start found
	// missing (see probeKernel).
	lacksVLAN, lacksGRE bool
	// linkLocal keeps DVR's rfp-/fpr- addresses across restarts.
	linkLocal *linklocal.Allocator
	metrics   *agentMetrics
	// memory is what the kernel holds per namespace since its last
	// clean apply: a reconcile applies only what changed (see
	// dataplane.Memory); owned by the reconcile loop. linksChanged is set when an interface came or
	// went: the host's bridge ports are applied again.
	memory       *dataplane.Memory
	linksChanged atomic.Bool
	// statusFull: the next status report looks at every object, not
	// only at what changed (the last one failed or was skipped).
	statusFull bool
}

// openLinkLocal opens the DVR link-local allocations under state_path;
// when they cannot be kept there, it keeps them in memory and says so
// (a restart then renumbers the links, briefly cutting floating IPs).
func (a *Agent) openLinkLocal() *linklocal.Allocator {
	ll, err := linklocal.Open(a.cfg.StatePath)
	if err != nil {
		a.log.Warn("DVR link-local allocations kept in memory only", "state_path", a.cfg.StatePath, "err", err)
		ll, _ = linklocal.Open("")
	}
	return ll
}

// New prepares an agent; Run starts it.
func New(cfg *Config, log *slog.Logger) *Agent {
	if log == nil {
		log = slog.Default()
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval(cfg.AgentMode)
	}
	hc, base := newHTTPClient(cfg.ServerURL)
	a := &Agent{
		cfg:    cfg,
		log:    log.With("host", cfg.Host),
		model:  hostmodel.New(),
		client: &hostmodel.Client{URL: base, Host: cfg.Host, HTTP: hc},
		tokens: &tokenSource{cfg: cfg.Auth, client: hc},
		ns:     names.Namespaces{Suffix: cfg.NamespaceSuffix},
		kick:   make(chan struct{}, 1),
		sent:   map[string]string{},
	}
	a.services = newServices(a)
	a.metrics = newAgentMetrics(a.model)
	a.linkLocal = a.openLinkLocal()
	a.planner = plan.NewPlanner(a.hostConfig())
	a.memory = dataplane.NewMemory()
	a.skipped = map[syncproto.Key]string{}
	a.retry, a.plugged, a.unbound = map[string]*nsRetry{}, map[string][]string{}, map[string]string{}
	return a
}

// Run is the agent's life: register and heartbeat, follow the host's
// view, and reconcile the kernel whenever the view or the kernel changes.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	return New(cfg, log).Run(ctx)
}

// Run runs the agent until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.startDebugListener()
	ml, err := a.startMetrics()
	if err != nil {
		return err
	}
	defer ml.Close()
	a.recoverMarks()
	a.probeKernel()
	if err := a.authorize(ctx); err != nil {
		return err
	}
	if _, err := a.report(ctx, true); err != nil {
		return fmt.Errorf("register with %s: %w", a.cfg.ServerURL, err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(4)
	go func() { defer wg.Done(); a.heartbeat(ctx) }()
	go func() { defer wg.Done(); a.haWatch(ctx) }()
	go func() {
		defer wg.Done()
		a.client.Follow(ctx, a.model, func(*syncproto.Event) { a.wake() }, func(err error) {
			a.log.Warn("watch stream interrupted; resuming", "err", err, "rev", a.model.Revision())
			a.authorize(ctx)
		})
	}()
	go func() { defer wg.Done(); a.watchLinks(ctx) }()
	a.reconcileLoop(ctx)
	stopping := time.Now()
	a.log.Info("stopping")
	a.services.stopAll()
	cancel()
	wg.Wait()
	a.log.Info("stopped", "took", time.Since(stopping))
	return nil
}

func (a *Agent) authorize(ctx context.Context) error {
	h, err := a.tokens.headers(ctx)
	if err != nil {
		return err
	}
	a.client.Header = h
	return nil
}

func (a *Agent) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// agentStates are the Neutron agent types this process plays.
func (a *Agent) agentStates() []syncproto.AgentState {
	l2cfg := map[string]any{
		"tunnel_types": a.cfg.TunnelTypes, "l2_population": a.cfg.L2Population, "arp_responder_enabled": a.cfg.ARPResponder,
		"interface_mappings": a.cfg.PhysicalInterfaces, "bridge_mappings": a.cfg.Bridges,
		"enable_distributed_routing": a.cfg.AgentMode != "legacy",
		"enable_security_group":      a.cfg.EnableSecurityGroup, "prevent_arp_spoofing": a.cfg.PreventARPSpoofing,
	}
	// report_interval lets the server fence HA claims by this agent's
	// own heartbeat pace (docs/ha.md).
	l3cfg := map[string]any{"agent_mode": a.cfg.AgentMode, "handle_internal_only_routers": true, "interface_driver": "linuxbridge",
		"log_agent_heartbeats": false, "report_interval": a.cfg.ReportInterval.Seconds()}
	if a.cfg.LocalIP.IsValid() {
		l2cfg["tunneling_ip"] = a.cfg.LocalIP.String()
		l3cfg[haProbeKey] = a.cfg.LocalIP.String()
	}
	states := []syncproto.AgentState{
		{AgentType: model.AgentTypeL2, Binary: "neutrino-agent", Topic: "N/A", Configurations: l2cfg},
		{AgentType: model.AgentTypeL3, Binary: "neutrino-agent", Topic: "l3_agent", Configurations: l3cfg, AvailabilityZone: a.cfg.AvailabilityZone},
	}
	if a.cfg.EnableDHCPAgent {
		states = append(states, syncproto.AgentState{AgentType: model.AgentTypeDHCP, Binary: "neutrino-agent", Topic: "dhcp_agent", Configurations: map[string]any{
			"dhcp_driver": "neutrino (in-process)", "enable_isolated_metadata": a.cfg.EnableIsolatedMetadata, "dns_domain": a.cfg.DNSDomain}, AvailabilityZone: a.cfg.AvailabilityZone})
	}
	return append(states, syncproto.AgentState{AgentType: model.AgentTypeMetadata, Binary: "neutrino-agent", Topic: "N/A", Configurations: map[string]any{
		"metadata_proxy_socket": "in-process"}})
}

func (a *Agent) report(ctx context.Context, start bool) (*syncproto.ReportResponse, error) {
	return a.client.Report(ctx, &syncproto.ReportRequest{Agents: a.agentStates(), StartFlag: start, ReportInterval: a.cfg.ReportInterval.Seconds(), AppliedRevision: a.appliedRev.Load()})
}

func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(a.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resp, err := a.report(ctx, false)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("heartbeat failed", "err", err)
				a.authorize(ctx)
			}
			continue
		}
		if resp.Revived {
			a.log.Info("server had considered this host dead; its view follows")
		}
	}
}

// watchLinks wakes the reconciler when interfaces come and go (an
// instance's tap appearing is what plugs it) or leave their bridge.
// Other updates of a tap are not news: after a restart on a node with
// hundreds of routers, one update per tap kept arriving for seconds, and
// each made a reconcile apply the host's parts again.
func (a *Agent) watchLinks(ctx context.Context) {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribe(ch, done); err != nil {
		a.log.Warn("link updates unavailable; relying on periodic resync", "err", err)
		return
	}
	taps := map[string]int{} // tap name -> its master's index
	if links, err := netlink.LinkList(); err == nil {
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, "tap") {
				taps[l.Attrs().Name] = l.Attrs().MasterIndex
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-ch:
			if !ok {
				return
			}
			if tapNews(taps, u) {
				a.linksChanged.Store(true)
				a.wake()
			}
		}
	}
}

// tapNews reports whether a link update is a tap that appeared, went or
// changed bridge, and notes it in taps (name -> master index).
func tapNews(taps map[string]int, u netlink.LinkUpdate) bool {
	name := u.Attrs().Name
	if !strings.HasPrefix(name, "tap") {
		return false
	}
	if u.Header.Type == unix.RTM_DELLINK {
		delete(taps, name)
		return true
	}
	master, seen := taps[name]
	taps[name] = u.Attrs().MasterIndex
	return !seen || master != u.Attrs().MasterIndex
}

// resyncInterval paces the checks for kernel drift (something deleted
// behind our back): each one verifies the host's own parts and the
// namespaces verified longest ago, at least resyncMin of them and all of
// them within resyncRounds checks. A small host is thus checked whole
// every resyncInterval; one with a thousand routers within five minutes,
// a few dozen namespaces at a time, so that a check never holds a change
// up for long.
const (
	resyncInterval = 10 * time.Second
	resyncMin      = 16
	resyncRounds   = 30
)

func (a *Agent) reconcileLoop(ctx context.Context) {
	resync := time.NewTicker(resyncInterval)
	defer resync.Stop()
	backoff := time.Duration(0)
	for {
		verify := false
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		case <-resync.C:
			verify = true
		}
		if !a.model.Synced() {
			continue // no writes before the first full view
		}
		began := time.Now()
		if err := a.reconcile(ctx, verify); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("reconcile incomplete; will retry", "err", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			time.AfterFunc(backoff, a.wake)
		} else {
			backoff = 0
		}
		// Bounded frequency: coalesce bursts of events.
		select {
		case <-ctx.Done():
			return
		case <-time.After(coalesceWait(time.Since(began))):
		}
	}
}

// minReconcileInterval bounds how often reconciles start (at most 50 a
// second), so that a burst of events is coalesced into few reconciles.
const minReconcileInterval = 20 * time.Millisecond

// coalesceWait is the pause after a reconcile that took elapsed: what
// is left of minReconcileInterval since it began. A reconcile that took
// longer (on a big node a change's reconcile and its status report take
// 30-60 ms) already coalesced what arrived meanwhile; pausing another
// 20 ms after it only delayed the next change (the floating IP runs of
// `neutrino bench netnode`, docs/performance.md).
func coalesceWait(elapsed time.Duration) time.Duration {
	return max(0, minReconcileInterval-elapsed)
}

// Plan computes the host's desired state and facts from a snapshot
// (pure).
func (a *Agent) Plan(s *hostmodel.Snapshot) (desired.Host, plan.Facts) {
	return plan.Plan(s, a.hostConfig())
}

func (a *Agent) hostConfig() plan.HostConfig {
	return plan.HostConfig{Host: a.cfg.Host, Mode: a.cfg.AgentMode, LocalIP: a.cfg.LocalIP, PhysicalInterfaces: a.cfg.PhysicalInterfaces,
		Bridges: a.cfg.Bridges, ARPResponder: a.cfg.ARPResponder, L2Population: a.cfg.L2Population,
		IsolatedMetadata: a.cfg.EnableIsolatedMetadata, DNSDomain: a.cfg.DNSDomain, NS: a.ns, SecurityGroups: a.cfg.EnableSecurityGroup,
		AllowARPSpoofing: !a.cfg.PreventARPSpoofing, LacksVLAN: a.lacksVLAN, LacksGRE: a.lacksGRE,
		TunnelTypes: append([]string{}, a.cfg.TunnelTypes...),
		LinkLocal:   a.linkLocal.Get, ReleaseLinkLocal: func(id string) {
			if err := a.linkLocal.Release(id); err != nil {
				a.log.Warn("release DVR link-local pair", "router", id, "err", err)
			}
		}}
}

// reconcile plans the host from the changes since the last plan and
// applies what changed; verify also checks some unchanged namespaces
// for drift (see resyncInterval). A stop (ctx) ends it between two
// namespaces.
func (a *Agent) reconcile(ctx context.Context, verify bool) error {
	start := time.Now()
	// Until this reconcile reports, the next report is a full one (a
	// stop skips the report, and the changes are planned).
	statusFull := a.statusFull
	a.statusFull = true
	a.logSkipped()
	snap, changes, ok := a.model.SnapshotSince(a.cfg.Host, a.planRev)
	want, facts := a.planner.Plan(snap, changes, !ok)
	a.planRev = snap.Revision
	opts := a.applyOptions(ctx, verify)
	opts.First = a.firstNamespaces(facts)
	res, applyErr := dataplane.Apply(&want, opts)
	retried := len(a.retry) > 0
	pluggedChanged := a.noteNamespaces(res)
	if res.Stopped || ctx.Err() != nil {
		a.log.Info("reconcile stopped", "changes", len(res.Changes), "rev", snap.Revision)
		return errors.Join(ctx.Err(), dataplane.ErrStopped)
	}
	if res.HostErr == nil && len(a.retry) == 0 {
		// Everything of this view is in the kernel: heartbeats say so
		// (a demoted HA router's old active acknowledges with it).
		a.appliedRev.Store(snap.Revision)
	}
	for _, c := range res.Changes {
		a.log.Info("kernel change", "op", c, "rev", snap.Revision)
	}
	a.flushConntrack(facts.ConntrackFlush)
	// Full passes over the node (the services' and the status report's
	// walks, the bridges' port count) run at start, on the resync ticks
	// and after a full replan; between them a reconcile looks at what
	// changed, so that it does not delay the next change.
	full := verify || !ok || !a.applied
	if full || !res.HostSkipped {
		a.checkBacklog(&want) // after the apply: it is not on a change's path
	}
	if !a.applied {
		// Tests and operators read this line to see that a restart found
		// the kernel already as desired (changes=0) and touched nothing.
		a.log.Info("initial apply", "changes", len(res.Changes), "rev", snap.Revision, "ok", applyErr == nil)
		a.applied = true
		a.metrics.firstApply.Store(true)
	}
	a.services.sync(snap, facts, res.Touched, full)
	applied := func(ns string) bool { return res.HostErr == nil && a.converged(ns) }
	var only *statusScope // the status report's: nil, everything
	if !full && !a.planner.TouchedAll && !statusFull && res.HostSkipped && res.HostErr == nil && !retried && len(a.retry) == 0 {
		only = statusScopeOf(changes, a.planner.Touched, pluggedChanged)
	}
	statusErr := a.reportStatus(ctx, snap, res.Plugged, facts, applied, only)
	// What this report could not say (an error, namespaces not applied)
	// the next one looks for everywhere.
	a.statusFull = statusErr != nil || res.HostErr != nil
	a.metrics.record(a, snap, res, statusErr, time.Since(start))
	// A namespace's failure is retried on its own (retry.go); only the
	// host's own errors retry the whole reconcile.
	return errors.Join(res.HostErr, statusErr)
}

// applyWorkers is how many namespaces an apply reconciles side by side:
// a namespace's apply waits on the kernel (creating the namespace, the
// veth pairs) much of the time.
const applyWorkers = 4

// applyOptions are a reconcile's: incremental (a.memory), pruning this
// agent's namespaces, holding those that wait for their retry, and
// stopping with ctx.
func (a *Agent) applyOptions(ctx context.Context, verify bool) dataplane.Options {
	o := dataplane.Options{Prune: true, Hold: a.held, Memory: a.memory, Workers: applyWorkers, OwnsNamespace: func(name string) bool {
		_, _, ok := a.ns.Parse(name)
		return ok
	}}
	o.Stop = func() bool { return ctx.Err() != nil }
	if a.linksChanged.Swap(false) {
		a.memory.ForgetHost()
	}
	if verify {
		o.VerifyHost = true
		check := map[string]bool{}
		for _, name := range a.memory.Oldest(max(resyncMin, (a.memory.Len()+resyncRounds-1)/resyncRounds)) {
			check[name] = true
		}
		o.Verify = func(name string) bool { return check[name] }
		// A change waiting is applied first; the check goes on at the
		// next tick with what it did not reach.
		o.Yield = func() bool { return len(a.kick) > 0 }
	}
	return o
}

// firstMax bounds the namespaces an apply takes first (each costs a
// walk of the host's namespaces and neighbours to place it).
const firstMax = 8

// firstNamespaces are the namespaces of the routers the last plan
// replanned, for the apply to take before the others (Options.First):
// a floating IP's router then does not wait for the comparison of every
// other namespace. None after a full plan or a big change.
func (a *Agent) firstNamespaces(facts plan.Facts) []string {
	if a.planner.TouchedAll {
		return nil
	}
	var out []string
	for id := range a.planner.Touched {
		if ns, ok := facts.Routers[id]; ok {
			if len(out) == firstMax {
				return nil
			}
			out = append(out, ns)
		}
	}
	return out
}

// probeKernel finds out, once at start, whether the kernel makes 802.1Q
// sub-interfaces and GRE taps (kernelfeat), logs one line per missing
// one, and plans with what it found: networks needing a missing one are
// not plugged and their ports' binding fails with it as the reason.
func (a *Agent) probeKernel() {
	f := kernelfeat.Probe()
	for _, x := range []struct {
		err    error
		lacks  *bool
		reason string
	}{{f.VLAN, &a.lacksVLAN, l2.LacksVLANReason}, {f.GRE, &a.lacksGRE, l2.LacksGREReason}} {
		switch {
		case kernelfeat.Missing(x.err):
			*x.lacks = true
			a.log.Error(x.reason+": ports of networks that need it fail to bind on this host", "err", x.err)
		case x.err != nil:
			// Another failure (permissions, a name clash) says nothing
			// about the kernel: plug, and let the apply report errors.
			a.log.Warn("kernel feature probe failed", "feature", x.reason, "err", x.err)
		}
	}
	a.planner = plan.NewPlanner(a.hostConfig())
}

// logSkipped logs, once each, the objects left out of the plan because
// they cannot be decoded.
func (a *Agent) logSkipped() {
	bad := a.model.Undecodable()
	for k, err := range bad {
		if a.skipped[k] != err.Error() {
			a.log.Error("object skipped: cannot decode", "kind", k.Kind, "id", k.ID, "err", err)
			a.skipped[k] = err.Error()
		}
	}
	for k := range a.skipped {
		if bad[k] == nil {
			delete(a.skipped, k)
		}
	}
}

// FetchSnapshot reads the host's current view once (for `plan`).
func (a *Agent) FetchSnapshot(ctx context.Context) (*hostmodel.Snapshot, error) {
	if err := a.authorize(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- a.client.Watch(ctx, a.model, func(*syncproto.Event) { cancel() })
	}()
	err := <-errc
	if !a.model.Synced() {
		return nil, fmt.Errorf("read view of %s: %w", a.cfg.Host, err)
	}
	a.logSkipped() // what cannot be decoded is left out of the plan
	return a.model.Snapshot(a.cfg.Host), nil
}
