package hostview

import (
	"iter"
	"slices"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Incremental views. Most changes leave every view's membership as it
// was: a port's status, a floating IP's fixed address, an agent's
// heartbeat, a rule added to a group. Recomputing thousands of views
// for one of them (a rule of a group every port is in concerns every
// host) was the server's whole cost: such a change is applied to what
// each watcher knows instead, and only a change that can alter which
// objects a view holds makes it recompute.
//
// Why that is exact: Compute is a function of what its reads return
// (store.ReadSet). A local change (below) changes none of the fields
// Compute branches on or indexes by, so a recompute would walk the same
// path, make the same reads and hold the same keys; the one difference
// is the changed entry itself (a new revision where it was held) or,
// for a rule without remote group or address group, one more or one
// fewer rule under a group the view already holds. Changes that touch
// none of the reads cannot change the view at all.

// Effect is what a change does to every view.
type Effect int

const (
	// Recompute: the change may alter which objects a view holds.
	Recompute Effect = iota
	// Revise: a new revision of the object, in every view holding it.
	Revise
	// Join: a new object, in every view holding its anchor.
	Join
	// Leave: the object goes from every view holding it.
	Leave
	// Move: the object is now in every view holding its anchor (the
	// zero key: none) and in no other, whatever views held it before.
	Move
)

// Local returns the effect of a change (old, cur: the entries before and
// after, nil for none) on every view, and for Join and Move the key of
// the object whose presence in a view brings the changed one in. v is
// the view the changes lead to (a floating IP's router is looked up
// there).
func Local(v *store.View, kind string, old, cur *store.Entry) (Effect, syncproto.Key) {
	switch {
	case kind == model.KindFIP && cur == nil:
		// Compute adds a floating IP to a view and nothing through it.
		return Leave, syncproto.Key{}
	case old != nil && cur != nil && sameShape(kind, old.Obj, cur.Obj):
		return Revise, syncproto.Key{}
	case kind == model.KindFIP:
		return fipMove(v, cur)
	case old == nil && cur != nil && kind == model.KindSGRule:
		// A rule is in a view exactly when its group is (Compute reads
		// a held group's rules by index); one that names no remote group
		// or address group brings nothing else in.
		if r, ok := store.As[*model.SecurityGroupRule](cur); ok && plainRule(r) {
			return Join, syncproto.Key{Kind: model.KindSG, ID: r.SecurityGroupID}
		}
	case old != nil && cur == nil && kind == model.KindSGRule:
		if r, ok := store.As[*model.SecurityGroupRule](old); ok && plainRule(r) {
			return Leave, syncproto.Key{}
		}
	}
	return Recompute, syncproto.Key{}
}

// fipMove is the effect of a floating IP's creation or new association
// (cur: its new value): a Move to its router when that router is none
// or legacy, else a recompute.
//
// Why that is exact: a floating IP is in a view only through a router
// the view holds — by the ByRouter index of a held router, or by ByPort
// for a held distributed router with RouterID equal to it. With no
// router it is in no view; with a legacy router R it is in exactly the
// views holding R (ByRouter, without condition; the ByPort path wants a
// distributed router, R is not one), whatever views held it before.
// Compute reads nothing through it (only a distributed router's
// floating IPs lead to reads: centralFIP), and its index reads are by
// router and port IDs the view holds, not by floating IP: a recompute
// would make the same reads, or more if the old router was distributed
// (a superset is harmless: it only makes Follow look at more changes).
//
// R is read in v, the end of the changes being followed, not at the
// change: a view holding R read R, so a change of R that makes it
// distributed, or deletes it, stops Follow (Router sameShape) whichever
// comes first; a view not holding R does not hold the floating IP
// either way.
func fipMove(v *store.View, cur *store.Entry) (Effect, syncproto.Key) {
	f, ok := store.As[*model.FloatingIP](cur)
	if !ok {
		return Recompute, syncproto.Key{}
	}
	if f.RouterID == nil {
		return Move, syncproto.Key{}
	}
	if _, r, ok := store.GetAs[*model.Router](v, model.KindRouter, *f.RouterID); !ok || r.Distributed {
		return Recompute, syncproto.Key{}
	}
	return Move, syncproto.Key{Kind: model.KindRouter, ID: *f.RouterID}
}

// plainRule reports whether a rule's presence pulls nothing else into a
// view (no remote group's members, no address group).
func plainRule(r *model.SecurityGroupRule) bool {
	return r.SecurityGroupID != "" && r.RemoteGroupID == nil && r.RemoteAddressGroupID == nil
}

// sameShape reports whether two values of an object agree on every
// field that Compute (and the store's indexes) read to decide what a
// view holds: a change between them is a Revise. A kind Compute reads
// nothing of (subnets, groups, address groups, DVR MACs) always agrees;
// an object that does not decode never does (Compute keeps it but reads
// nothing through it, and the indexes skip it).
func sameShape(kind string, a, b any) bool {
	switch kind {
	case model.KindPort:
		return same(a, b, func(p, q *model.Port) bool {
			return p.NetworkID == q.NetworkID && p.DeviceID == q.DeviceID && p.DeviceOwner == q.DeviceOwner &&
				p.HostID == q.HostID && slices.Equal(p.SecurityGroups, q.SecurityGroups) &&
				slices.EqualFunc(p.FixedIPs, q.FixedIPs, func(x, y model.FixedIP) bool { return x.SubnetID == y.SubnetID })
		})
	case model.KindFIP:
		return same(a, b, func(f, g *model.FloatingIP) bool {
			return eqPtr(f.PortID, g.PortID) && eqPtr(f.RouterID, g.RouterID)
		})
	case model.KindAgent:
		return same(a, b, func(x, y *model.Agent) bool {
			mx, _ := x.Configurations["agent_mode"].(string)
			my, _ := y.Configurations["agent_mode"].(string)
			return x.Host == y.Host && x.AgentType == y.AgentType && mx == my
		})
	case model.KindRouter:
		return same(a, b, func(r, s *model.Router) bool {
			gw := func(r *model.Router) *string {
				if r.ExternalGatewayInfo == nil {
					return nil
				}
				return &r.ExternalGatewayInfo.NetworkID
			}
			return r.Distributed == s.Distributed && eqPtr(gw(r), gw(s))
		})
	case model.KindNetwork:
		return same(a, b, func(n, m *model.Network) bool {
			return slices.Equal(n.Subnets, m.Subnets) && n.External == m.External && n.NetworkType == m.NetworkType
		})
	case model.KindL3Binding, model.KindDHCPBinding:
		return same(a, b, func(x, y *model.Binding) bool { return slices.Equal(x.AgentIDs, y.AgentIDs) })
	case model.KindSGRule:
		return same(a, b, func(r, s *model.SecurityGroupRule) bool {
			return r.SecurityGroupID == s.SecurityGroupID && eqPtr(r.RemoteGroupID, s.RemoteGroupID) &&
				eqPtr(r.RemoteAddressGroupID, s.RemoteAddressGroupID)
		})
	case model.KindSubnet:
		return same(a, b, func(*model.Subnet, *model.Subnet) bool { return true })
	case model.KindSG:
		return same(a, b, func(*model.SecurityGroup, *model.SecurityGroup) bool { return true })
	case model.KindAddressGroup:
		return same(a, b, func(*model.AddressGroup, *model.AddressGroup) bool { return true })
	case model.KindDVRMAC:
		return same(a, b, func(*model.DVRMAC, *model.DVRMAC) bool { return true })
	}
	// A kind Compute does not know: it may read it some day.
	return false
}

// same applies eq when both values are Ts.
func same[T any](a, b any, eq func(x, y T) bool) bool {
	x, ok1 := a.(T)
	y, ok2 := b.(T)
	return ok1 && ok2 && eq(x, y)
}

func eqPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Follow brings what a watcher knows of its view up to v without
// recomputing it, when every change since rs was recorded (by the
// computation that gave kn) is local: it returns the changes to send,
// as Diff would, and kn updated (in place where it can). ok false: a
// change may alter the view's membership, or the log does not tell;
// recompute (kn and rs are then as they were, or rs is only stale).
func Follow(v *store.View, rs *store.ReadSet, kn Known) (upserts []syncproto.Object, deletes []syncproto.Key, out Known, ok bool) {
	var pending pendingSet
	set := pending.set
	holds := func(k syncproto.Key) bool {
		if e, ok := pending.get(k); ok {
			return e != nil
		}
		_, ok := kn.rev(k)
		return ok
	}
	ok = v.Follow(rs, func(c store.Change) bool {
		k := syncproto.Key{Kind: c.Kind, ID: c.ID}
		if c.Old == c.Cur {
			return true // a value the cache could not decode: nothing changed
		}
		eff, anchor := Local(v, c.Kind, c.Old, c.Cur)
		switch eff {
		case Revise:
			if holds(k) {
				set(k, c.Cur)
			}
		case Join:
			if holds(anchor) {
				set(k, c.Cur)
			}
		case Leave:
			if holds(k) {
				set(k, nil)
			}
		case Move:
			if anchor != (syncproto.Key{}) && holds(anchor) {
				set(k, c.Cur)
			} else if holds(k) {
				set(k, nil)
			}
		default:
			return false
		}
		return true
	})
	if !ok {
		return nil, nil, kn, false
	}
	for k, e := range pending.all() {
		if e != nil {
			upserts = append(upserts, objectOf(k, e))
		} else if _, had := kn.rev(k); had {
			deletes = append(deletes, k)
		}
	}
	slices.SortFunc(upserts, func(a, b syncproto.Object) int { return compareKeys(keyOf(a), keyOf(b)) })
	slices.SortFunc(deletes, compareKeys)
	return upserts, deletes, kn.Update(upserts, deletes), true
}

// pendingSet is what Follow will send: the new entry of each object
// (nil: gone). A few entries in a slice: a change that concerns every
// stream (a rule) made a map on each of them, its allocation and hashing
// a fifth of Follow's cost; a stream behind by many changes gets a map.
type pendingSet struct {
	few  [fewPending]pendingEntry
	n    int // of few in use
	many map[syncproto.Key]*store.Entry
}

type pendingEntry struct {
	k syncproto.Key
	e *store.Entry
}

// fewPending is how many entries pendingSet keeps in its slice.
const fewPending = 8

func (p *pendingSet) get(k syncproto.Key) (*store.Entry, bool) {
	if p.many != nil {
		e, ok := p.many[k]
		return e, ok
	}
	for _, x := range p.few[:p.n] {
		if x.k == k {
			return x.e, true
		}
	}
	return nil, false
}

func (p *pendingSet) set(k syncproto.Key, e *store.Entry) {
	if p.many != nil {
		p.many[k] = e
		return
	}
	for i := range p.few[:p.n] {
		if p.few[i].k == k {
			p.few[i].e = e
			return
		}
	}
	if p.n < fewPending {
		p.few[p.n] = pendingEntry{k, e}
		p.n++
		return
	}
	p.many = make(map[syncproto.Key]*store.Entry, 2*fewPending)
	for _, x := range p.few {
		p.many[x.k] = x.e
	}
	p.many[k] = e
}

// all is every entry, in no particular order.
func (p *pendingSet) all() iter.Seq2[syncproto.Key, *store.Entry] {
	return func(yield func(syncproto.Key, *store.Entry) bool) {
		if p.many != nil {
			for k, e := range p.many {
				if !yield(k, e) {
					return
				}
			}
			return
		}
		for _, x := range p.few[:p.n] {
			if !yield(x.k, x.e) {
				return
			}
		}
	}
}
