package agent

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/neutrino-net/neutrino/internal/agent/dhcp"
	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/metadata"
	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/netns"
)

// services runs the in-process servers that live in agent namespaces —
// one DHCP server per qdhcp namespace, all in this process — started,
// updated and stopped to match each snapshot.
type services struct {
	a    *Agent
	dhcp dhcp.Server
	meta *metadata.Proxy // one listener per router namespace; nil: off

	mu       sync.Mutex
	networks map[string]*atomic.Pointer[dhcp.Network] // ns path -> current data

	// snap is the view the metadata listeners resolve callers in: the
	// last reconcile's (metadata.ResolverOver).
	snap atomic.Pointer[hostmodel.Snapshot]
	// served are, per metadata Sync group, the listeners served since
	// the group's last full sync; a group missing syncs in full.
	served map[string]map[string]metaSpec
}

// metaSpec is what a metadata listener is made of: where it listens
// and the networks whose ports it resolves (the plan's facts).
type metaSpec struct {
	namespace, listen string
	networks          []string
}

func (m metaSpec) equal(o metaSpec) bool {
	return m.namespace == o.namespace && m.listen == o.listen && slices.Equal(m.networks, o.networks)
}

func newServices(a *Agent) *services {
	s := &services{a: a, networks: map[string]*atomic.Pointer[dhcp.Network]{}, served: map[string]map[string]metaSpec{}}
	s.dhcp.Log = a.log
	if a.cfg.EnableMetadataProxy && a.cfg.MetadataURL != "" {
		var err error
		if s.meta, err = metadata.NewProxy(a.cfg.MetadataURL, a.cfg.MetadataSecret, a.log); err != nil {
			a.log.Warn("metadata proxy off", "err", err)
		}
	}
	return s
}

// sync starts, updates and stops the services to match a reconcile's
// snapshot and facts. The metadata listeners are updated for what
// changed since the last sync (a listener whose spec changed, or whose
// namespace the apply touched: it may have been made anew), all of
// them when full (at start and on the resync ticks) or after an error.
func (s *services) sync(snap *hostmodel.Snapshot, facts plan.Facts, touched func(ns string) bool, full bool) {
	s.syncDHCP(facts)
	if s.meta == nil {
		return
	}
	s.snap.Store(snap)
	if full {
		clear(s.served)
	}
	routers := make(map[string]metaSpec, len(facts.RouterMetadata))
	for ns, nets := range facts.RouterMetadata {
		routers[ns] = metaSpec{namespace: ns, networks: nets}
	}
	if err := s.syncMeta(metadata.GroupRouters, routers, touched); err != nil {
		s.a.log.Warn("metadata proxy not started", "err", err)
	}
	isolated := make(map[string]metaSpec, len(facts.IsolatedMetadata))
	for name, netID := range facts.IsolatedMetadata {
		isolated[name] = metaSpec{namespace: name, listen: isolatedListen, networks: []string{netID}}
	}
	if err := s.syncMeta(groupIsolated, isolated, touched); err != nil {
		s.a.log.Warn("isolated metadata proxy not started", "err", err)
	}
}

// groupIsolated is the metadata Sync group of the qdhcp namespaces'
// listeners (enable_isolated_metadata): the instance reaches
// 169.254.169.254 through the DHCP port (the route comes by DHCP).
const (
	groupIsolated  = "dhcp"
	isolatedListen = "169.254.169.254:80"
)

// syncMeta makes the metadata listeners of group those of want (key ->
// spec): all of them when the group has no record of what it served,
// else those new, changed or touched, stopping those gone.
func (s *services) syncMeta(group string, want map[string]metaSpec, touched func(ns string) bool) error {
	last, incremental := s.served[group]
	targets := map[string]metadata.Target{}
	var gone []string // wanted without a listener (no networks) or not wanted
	for key, spec := range want {
		if incremental {
			if old, ok := last[key]; ok && old.equal(spec) && !touched(spec.namespace) {
				continue
			}
		}
		if t, ok := s.target(group, spec); ok {
			targets[key] = t
		} else {
			gone = append(gone, key)
		}
	}
	var err error
	if incremental {
		for key := range last {
			if _, ok := want[key]; !ok {
				gone = append(gone, key)
			}
		}
		err = s.meta.Update(group, targets, gone)
	} else {
		err = s.meta.Sync(group, targets)
	}
	if err != nil {
		delete(s.served, group) // a full sync next time
		return err
	}
	// Record what is served: in place for what changed (a copy of the
	// whole group per reconcile was the walk this avoids).
	if !incremental {
		last = make(map[string]metaSpec, len(want))
		s.served[group] = last
	}
	for key, spec := range want {
		if old, ok := last[key]; !ok || !old.equal(spec) {
			last[key] = metaSpec{namespace: spec.namespace, listen: spec.listen, networks: slices.Clone(spec.networks)}
		}
	}
	for _, key := range gone {
		if _, ok := want[key]; !ok {
			delete(last, key)
		}
	}
	return err
}

// target is the listener of a spec, resolving in the last snapshot.
func (s *services) target(group string, spec metaSpec) (metadata.Target, bool) {
	if group == metadata.GroupRouters {
		return metadata.RouterTarget(s.snap.Load, spec.namespace, spec.networks)
	}
	return metadata.Target{Namespace: spec.namespace, Listen: spec.listen, Resolve: metadata.ResolverOver(s.snap.Load, spec.networks)}, true
}

// syncDHCP serves every DHCP network of this host whose namespace is in
// place; a port change only swaps the data the server reads.
func (s *services) syncDHCP(facts plan.Facts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string]bool{}
	for name, d := range facts.DHCP {
		if !netns.Exists(name) {
			continue
		}
		path := netns.Path(name)
		want[path] = true
		cur, ok := s.networks[path]
		if !ok {
			cur = &atomic.Pointer[dhcp.Network]{}
			s.networks[path] = cur
		}
		cur.Store(d.Network)
		if err := s.dhcp.Start(path, d.Device, cur.Load); err != nil {
			s.a.log.Warn("dhcp server not started", "netns", name, "err", err)
		}
	}
	for path := range s.networks {
		if !want[path] {
			s.dhcp.Stop(path)
			delete(s.networks, path)
		}
	}
}

func (s *services) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dhcp.Close()
	if s.meta != nil {
		s.meta.StopAll()
	}
	s.networks = map[string]*atomic.Pointer[dhcp.Network]{}
}
