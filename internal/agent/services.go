package agent

import (
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
}

func newServices(a *Agent) *services {
	s := &services{a: a, networks: map[string]*atomic.Pointer[dhcp.Network]{}}
	s.dhcp.Log = a.log
	if a.cfg.EnableMetadataProxy && a.cfg.MetadataURL != "" {
		var err error
		if s.meta, err = metadata.NewProxy(a.cfg.MetadataURL, a.cfg.MetadataSecret, a.log); err != nil {
			a.log.Warn("metadata proxy off", "err", err)
		}
	}
	return s
}

func (s *services) sync(snap *hostmodel.Snapshot, facts plan.Facts) {
	s.syncDHCP(facts)
	if s.meta != nil {
		if err := s.meta.Sync(metadata.GroupRouters, metadata.RouterTargets(snap, facts.RouterMetadata)); err != nil {
			s.a.log.Warn("metadata proxy not started", "err", err)
		}
		if err := s.meta.Sync("dhcp", isolatedTargets(snap, facts)); err != nil {
			s.a.log.Warn("isolated metadata proxy not started", "err", err)
		}
	}
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

// isolatedTargets serve metadata from the qdhcp namespace of networks
// with no router (enable_isolated_metadata): the instance reaches
// 169.254.169.254 through the DHCP port (the route comes by DHCP).
func isolatedTargets(snap *hostmodel.Snapshot, facts plan.Facts) map[string]metadata.Target {
	out := map[string]metadata.Target{}
	for name, netID := range facts.IsolatedMetadata {
		out[name] = metadata.Target{Namespace: name, Listen: "169.254.169.254:80", Resolve: metadata.ResolverFor(snap, []string{netID})}
	}
	return out
}
