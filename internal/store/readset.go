package store

import (
	"slices"
	"sort"
)

// Dependency tracking: a reader that derives something from the cache
// (an agent stream's host view) records what it read in a ReadSet; after
// the cache moved on, Affects tells from the log of recent changes
// whether any of those reads would now return something else. If not,
// the derived value is unchanged and need not be recomputed: with a
// thousand streams, each change then costs a recompute only on the
// streams it concerns.
//
// Tracked reads are Get, Each and Index (Count and CountOwned count as
// an Each of their kind). Reads of plain keys and claims (Value, Values,
// Claims, Claim) are not in the change log: through a Recording view they
// make the set opaque, and Affects then always says yes; through a
// RecordingResources view they are not recorded at all.

// maxChanges bounds the change log; a reader further behind recomputes.
const maxChanges = 16384

// change is one resource change the cache applied.
type change struct {
	rev      int64
	kind, id string
	// idx are the index reads the change touches: per index of the
	// kind, the keys of the old and the new value (a change moves the
	// resource between index keys). A flat list, as every reader
	// checks it: with thousands of agent streams following a change,
	// walking a map of lists per stream cost as much as the lookups.
	idx [][3]string
	// old and cur are the entries before and after (nil: none): a
	// follower (Follow) may apply the change without recomputing.
	old, cur *Entry
}

// ReadSet records the reads of one computation over a view.
type ReadSet struct {
	rev  int64
	gets map[[2]string]struct{}
	idx  map[[3]string]struct{}
	each map[string]struct{}
	// getKinds are the kinds gets holds keys of: a change of another
	// kind is looked up in gets no more. A host view reads rules by
	// index, never by ID, and a new rule missed in every stream's gets
	// (a thousand keys; a cache miss in each of 5,000 streams' maps).
	getKinds []string
	opaque   bool
	valid    bool
	// resourcesOnly: plain key and claim reads are left out
	// (RecordingResources).
	resourcesOnly bool
	// kinds are the kinds read (RecordingResources only: Kinds).
	kinds map[string]struct{}
}

// NewReadSet returns an empty read set; Affects reports true for it
// until a recording view has filled it.
func NewReadSet() *ReadSet { return &ReadSet{} }

// Recording returns a view that reads like v and records every read
// into rs (which is reset first). Use it within the same View callback.
func (v *View) Recording(rs *ReadSet) *View {
	*rs = ReadSet{rev: v.s.rev, gets: map[[2]string]struct{}{}, idx: map[[3]string]struct{}{}, each: map[string]struct{}{}, valid: true}
	return &View{s: v.s, rec: rs}
}

// RecordingResources is Recording that leaves reads of plain keys and
// claims out of the set instead of making it opaque. For a caller that
// re-reads on its own schedule whatever depends on them (the bookkeeping
// controller: agent heartbeats, at its periodic full pass); claims
// change with the resources that hold them.
func (v *View) RecordingResources(rs *ReadSet) *View {
	rv := v.Recording(rs)
	rs.resourcesOnly = true
	rs.kinds = map[string]struct{}{}
	return rv
}

// Kinds adds to dst the kinds of the resources rs read, so that a
// caller holding many read sets can tell at once that a change of
// another kind concerns none of them (Changes.AnyOf). It reports false
// when it cannot tell (rs not filled by RecordingResources).
func (rs *ReadSet) Kinds(dst map[string]struct{}) bool {
	if rs == nil || !rs.valid || rs.opaque || rs.kinds == nil {
		return false
	}
	for k := range rs.kinds {
		dst[k] = struct{}{}
	}
	return true
}

// Affects reports whether a resource changed after rs was recorded (up
// to this view) in a way that changes one of its reads. It answers true
// when it cannot tell (the log does not reach back far enough, the
// cache was reloaded, or rs is empty or opaque).
func (v *View) Affects(rs *ReadSet) bool {
	s := v.s
	if rs == nil || !rs.valid || rs.opaque || rs.rev < s.changesFloor {
		return true
	}
	if rs.rev >= s.rev {
		return false
	}
	i := sort.Search(len(s.changes), func(i int) bool { return s.changes[i].rev > rs.rev })
	for _, c := range s.changes[i:] {
		if rs.touches(&c) {
			return true
		}
	}
	return false
}

// touches reports whether c changes what one of rs's reads returns.
func (rs *ReadSet) touches(c *change) bool {
	if _, ok := rs.each[c.kind]; ok {
		return true
	}
	if slices.Contains(rs.getKinds, c.kind) {
		if _, ok := rs.gets[[2]string{c.kind, c.id}]; ok {
			return true
		}
	}
	for _, k := range c.idx {
		if _, ok := rs.idx[k]; ok {
			return true
		}
	}
	return false
}

// Change is one resource change: Old is nil for a creation, Cur for a
// deletion.
type Change struct {
	Kind, ID string
	Old, Cur *Entry
}

// Follow hands fn, in order, every change after rs was recorded (up to
// this view) that touches one of its reads, and stops at the first one
// fn refuses. It reports whether fn took them all; it answers false when
// it cannot tell, as Affects. When it answers true, rs is moved up to
// this view: by taking a change, fn vouches that a computation made now
// would read the same things (only what some reads return changed, and
// the caller has applied that to what it derived).
func (v *View) Follow(rs *ReadSet, fn func(Change) bool) bool {
	s := v.s
	if rs == nil || !rs.valid || rs.opaque || rs.rev < s.changesFloor {
		return false
	}
	i := sort.Search(len(s.changes), func(i int) bool { return s.changes[i].rev > rs.rev })
	for _, c := range s.changes[i:] {
		if rs.touches(&c) && !fn(Change{Kind: c.kind, ID: c.id, Old: c.old, Cur: c.cur}) {
			return false
		}
	}
	rs.rev = max(rs.rev, s.rev)
	return true
}

// Changes are the resource changes of the log after one revision up to
// a view, gathered once so that many read sets can be checked against
// them (AffectedBy): with thousands of sets, Affects would walk the log
// once per set.
type Changes struct {
	from, to int64
	all      bool // the log does not reach back to from: everything changed
	kinds    map[string]struct{}
	ids      map[[2]string]struct{}
	idx      map[[3]string]struct{}
}

// ChangesSince gathers the resource changes after rev up to this view.
func (v *View) ChangesSince(rev int64) *Changes {
	s := v.s
	c := &Changes{from: rev, to: s.rev, kinds: map[string]struct{}{}, ids: map[[2]string]struct{}{}, idx: map[[3]string]struct{}{}}
	if rev < s.changesFloor {
		c.all = true
		return c
	}
	i := sort.Search(len(s.changes), func(i int) bool { return s.changes[i].rev > rev })
	for _, ch := range s.changes[i:] {
		c.kinds[ch.kind] = struct{}{}
		c.ids[[2]string{ch.kind, ch.id}] = struct{}{}
		for _, k := range ch.idx {
			c.idx[k] = struct{}{}
		}
	}
	return c
}

// AffectedBy reports whether the changes touch a read of rs (true when
// it cannot tell, as Affects). When they do not, rs is moved up to the
// changes' view: it then stands for a recording made there.
func (v *View) AffectedBy(rs *ReadSet, c *Changes) bool { return c.Affect(rs) }

// AnyOf reports whether a change is of one of the kinds (true when it
// cannot tell).
func (c *Changes) AnyOf(kinds map[string]struct{}) bool {
	return c.all || intersects(c.kinds, kinds)
}

// Affect is AffectedBy without a view: the changes were gathered under
// the store's lock, and many read sets can be checked against them
// after it is released (the caller keeps rs from being used meanwhile).
func (c *Changes) Affect(rs *ReadSet) bool {
	if rs == nil || !rs.valid || rs.opaque || c.all || rs.rev < c.from {
		return true
	}
	if len(c.kinds) > 0 && (intersects(rs.each, c.kinds) || intersects(rs.gets, c.ids) || intersects(rs.idx, c.idx)) {
		return true
	}
	rs.rev = max(rs.rev, c.to)
	return false
}

// intersects reports whether two sets share a member, walking the
// smaller one.
func intersects[K comparable](a, b map[K]struct{}) bool {
	if len(b) < len(a) {
		a, b = b, a
	}
	for k := range a {
		if _, ok := b[k]; ok {
			return true
		}
	}
	return false
}

func (v *View) recordGet(kind, id string) {
	if v.rec != nil {
		v.rec.gets[[2]string{kind, id}] = struct{}{}
		if !slices.Contains(v.rec.getKinds, kind) {
			v.rec.getKinds = append(v.rec.getKinds, kind)
		}
		v.rec.recordKind(kind)
	}
}

func (v *View) recordEach(kind string) {
	if v.rec != nil {
		v.rec.each[kind] = struct{}{}
		v.rec.recordKind(kind)
	}
}

func (v *View) recordIndex(kind, name, key string) {
	if v.rec != nil {
		v.rec.idx[[3]string{kind, name, key}] = struct{}{}
		v.rec.recordKind(kind)
	}
}

func (rs *ReadSet) recordKind(kind string) {
	if rs.kinds != nil {
		rs.kinds[kind] = struct{}{}
	}
}

// recordOpaque records a read of plain keys or claims.
func (v *View) recordOpaque() {
	if v.rec != nil && !v.rec.resourcesOnly {
		v.rec.opaque = true
	}
}

// logChange appends a resource change (old and/or new may be nil) to the
// change log. Called with s.mu held for writing.
func (s *Store) logChange(rev int64, kind, id string, old, cur *Entry) {
	var idx [][3]string
	for name, fn := range s.indexFns[kind] {
		for _, e := range []*Entry{old, cur} {
			if e != nil {
				for _, k := range fn(e.Obj) {
					if k3 := [3]string{kind, name, k}; !slices.Contains(idx, k3) {
						idx = append(idx, k3) // a key both values have, once
					}
				}
			}
		}
	}
	s.changes = append(s.changes, change{rev: rev, kind: kind, id: id, idx: idx, old: old, cur: cur})
	if n := len(s.changes); n > maxChanges {
		drop := n - maxChanges/2
		s.changesFloor = s.changes[drop-1].rev
		s.changes = append([]change(nil), s.changes[drop:]...)
	}
}

// resetChanges forgets the change log (the cache was reloaded at rev).
func (s *Store) resetChanges(rev int64) {
	s.changes = nil
	s.changesFloor = rev
}
