package control

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// The bookkeeping controller keeps what upstream's plugins and agent
// schedulers maintain behind the API's back: router placement on L3
// agents (with failover), the host of router ports, DHCP agents and their
// ports, DVR floating IP agent gateway ports, and DVR MACs of hosts that
// are gone.
//
// Every server runs it. A pass lists the items (routers, networks, hosts
// with external networks, DVR MACs: few compared with ports), dry-runs
// each item's planner against the cache to find those that need work
// (after a resource change only the items whose reads it changed:
// settled, below), and commits each of those as its own guarded
// transaction. Two servers
// doing the same item race on the same keys and claims: one commits, the
// other re-plans against the result and finds nothing left to do. A
// failing item is logged and retried later with backoff; it does not
// hold up the others.

const (
	// bookkeepingMinInterval bounds how often passes run.
	bookkeepingMinInterval = 50 * time.Millisecond
	// livenessScanGap is the least time between two reads of every
	// heartbeat at liveness deadlines (and at least four times what the
	// last one took). With 10,000 agents reporting every 30 s, the
	// earliest deadline is always a few milliseconds away: reading
	// 10,000 heartbeats at each one took up to a third of the server's
	// CPU. A dead agent is then seen at most this much after its down
	// time (1.5 s at the least).
	livenessScanGap = 100 * time.Millisecond
	// bookkeepingBatch is how many items are dry-run under one read lock.
	bookkeepingBatch = 256
	maxRetryDelay    = 30 * time.Second
	// demotionPoll is how often a pass runs while an HA router waits
	// for its demoted active agent.
	demotionPoll = 100 * time.Millisecond
)

type workItem struct {
	key  string
	plan planner
}

type retryState struct {
	until time.Time
	delay time.Duration
	msg   string
}

type controller struct {
	ctl     *Control
	retries map[string]*retryState
	// scanned and scanCost are when waitForWork last read every
	// heartbeat, and what that took (livenessScanGap).
	scanned  time.Time
	scanCost time.Duration
	// settled holds, per item whose last dry run found nothing to do,
	// what that dry run read (heartbeats and claims left out). A pass
	// woken by a resource change dry-runs only the items whose reads
	// changed since: with 10,000 routers, a port create no longer costs
	// 10,000 router dry runs. A full pass (the periodic tick, a change
	// of the agents alive, pending HA demotions, the first pass) drops
	// them all, so what depends on time and heartbeats is seen at the
	// same moments as before.
	settled map[string]*store.ReadSet
	// base is a revision no settled read set is older than: the first
	// view of the last pass.
	base int64
	// fgNets holds, per DVR host, the external networks fgWanted found
	// at the last pass and what it read: listing the items asked every
	// host (RoutersOfHost walks its ports and their subnets' router
	// ports), and with 5,000 hosts that was most of a pass, on every
	// change. fgWanted reads resources only: kept over full passes.
	fgNets map[string]fgMemo
	// kinds, when set, are the kinds of resources the last pass read
	// (listing the items, and every item: all of them settled): a pass
	// woken by changes of none of them has nothing to do, and returns at
	// once (a rule or a floating IP changed: nothing bookkeeping reads).
	// quiet is the revision up to which such passes found nothing.
	kinds map[string]struct{}
	quiet int64
	live  liveCache
	scan  heartbeatScan
}

// liveCache is livenessDeadline's last answer and the revision it was
// read at. Every wake-up of the controller asked it anew: with 10,000
// agents, reading every heartbeat on every change was most of what the
// controller did while rules and floating IPs changed. It holds until
// its deadline (no agent alive then can have died before), and while no
// agent was created, changed or deleted; heartbeats since only make
// the deadline early (a wake-up that finds the same agents alive).
type liveCache struct {
	deadline time.Time
	alive    map[string]bool
	rev      int64
}

var agentKind = map[string]struct{}{model.KindAgent: {}}

// liveness is livenessDeadline(v), from the cache when it holds.
func (k *controller) liveness(v *store.View) (time.Time, map[string]bool) {
	l := &k.live
	if l.alive != nil && k.ctl.now().Before(l.deadline) && !v.ChangesSince(l.rev).AnyOf(agentKind) {
		return l.deadline, l.alive
	}
	l.deadline, l.alive = k.scan.deadline(k.ctl, v)
	l.rev = v.Rev()
	return l.deadline, l.alive
}

// fgMemo is fgWanted's answer for one host and what it read.
type fgMemo struct {
	nets []string
	rs   *store.ReadSet
}

// Start starts the controller; the returned function stops it
// and waits until it has.
func (c *Control) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	k := &controller{ctl: c, retries: map[string]*retryState{}, settled: map[string]*store.ReadSet{}, fgNets: map[string]fgMemo{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.run(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

func (k *controller) run(ctx context.Context) {
	tick := k.ctl.cfg.AgentDownTime / 3
	if tick < 100*time.Millisecond {
		tick = 100 * time.Millisecond
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var last time.Time
	var cost time.Duration
	full := true
	for {
		// At most one pass per bookkeepingMinInterval, and finding the
		// work takes at most a fifth of the time while changes keep
		// coming.
		if wait := max(bookkeepingMinInterval, 4*cost) - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		var changed <-chan struct{}
		var deadline time.Time
		var alive map[string]bool
		var pending bool
		k.ctl.st.View(func(v *store.View) {
			changed = v.Changed()
			deadline, alive = k.liveness(v)
			pending = pendingDemotions(v)
		})
		last = time.Now()
		var wrote bool
		wrote, cost = k.pass(ctx, full || pending)
		if wrote {
			// Claim releases and the like wake nobody: look again (the
			// write itself is in the change log).
			full = false
			continue
		}
		if pending {
			// Demoted HA agents acknowledge by heartbeat, or fall
			// silent: look again soon (demote.go).
			if d := time.Now().Add(demotionPoll); deadline.IsZero() || d.Before(deadline) {
				deadline, alive = d, nil
			}
		}
		var ok bool
		if ok, full = k.waitForWork(ctx, changed, ticker.C, deadline, alive); !ok {
			return
		}
	}
}

// waitForWork waits until a resource changes, the periodic tick, or an
// agent's liveness changes (heartbeats are plain keys and wake nobody:
// at the earliest moment an agent alive at the last pass could turn
// dead, it compares who is alive). It returns false when ctx ends, and
// whether the next pass must be full (anything but a resource change).
func (k *controller) waitForWork(ctx context.Context, changed <-chan struct{}, tick <-chan time.Time, deadline time.Time, alive map[string]bool) (ok, full bool) {
	for {
		var timer <-chan time.Time
		stop := func() {}
		if !deadline.IsZero() {
			wait := max(time.Until(deadline), time.Until(k.scanned.Add(max(livenessScanGap, 4*k.scanCost))), time.Millisecond)
			t := time.NewTimer(wait)
			timer, stop = t.C, func() { t.Stop() }
		}
		select {
		case <-ctx.Done():
			stop()
			return false, false
		case <-changed:
			stop()
			return true, false
		case <-tick:
			stop()
			return true, true
		case <-timer:
		}
		var now map[string]bool
		start := time.Now()
		k.ctl.st.View(func(v *store.View) { deadline, now = k.scan.deadline(k.ctl, v) })
		k.scanned, k.scanCost = time.Now(), time.Since(start)
		if alive == nil || !maps.Equal(now, alive) {
			return true, true
		}
	}
}

// bookkeepingItems lists every bookkeeping item of the view; fgNets
// answers which external networks need a floating IP agent gateway
// port on a DVR host (sorted; fgWanted, or what it answered before).
func (c *Control) bookkeepingItems(v *store.View, fgNets func(host string) []string) []workItem {
	var out []workItem
	seen := map[string]bool{}
	add := func(key string, mk func() planner) {
		if !seen[key] {
			seen[key] = true
			out = append(out, workItem{key: key, plan: mk()})
		}
	}
	router := func(e *store.Entry) bool {
		add("router/"+e.ID, func() planner { return c.routerPlanner(e.ID) })
		return true
	}
	v.Each(model.KindRouter, router)
	v.Each(model.KindL3Binding, router)
	network := func(e *store.Entry) bool {
		add("dhcp/"+e.ID, func() planner { return c.dhcpPlanner(e.ID) })
		return true
	}
	v.Each(model.KindNetwork, network)
	v.Each(model.KindDHCPBinding, network)
	fg := func(host, netID string) {
		add("fg/"+claims.FGMember(host, netID), func() planner { return c.fgPlanner(host, netID) })
	}
	for m := range v.Claims(claims.FGPort) {
		fg(claims.SplitFGMember(m))
	}
	v.Each(model.KindAgent, func(e *store.Entry) bool {
		ag, ok := store.As[*model.Agent](e)
		if !ok || ag.AgentType != model.AgentTypeL3 {
			return true
		}
		if m := AgentMode(ag); m != model.ModeDVR && m != model.ModeDVRSNAT {
			return true
		}
		for _, n := range fgNets(ag.Host) {
			fg(ag.Host, n)
		}
		return true
	})
	v.Each(model.KindDVRMAC, func(e *store.Entry) bool {
		host := e.ID
		add("dvrmac/"+host, func() planner { return c.dvrMACPlanner(host) })
		return true
	})
	return out
}

// pass does one round of bookkeeping: every item (full) or those whose
// reads changed since they were last found settled. It reports whether
// it wrote, and how long finding the work took.
func (k *controller) pass(ctx context.Context, full bool) (bool, time.Duration) {
	now := time.Now()
	if full {
		maps.DeleteFunc(k.settled, func(key string, _ *store.ReadSet) bool { return !timeless(key) })
		k.kinds = nil
	}
	if k.kinds != nil && len(k.retries) == 0 {
		quiet := false
		k.ctl.st.View(func(v *store.View) {
			if quiet = !v.ChangesSince(k.quiet).AnyOf(k.kinds); quiet {
				k.quiet = v.Rev()
			}
		})
		if quiet {
			return false, time.Since(now)
		}
	}
	k.kinds = nil
	var items []workItem
	base := k.base
	listed := store.NewReadSet()
	k.ctl.st.View(func(v *store.View) {
		var changes *store.Changes
		if len(k.fgNets) > 0 {
			changes = v.ChangesSince(base)
		}
		seen := make(map[string]bool, len(k.fgNets))
		items = k.ctl.bookkeepingItems(v.RecordingResources(listed), func(host string) []string {
			seen[host] = true
			return k.wantedFG(v, host, changes)
		})
		k.base = v.Rev()
		maps.DeleteFunc(k.fgNets, func(host string, _ fgMemo) bool { return !seen[host] })
	})
	var todo []workItem
	for i := 0; i < len(items); i += bookkeepingBatch {
		batch := items[i:min(i+bookkeepingBatch, len(items))]
		k.ctl.st.View(func(v *store.View) {
			var changes *store.Changes
			if len(k.settled) > 0 {
				changes = v.ChangesSince(base)
			}
			for _, it := range batch {
				if r := k.retries[it.key]; r != nil && now.Before(r.until) {
					continue
				}
				if rs := k.settled[it.key]; rs != nil && !v.AffectedBy(rs, changes) {
					continue
				}
				rs := store.NewReadSet()
				need, err := v.RecordingResources(rs).WouldChange(it.plan)
				delete(k.settled, it.key)
				if err != nil {
					k.failed(it.key, err)
					continue
				}
				if need {
					todo = append(todo, it)
				} else {
					delete(k.retries, it.key)
					k.settled[it.key] = rs
				}
			}
		})
	}
	checked := time.Since(now)
	wrote := false
	for _, it := range todo {
		if ctx.Err() != nil {
			return false, checked
		}
		rev, err := k.ctl.st.Update(ctx, it.plan)
		if err != nil {
			if ctx.Err() == nil {
				k.failed(it.key, err)
			}
			continue
		}
		delete(k.retries, it.key)
		wrote = wrote || rev > 0
	}
	k.forgetGone(items)
	if len(todo) == 0 && len(k.retries) == 0 && len(k.settled) == len(items) {
		k.kinds, k.quiet = k.readKinds(listed), k.base
	}
	return wrote, checked
}

// readKinds returns the kinds of resources read by the listing, the
// settled items and the remembered fgWanted answers; nil if one of them
// cannot tell.
func (k *controller) readKinds(listed *store.ReadSet) map[string]struct{} {
	kinds := map[string]struct{}{}
	ok := listed.Kinds(kinds)
	for _, rs := range k.settled {
		ok = ok && rs.Kinds(kinds)
	}
	for _, m := range k.fgNets {
		ok = ok && m.rs.Kinds(kinds)
	}
	if !ok {
		return nil
	}
	return kinds
}

// timeless reports whether an item's planner reads only resources and
// claims (no heartbeat, no clock): what its settled read set says then
// holds over a full pass, which need not dry-run it again. The floating
// IP agent gateway port and DVR MAC items are one or two per host: with
// 5,000 hosts, dry-running them all at every full pass (every
// agent_down_time / 3) took about a second of CPU each time.
func timeless(key string) bool {
	return strings.HasPrefix(key, "fg/") || strings.HasPrefix(key, "dvrmac/")
}

// wantedFG is fgWanted(v, host)'s networks, sorted: as the last pass
// found them when no change since touched what it read (changes nil:
// nothing is remembered).
func (k *controller) wantedFG(v *store.View, host string, changes *store.Changes) []string {
	if m, ok := k.fgNets[host]; ok && changes != nil && !v.AffectedBy(m.rs, changes) {
		return m.nets
	}
	rs := store.NewReadSet()
	nets, _ := fgWanted(v.RecordingResources(rs), host)
	m := fgMemo{nets: sortedKeys(nets), rs: rs}
	k.fgNets[host] = m
	return m.nets
}

// forgetGone drops the retry state and read sets of items that are gone.
func (k *controller) forgetGone(items []workItem) {
	if len(k.retries) == 0 && len(k.settled) <= len(items) {
		return
	}
	live := make(map[string]bool, len(items))
	for _, it := range items {
		live[it.key] = true
	}
	for key := range k.retries {
		if !live[key] {
			delete(k.retries, key)
		}
	}
	for key := range k.settled {
		if !live[key] {
			delete(k.settled, key)
		}
	}
}

func (k *controller) failed(key string, err error) {
	r := k.retries[key]
	if r == nil {
		r = &retryState{delay: 500 * time.Millisecond}
		k.retries[key] = r
	} else {
		r.delay = min(2*r.delay, maxRetryDelay)
	}
	r.until = time.Now().Add(r.delay)
	if msg := err.Error(); msg != r.msg || errors.Is(err, store.ErrConflict) {
		r.msg = msg
		k.ctl.log.Warn("bookkeeping failed; will retry", "item", key, "err", err, "retry_in", r.delay)
	}
}
