package dataplane

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/vishvananda/netlink"
)

// applyNamespaces reconciles the agent namespaces, pair owners first:
// with a Memory, the changed ones, then those to verify; each one's
// outcome goes to res.Namespaces. It returns the namespaces' errors.
func applyNamespaces(nl *netlink.Handle, res *Result, h *desired.Host, opts Options) []error {
	mem := opts.Memory
	a := &nsApplier{res: res, mem: mem}
	// One allocation for every namespace's result: a network node has
	// 1,500 namespaces, of which a change touches one.
	nrs := make([]NamespaceResult, len(h.Namespaces))
	first := a.applyFirst(nl, h, nrs, opts)
	peers, neighs := peerEnds(h), neighsByNamespace(h)
	var todo, verify []nsInput
	for _, i := range pairOwnersFirst(h.Namespaces) {
		ns := &h.Namespaces[i]
		nr := &nrs[i]
		res.Namespaces[ns.Name] = nr
		if first[ns.Name] {
			continue // applied by applyFirst
		}
		if opts.Hold != nil && opts.Hold(ns.Name) {
			nr.Held = true
			continue
		}
		in := nsInput{ns: *ns, peers: peers[ns.Name], neighs: neighs[ns.Name]}
		if mem == nil || !mem.unchanged(in) {
			todo = append(todo, in)
			continue
		}
		nr.Unchanged, nr.Plugged = true, mem.ns[ns.Name].plugged
		for _, id := range nr.Plugged {
			res.Plugged[id] = true
		}
		if opts.Verify != nil && opts.Verify(ns.Name) {
			verify = append(verify, in)
		}
	}
	stopped := func() bool { return opts.Stop != nil && opts.Stop() }
	prepareNew(nl, res, todo, opts.Workers, stopped)
	// Pair owners one by one (two may create their shared peer
	// namespace), then the others with the workers.
	owners := 0
	for owners < len(todo) && ownsPair(todo[owners].ns) {
		owners++
	}
	left := runNamespaces(nl, todo[:owners], 1, stopped, a.apply)
	if len(left) == 0 {
		left = runNamespaces(nl, todo[owners:], opts.Workers, stopped, a.apply)
	} else {
		left = append(left, todo[owners:]...)
	}
	if len(left) > 0 {
		res.Stopped = true
		for _, in := range left {
			res.Namespaces[in.ns.Name].Deferred = true
		}
		return a.errs
	}
	for _, in := range verify {
		if stopped() {
			res.Stopped = true
			return a.errs
		}
		if opts.Yield != nil && opts.Yield() {
			break
		}
		a.apply(nl, in)
	}
	return a.errs
}

// nsApplier applies namespaces into one Result (workers side by side).
type nsApplier struct {
	res  *Result
	mem  *Memory
	mu   sync.Mutex
	errs []error
}

// apply reconciles one namespace into a result of its own and merges
// it; res.Namespaces has the namespace's NamespaceResult.
func (a *nsApplier) apply(nl *netlink.Handle, in nsInput) {
	res := a.res
	nr, sub := res.Namespaces[in.ns.Name], &Result{}
	plugged, err := applyNamespace(nl, sub, nr, in.ns, in.peers, in.neighs)
	a.mu.Lock()
	defer a.mu.Unlock()
	res.Changes = append(res.Changes, sub.Changes...)
	res.announcements = append(res.announcements, sub.announcements...)
	res.vethsAdded += sub.vethsAdded
	nr.Unchanged, nr.Plugged, nr.Err = false, plugged, err
	if err != nil {
		a.errs = append(a.errs, err)
	}
	for _, id := range plugged {
		res.Plugged[id] = true
	}
	if a.mem != nil {
		if err == nil {
			a.mem.record(in, plugged, time.Now())
		} else {
			a.mem.Forget(in.ns.Name)
		}
	}
}

// applyFirst applies, before the pass over every namespace, those of
// opts.First that changed (a floating IP's router: on a network node the
// pass over 1,500 namespaces took milliseconds before it), when the
// order cannot matter: the namespace was applied cleanly before, is not
// held, owns no pair and holds no other namespace's pair end. It
// returns the namespaces it applied; the pass leaves them alone.
func (a *nsApplier) applyFirst(nl *netlink.Handle, h *desired.Host, nrs []NamespaceResult, opts Options) map[string]bool {
	if a.mem == nil || len(opts.First) == 0 {
		return nil
	}
	done := map[string]bool{}
	for _, name := range opts.First {
		i := slices.IndexFunc(h.Namespaces, func(ns desired.Namespace) bool { return ns.Name == name })
		if i < 0 || done[name] || a.mem.ns[name] == nil || opts.Hold != nil && opts.Hold(name) ||
			ownsPair(h.Namespaces[i]) || holdsPeer(h, name) {
			continue
		}
		in := nsInput{ns: h.Namespaces[i], neighs: neighsOf(h, name)}
		if a.mem.unchanged(in) {
			continue // the pass finds it unchanged too
		}
		a.res.Namespaces[name] = &nrs[i]
		a.apply(nl, in)
		done[name] = true
	}
	return done
}

// holdsPeer reports whether another namespace's pair has its outer end
// in namespace name.
func holdsPeer(h *desired.Host, name string) bool {
	for _, ns := range h.Namespaces {
		for _, v := range ns.Veths {
			if v.PeerNamespace == name {
				return true
			}
		}
	}
	return false
}

// neighsOf are the desired neighbours of namespace name (as
// neighsByNamespace groups them).
func neighsOf(h *desired.Host, name string) []desired.Neigh {
	var out []desired.Neigh
	for _, n := range h.Neighs {
		if n.Namespace == name {
			out = append(out, n)
		}
	}
	return out
}

// ownsPair reports whether a namespace has a pair whose outer end lives
// in another agent namespace.
func ownsPair(ns desired.Namespace) bool {
	return slices.ContainsFunc(ns.Veths, func(v desired.Veth) bool { return v.PeerNamespace != "" })
}

// runNamespaces applies items with up to workers goroutines (each with
// a netlink handle of the host namespace: nl, or one opened here, in
// the namespace Apply runs in), asking stop before each. It returns the
// items not started.
func runNamespaces(nl *netlink.Handle, items []nsInput, workers int, stop func() bool, apply func(*netlink.Handle, nsInput)) []nsInput {
	workers = max(1, min(workers, len(items)))
	handles := []*netlink.Handle{nl}
	for len(handles) < workers {
		h, err := netlink.NewHandle()
		if err != nil {
			break
		}
		defer h.Close()
		handles = append(handles, h)
	}
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		stopped atomic.Bool
	)
	for _, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() {
				if stop() {
					stopped.Store(true)
					return
				}
				i := int(next.Add(1)) - 1
				if i >= len(items) {
					return
				}
				apply(h, items[i])
			}
		}()
	}
	wg.Wait()
	if n := int(next.Load()); n < len(items) {
		return items[n:]
	}
	return nil
}

// remember updates the Memory after an apply that ran to its end: the
// late sysctls' failures are forgotten, namespaces no longer desired
// dropped, and the host's parts recorded when they were applied cleanly.
func remember(mem *Memory, h *desired.Host, res *Result, hostIn *hostInput, hostPlugged []string, didHost bool) {
	for name, nr := range res.Namespaces {
		if nr.Err != nil {
			mem.Forget(name)
		}
	}
	mem.keepOnly(h)
	switch {
	case res.HostErr != nil:
		mem.ForgetHost()
	case didHost:
		mem.host = &hostMemo{in: *hostIn, plugged: hostPlugged}
	}
}
