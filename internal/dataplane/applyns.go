package dataplane

import (
	"time"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/vishvananda/netlink"
)

// applyNamespaces reconciles the agent namespaces, pair owners first:
// with a Memory, the changed ones, then those to verify; each one's
// outcome goes to res.Namespaces. It returns the namespaces' errors.
func applyNamespaces(nl *netlink.Handle, res *Result, h *desired.Host, opts Options) []error {
	peers, neighs := peerEnds(h), neighsByNamespace(h)
	mem := opts.Memory
	var todo, verify []nsInput
	for _, ns := range pairOwnersFirst(h.Namespaces) {
		nr := &NamespaceResult{}
		res.Namespaces[ns.Name] = nr
		if opts.Hold != nil && opts.Hold(ns.Name) {
			nr.Held = true
			continue
		}
		in := nsInput{ns: ns, peers: peers[ns.Name], neighs: neighs[ns.Name]}
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
	var errs []error
	apply := func(in nsInput) {
		nr := res.Namespaces[in.ns.Name]
		nr.Unchanged, nr.Plugged = false, nil
		plugged, err := applyNamespace(nl, res, nr, in.ns, in.peers, in.neighs)
		nr.Plugged, nr.Err = plugged, err
		if err != nil {
			errs = append(errs, err)
		}
		for _, id := range plugged {
			res.Plugged[id] = true
		}
		if mem != nil {
			if err == nil {
				mem.record(in, plugged, time.Now())
			} else {
				mem.Forget(in.ns.Name)
			}
		}
	}
	stopped := func() bool { return opts.Stop != nil && opts.Stop() }
	for i, in := range todo {
		if stopped() {
			res.Stopped = true
			for _, rest := range todo[i:] {
				res.Namespaces[rest.ns.Name].Deferred = true
			}
			return errs
		}
		apply(in)
	}
	for _, in := range verify {
		if stopped() {
			res.Stopped = true
			return errs
		}
		if opts.Yield != nil && opts.Yield() {
			break
		}
		apply(in)
	}
	return errs
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
