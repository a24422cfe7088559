package plan

import (
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l3"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Planner plans a host incrementally: per unit (each router, and the
// layer 2 with the DHCP facts), it keeps the unit's result and what the
// unit read, and replans a unit only when a change touches one of its
// reads, the agent-side twin of the server's store.ReadSet. A floating
// IP change replans only its router; a change in nothing planning reads
// (the server's echo of the agent's own status report) replans nothing.
//
// The Host and Facts a Plan returns share their contents with the
// planner: read them, do not change them, and do not use them after the
// next call to Plan.
type Planner struct {
	cfg     HostConfig
	planned bool
	routers map[string]*routerUnit
	l2      *l2Unit
	nets    []string // the routers' networks the L2 unit was planned with
	host    desired.Host
	facts   Facts
	// readers index the routers' read sets: who read an object or an
	// index entry (a change looks its readers up instead of asking every
	// router).
	keyReaders map[syncproto.Key]map[string]bool
	idxReaders map[idxKey]map[string]bool
	// l2BindingFailed are the binding failures the L2 unit found.
	l2BindingFailed map[string]string
	// reshaped is set when a router came, went or changed networks
	// since the host was assembled: the namespaces must be merged anew.
	reshaped bool
	// Last counts what the last Plan replanned.
	Last Stats
}

// Stats counts the units a Plan replanned.
type Stats struct {
	Routers int
	L2      bool
}

type routerUnit struct {
	router l3.Router
	facts  l3.Facts
	reads  readSet
}

type l2Unit struct {
	host  *desired.Host
	facts Facts // Ports, IsolatedMetadata, DHCP
}

// NewPlanner returns a planner that has planned nothing yet.
func NewPlanner(cfg HostConfig) *Planner {
	return &Planner{cfg: cfg, routers: map[string]*routerUnit{}, facts: newFacts(),
		keyReaders: map[syncproto.Key]map[string]bool{}, idxReaders: map[idxKey]map[string]bool{}}
}

// Plan returns the host's desired state and facts for snapshot s, given
// the changes since the previous Plan's snapshot. all (or a first call)
// replans every unit: use it when the changes are not known.
func (p *Planner) Plan(s *hostmodel.Snapshot, changes []hostmodel.Change, all bool) (desired.Host, Facts) {
	p.Last = Stats{}
	if all || !p.planned {
		*p = *NewPlanner(p.cfg)
		changes = nil
	}
	dirtyRouters, l2Dirty := p.dirty(s, changes, !p.planned)
	for id := range dirtyRouters {
		p.replanRouter(s, id)
	}
	nets := p.nets
	if p.reshaped {
		nets = p.routerNetworks()
	}
	if l2Dirty || p.l2 == nil || !slices.Equal(nets, p.nets) {
		p.replanL2(s, nets)
	}
	switch {
	case p.reshaped || p.Last.L2:
		p.assemble()
	case len(dirtyRouters) > 0:
		p.patch(dirtyRouters)
	}
	p.planned = true
	return p.host, p.facts
}

// dirty decides which routers to replan and whether the L2 unit must be.
func (p *Planner) dirty(s *hostmodel.Snapshot, changes []hostmodel.Change, all bool) (map[string]bool, bool) {
	out := map[string]bool{}
	if all {
		for id := range s.Routers {
			out[id] = true
		}
		return out, true
	}
	l2Dirty := false
	for _, c := range changes {
		if c.StatusOnly {
			continue
		}
		switch c.Key.Kind {
		case model.KindRouter, model.KindL3Binding:
			out[c.Key.ID] = true
		case model.KindAgent:
			for id := range s.Routers {
				out[id] = true
			}
			for id := range p.routers {
				out[id] = true
			}
		default:
			for id := range p.keyReaders[c.Key] {
				out[id] = true
			}
			for _, o := range []any{c.Old, c.New} {
				for _, k := range indexKeys(o) {
					for id := range p.idxReaders[k] {
						out[id] = true
					}
				}
			}
		}
		switch c.Key.Kind {
		case model.KindPort, model.KindNetwork, model.KindSubnet, model.KindAgent, model.KindDHCPBinding:
			l2Dirty = true
		}
	}
	return out, l2Dirty
}

// replanRouter plans one router again (or drops it when this host no
// longer serves it).
func (p *Planner) replanRouter(s *hostmodel.Snapshot, id string) {
	p.Last.Routers++
	old := p.routers[id]
	if old != nil {
		p.dropRouterFacts(old)
		p.unindex(id, old.reads)
		delete(p.routers, id)
	}
	r := s.Routers[id]
	cfg := p.cfg.l3()
	if r == nil || !l3.Serves(s, cfg, r) {
		p.reshaped = p.reshaped || old != nil
		return
	}
	rt, f := l3.PlanRouter(s, cfg, r)
	rt.Namespace.Normalize()
	u := &routerUnit{router: rt, facts: f, reads: routerReads(s, r)}
	p.routers[id] = u
	p.index(id, u.reads)
	p.facts.addRouter(rt, f)
	if old == nil || old.router.Namespace.Name != rt.Namespace.Name || !slices.Equal(old.router.Networks, rt.Networks) {
		p.reshaped = true
	}
}

func (p *Planner) index(id string, rs readSet) {
	for k := range rs.keys {
		if p.keyReaders[k] == nil {
			p.keyReaders[k] = map[string]bool{}
		}
		p.keyReaders[k][id] = true
	}
	for k := range rs.idx {
		if p.idxReaders[k] == nil {
			p.idxReaders[k] = map[string]bool{}
		}
		p.idxReaders[k][id] = true
	}
}

func (p *Planner) unindex(id string, rs readSet) {
	for k := range rs.keys {
		delete(p.keyReaders[k], id)
		if len(p.keyReaders[k]) == 0 {
			delete(p.keyReaders, k)
		}
	}
	for k := range rs.idx {
		delete(p.idxReaders[k], id)
		if len(p.idxReaders[k]) == 0 {
			delete(p.idxReaders, k)
		}
	}
}

func (p *Planner) dropRouterFacts(u *routerUnit) {
	delete(p.facts.Routers, u.router.ID)
	for id := range u.facts.FIPStatus {
		delete(p.facts.FloatingIPs, id)
	}
	delete(p.facts.RouterMetadata, u.router.Namespace.Name)
	for id := range u.facts.BindingFailed {
		delete(p.facts.BindingFailed, id)
	}
}

// routerNetworks are the networks the routers plug into, sorted.
func (p *Planner) routerNetworks() []string {
	var out []string
	for _, u := range p.routers {
		out = append(out, u.router.Networks...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (p *Planner) replanL2(s *hostmodel.Snapshot, nets []string) {
	p.Last.L2 = true
	f := newFacts()
	f.addPorts(s, p.cfg)
	f.addDHCP(s, p.cfg)
	p.l2 = &l2Unit{host: l2.Plan(s, p.cfg.l2(), nets), facts: f}
	p.nets = nets
	p.facts.Ports, p.facts.IsolatedMetadata, p.facts.DHCP = f.Ports, f.IsolatedMetadata, f.DHCP
	// Binding failures come from both units: keep the routers'.
	for id := range p.l2BindingFailed {
		delete(p.facts.BindingFailed, id)
	}
	for id, why := range f.BindingFailed {
		p.facts.BindingFailed[id] = why
	}
	p.l2BindingFailed = f.BindingFailed
}

// assemble builds the host from the L2 unit and the routers' namespaces
// (each unit's lists are already sorted; only namespaces are merged).
func (p *Planner) assemble() {
	h := *p.l2.host
	ns := make([]desired.Namespace, 0, len(h.Namespaces)+len(p.routers))
	ns = append(ns, h.Namespaces...)
	for _, u := range p.routers {
		ns = append(ns, u.router.Namespace)
	}
	slices.SortFunc(ns, func(a, b desired.Namespace) int { return strings.Compare(a.Name, b.Name) })
	h.Namespaces = slices.CompactFunc(ns, func(a, b desired.Namespace) bool { return a.Name == b.Name })
	p.host = h
	p.reshaped = false
}

// patch puts replanned routers' namespaces in place when no router came,
// went or changed networks (the common case: a floating IP change).
func (p *Planner) patch(ids map[string]bool) {
	for id := range ids {
		u := p.routers[id]
		if u == nil {
			continue
		}
		i, ok := slices.BinarySearchFunc(p.host.Namespaces, u.router.Namespace.Name, func(n desired.Namespace, name string) int {
			return strings.Compare(n.Name, name)
		})
		if ok {
			p.host.Namespaces[i] = u.router.Namespace
		}
	}
}

// Plan computes a host's desired state and facts from a snapshot, from
// scratch.
func Plan(s *hostmodel.Snapshot, cfg HostConfig) (desired.Host, Facts) {
	return NewPlanner(cfg).Plan(s, nil, true)
}

// readSet is what a unit read: objects by key, and index lookups
// (ports of a device, floating IPs of a router).
type readSet struct {
	keys map[syncproto.Key]bool
	idx  map[idxKey]bool
}

type idxKey struct{ kind, field, value string }

// indexKeys are the index entries an object appears under.
func indexKeys(o any) []idxKey {
	switch v := o.(type) {
	case *model.Port:
		return []idxKey{{model.KindPort, "device", v.DeviceID}}
	case *model.FloatingIP:
		if v.RouterID != nil {
			return []idxKey{{model.KindFIP, "router", *v.RouterID}}
		}
	}
	return nil
}

// routerReads is what l3.PlanRouter reads of the snapshot for router r.
func routerReads(s *hostmodel.Snapshot, r *model.Router) readSet {
	rs := readSet{keys: map[syncproto.Key]bool{}, idx: map[idxKey]bool{
		{model.KindPort, "device", r.ID}: true,
		{model.KindFIP, "router", r.ID}:  true,
	}}
	key := func(kind, id string) { rs.keys[syncproto.Key{Kind: kind, ID: id}] = true }
	key(model.KindRouter, r.ID)
	key(model.KindL3Binding, r.ID)
	key(model.KindPort, r.GatewayPortID)
	ports := slices.Clone(s.PortsOfDevice(r.ID))
	if gw := s.Ports[r.GatewayPortID]; gw != nil {
		ports = append(ports, gw)
	}
	for _, pt := range ports {
		key(model.KindPort, pt.ID)
		key(model.KindNetwork, pt.NetworkID)
		for _, ip := range pt.FixedIPs {
			key(model.KindSubnet, ip.SubnetID)
		}
	}
	return rs
}
