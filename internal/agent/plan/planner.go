package plan

import (
	"reflect"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l3"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Planner plans a host incrementally: per unit (each router, and each
// network's layer 2 with its ports' and DHCP facts), it keeps the unit's result and what the
// unit read, and replans a unit only when a change touches one of its
// reads, the agent-side twin of the server's store.ReadSet. A floating
// IP change replans only its router; a change in nothing planning reads
// (the server's echo of the agent's own status report) replans nothing.
//
// The Host and Facts a Plan returns share their contents with the
// planner: read them, do not change them, and do not use them after the
// next call to Plan. A Namespace's own lists and maps are the exception:
// they are never changed once returned (a replanned namespace is a new
// value), so that the agent can keep the namespaces it applied and
// recognise an unchanged one by identity (dataplane.Memory).
type Planner struct {
	cfg     HostConfig
	planned bool
	routers map[string]*routerUnit
	// netUnits are the networks present on the host (see netunits.go);
	// pending are those replanned since the host was assembled.
	netUnits map[string]*netUnit
	pending  []netChange
	dupes    bool
	nets     []string // the routers' networks
	host     desired.Host
	facts    Facts
	// routerReaders and netReaders index the units' read sets: who read
	// an object or an index entry (a change looks its readers up instead
	// of asking every unit).
	routerReaders, netReaders readers
	// reshaped is set when a router came, went or changed networks
	// since the host was assembled: the namespaces must be merged anew.
	reshaped bool
	// hostDirty is set when a router's entries in the host's own lists
	// (DVR: FDB, neighbours, bridge rules) changed: the host is rebuilt.
	hostDirty bool
	// sg is the security group share (secgroups.go).
	sg sgState
	// Last counts what the last Plan replanned.
	Last Stats
	// Touched are the routers, floating IPs and ports whose facts the
	// last Plan dropped or set (a status report need look at no other),
	// unless TouchedAll: the last Plan planned everything.
	Touched    map[string]bool
	TouchedAll bool
}

// touch records objects whose facts the Plan dropped or set.
func touch[V any](p *Planner, ids map[string]V) {
	for id := range ids {
		p.Touched[id] = true
	}
}

// Stats counts the units a Plan replanned.
type Stats struct {
	Routers  int
	Networks int
}

type routerUnit struct {
	router l3.Router
	facts  l3.Facts
	reads  readSet
}

// NewPlanner returns a planner that has planned nothing yet.
func NewPlanner(cfg HostConfig) *Planner {
	return &Planner{cfg: cfg, routers: map[string]*routerUnit{}, netUnits: map[string]*netUnit{}, facts: newFacts(),
		routerReaders: newReaders(), netReaders: newReaders()}
}

// Plan returns the host's desired state and facts for snapshot s, given
// the changes since the previous Plan's snapshot. all (or a first call)
// replans every unit: use it when the changes are not known.
func (p *Planner) Plan(s *hostmodel.Snapshot, changes []hostmodel.Change, all bool) (desired.Host, Facts) {
	p.Last = Stats{}
	if all || !p.planned {
		// The security group share survives: a full replan still
		// compares with it (conntrack cleanup).
		sg := p.sg
		*p = *NewPlanner(p.cfg)
		p.sg = sg
		changes = nil
	}
	first := !p.planned
	p.Touched = map[string]bool{}
	dirtyRouters, dirtyNets := p.dirty(s, changes, first)
	for id := range dirtyRouters {
		p.replanRouter(s, id)
	}
	nets := p.nets
	if p.reshaped || first {
		nets = p.routerNetworks()
	}
	for _, id := range symmetricDifference(p.nets, nets) {
		dirtyNets[id] = true
	}
	p.nets = nets
	if first {
		candidateNetworks(s, p.cfg.Host, nets, dirtyNets)
	}
	if len(dirtyNets) > 0 {
		agentID := l2.DHCPAgentID(s, p.cfg.Host)
		for id := range dirtyNets {
			_, routed := slices.BinarySearch(nets, id)
			p.replanNetwork(s, id, agentID, routed)
		}
	}
	switch {
	case first || p.dupes || p.hostDirty || !p.spliceNetworks():
		p.rebuild()
	case p.reshaped:
		p.mergeRouters()
	default:
		p.patch(dirtyRouters)
	}
	p.addSecGroups(s, changes, first)
	p.pending, p.reshaped, p.hostDirty = nil, false, false
	p.TouchedAll = first
	p.planned = true
	return p.host, p.facts
}

// dirty decides which routers and networks to replan.
func (p *Planner) dirty(s *hostmodel.Snapshot, changes []hostmodel.Change, all bool) (routers, nets map[string]bool) {
	routers, nets = map[string]bool{}, map[string]bool{}
	if all {
		for id := range s.Routers {
			routers[id] = true
		}
		return routers, nets
	}
	allNets := false
	for _, c := range changes {
		if c.StatusOnly {
			continue
		}
		switch c.Key.Kind {
		case model.KindRouter, model.KindL3Binding:
			routers[c.Key.ID] = true
		case model.KindAgent:
			for id := range s.Routers {
				routers[id] = true
			}
			for id := range p.routers {
				routers[id] = true
			}
		default:
			for id := range p.routerReaders.of(c) {
				routers[id] = true
			}
			if c.Key.Kind == model.KindPort {
				p.dvrServedBy(s, c, routers)
			}
		}
		if p.dirtyNetworks(c, nets) {
			allNets = true
		}
	}
	if allNets {
		for id := range p.netUnits {
			nets[id] = true
		}
		for id := range s.DHCPBindings {
			nets[id] = true
		}
	}
	return routers, nets
}

// dvrServedBy marks the routers whether this host serves may turn on a
// port change, which no router unit read when the router was not served
// yet: the router of a router port, and every distributed router when a
// DVR-serviceable port of this host comes, goes or changes.
func (p *Planner) dvrServedBy(s *hostmodel.Snapshot, c hostmodel.Change, routers map[string]bool) {
	for _, o := range []any{c.Old, c.New} {
		pt, ok := o.(*model.Port)
		if !ok {
			continue
		}
		if s.Routers[pt.DeviceID] != nil {
			routers[pt.DeviceID] = true
		}
		if pt.HostID == p.cfg.Host && model.DVRServiceable(pt.DeviceOwner) {
			for id, r := range s.Routers {
				if r.Distributed {
					routers[id] = true
				}
			}
		}
	}
}

// symmetricDifference returns what is in one sorted list only.
func symmetricDifference(a, b []string) []string {
	if len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) {
		// The same list (a plan that moved no router): nothing, without
		// a binary search per network in each direction.
		return nil
	}
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if _, ok := slices.BinarySearch(a, x); !ok {
			out = append(out, x)
		}
	}
	return out
}

// replanRouter plans one router again (or drops it when this host no
// longer serves it).
func (p *Planner) replanRouter(s *hostmodel.Snapshot, id string) {
	p.Last.Routers++
	old := p.routers[id]
	if old != nil {
		p.dropRouterFacts(old)
		p.routerReaders.remove(id, old.reads)
		delete(p.routers, id)
	}
	r := s.Routers[id]
	cfg := p.cfg.l3()
	if r == nil || !l3.Serves(s, cfg, r) {
		p.reshaped = p.reshaped || old != nil
		p.hostDirty = p.hostDirty || old != nil && !old.router.Host.Empty()
		if old != nil && p.cfg.ReleaseLinkLocal != nil {
			p.cfg.ReleaseLinkLocal(id)
		}
		return
	}
	rt, f := l3.PlanAny(s, cfg, r)
	rt.Namespace.Normalize()
	for i := range rt.Extra {
		rt.Extra[i].Normalize()
	}
	normalizeHostParts(&rt.Host)
	u := &routerUnit{router: rt, facts: f, reads: routerReads(s, cfg.Host, r)}
	p.routers[id] = u
	p.routerReaders.add(id, u.reads)
	p.facts.addRouter(rt, f)
	p.touchRouter(u)
	if old == nil || old.router.Namespace.Name != rt.Namespace.Name || !slices.Equal(old.router.Networks, rt.Networks) ||
		len(old.router.Extra) > 0 || len(rt.Extra) > 0 {
		// A router with namespaces it may share (fip-) is merged anew.
		p.reshaped = true
	}
	if old == nil && !rt.Host.Empty() || old != nil && !reflect.DeepEqual(old.router.Host, rt.Host) {
		p.hostDirty = true
	}
	if p.cfg.ReleaseLinkLocal != nil && !hasPeerVeth(rt.Namespace) {
		p.cfg.ReleaseLinkLocal(id)
	}
}

// hasPeerVeth reports whether a namespace has a veth to another
// namespace (a DVR router's rfp-: it holds a link-local allocation).
func hasPeerVeth(ns desired.Namespace) bool {
	for _, v := range ns.Veths {
		if v.PeerNamespace != "" {
			return true
		}
	}
	return false
}

// readers index read sets by object key and index entry.
type readers struct {
	key map[syncproto.Key]map[string]bool
	idx map[idxKey]map[string]bool
	// kinds counts the keys of key by kind: a change of a kind no unit
	// read by key (a rule, a group: routers and networks read none) is
	// not looked up in key, a map of thousands of keys where each miss
	// was a cache miss (a tenth of a rule's planning with 5,000
	// simulated agents in one process).
	kinds map[string]int
}

func newReaders() readers {
	return readers{key: map[syncproto.Key]map[string]bool{}, idx: map[idxKey]map[string]bool{}, kinds: map[string]int{}}
}

func (r readers) add(id string, rs readSet) {
	for k := range rs.keys {
		if r.key[k] == nil {
			r.key[k] = map[string]bool{}
			r.kinds[k.Kind]++
		}
		r.key[k][id] = true
	}
	for k := range rs.idx {
		if r.idx[k] == nil {
			r.idx[k] = map[string]bool{}
		}
		r.idx[k][id] = true
	}
}

func (r readers) remove(id string, rs readSet) {
	for k := range rs.keys {
		ids, ok := r.key[k]
		if !ok {
			continue
		}
		delete(ids, id)
		if len(ids) == 0 {
			delete(r.key, k)
			if r.kinds[k.Kind]--; r.kinds[k.Kind] == 0 {
				delete(r.kinds, k.Kind)
			}
		}
	}
	for k := range rs.idx {
		delete(r.idx[k], id)
		if len(r.idx[k]) == 0 {
			delete(r.idx, k)
		}
	}
}

// of returns the units that read what change c touches: the object, or
// an index entry it was or is under.
func (r readers) of(c hostmodel.Change) map[string]bool {
	var out map[string]bool // nil until a reader is found (most changes: none)
	add := func(ids map[string]bool) {
		for id := range ids {
			if out == nil {
				out = map[string]bool{}
			}
			out[id] = true
		}
	}
	if r.kinds[c.Key.Kind] > 0 {
		add(r.key[c.Key])
	}
	for _, o := range []any{c.Old, c.New} {
		for _, k := range indexKeys(o) {
			add(r.idx[k])
		}
	}
	return out
}

// touchRouter records a router's facts as touched (see Touched).
func (p *Planner) touchRouter(u *routerUnit) {
	p.Touched[u.router.ID] = true
	touch(p, u.facts.FIPStatus)
	touch(p, u.facts.BindingFailed)
}

func (p *Planner) dropRouterFacts(u *routerUnit) {
	p.touchRouter(u)
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
		return []idxKey{{model.KindPort, "device", v.DeviceID}, {model.KindPort, "network", v.NetworkID}}
	case *model.Subnet:
		return []idxKey{{model.KindSubnet, "network", v.NetworkID}}
	case *model.Agent:
		return []idxKey{{model.KindAgent, "host", v.Host}}
	case *model.FloatingIP:
		if v.RouterID != nil {
			return []idxKey{{model.KindFIP, "router", *v.RouterID}}
		}
	}
	return nil
}

// routerReads is what l3.PlanAny reads of the snapshot for router r.
func routerReads(s *hostmodel.Snapshot, host string, r *model.Router) readSet {
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
		if r.Distributed {
			// Neighbours of every port on its networks, the fg- port on
			// the external one.
			rs.idx[idxKey{model.KindPort, "network", pt.NetworkID}] = true
		}
	}
	if r.Distributed {
		key(model.KindDVRMAC, host)
		for _, f := range s.FloatingIPsOfRouter(r.ID) {
			if f.PortID != nil {
				key(model.KindPort, *f.PortID) // where it is bound
			}
		}
	}
	return rs
}
