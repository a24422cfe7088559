package control

import (
	"slices"
	"sync"

	"github.com/neutrino-net/neutrino/internal/store"
)

// streamIndex finds the streams a round of changes may concern by what
// their views read: each read key leads to the streams whose read set
// holds it. The hub used to check every stream's read set against every
// round (a few map lookups in each of 5,000 sets, most of them cache
// misses, for a floating IP change that concerns one host); it now looks
// up the round's few keys.
//
// A stream is indexed under the keys of its current read set, replaced
// when its view is recomputed (within the store's read lock of that
// computation, so before any later change is gathered into a round).
// A stream whose set cannot be indexed (not computed yet, or opaque) is
// in loose, and every round wakes it.
//
// A key every agent reads (a security group rule all ports use, a kind
// read whole) is held by every stream, so taking a stream off a key by
// scanning the key's list made a reconnect of thousands of agents, or a
// change that recomputes every view, quadratic in the streams: each
// key's list keeps its streams' positions once it is long (keyStreams).
type streamIndex struct {
	mu    sync.Mutex
	by    map[store.ReadKey]*keyStreams
	loose map[*Stream]struct{}
}

func newStreamIndex() *streamIndex {
	return &streamIndex{by: map[store.ReadKey]*keyStreams{}, loose: map[*Stream]struct{}{}}
}

// replace indexes s under the reads of cur instead of those of old
// (either nil: none).
func (x *streamIndex) replace(s *Stream, old, cur *store.ReadSet) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old != nil {
		delete(x.loose, s)
		old.Keys(func(k store.ReadKey) { x.drop(k, s) })
	}
	if cur == nil {
		return
	}
	if !cur.Indexable() {
		x.loose[s] = struct{}{}
		return
	}
	cur.Keys(func(k store.ReadKey) { x.add(k, s) })
}

// add puts s on key k's list. (A list is held by pointer: a key's
// hash, three strings, is most of what an add or a drop costs, and
// a list held by value must be written back.)
func (x *streamIndex) add(k store.ReadKey, s *Stream) {
	l := x.by[k]
	if l == nil {
		l = &keyStreams{}
		l.list = l.one[:0]
		x.by[k] = l
	}
	l.add(s)
}

// drop takes s off key k's list (the order of a list does not matter).
func (x *streamIndex) drop(k store.ReadKey, s *Stream) {
	l := x.by[k]
	if l == nil {
		return
	}
	l.drop(s)
	if len(l.list) == 0 {
		delete(x.by, k)
	}
}

// keyStreams are the streams indexed under one key: a list, which a
// round walks, and from longPast streams on each one's position in it,
// so that a stream is taken off in constant time. Most keys (one host's
// ports and routers) have a few streams, and scanning those is cheaper
// than a map.
type keyStreams struct {
	list []*Stream
	at   map[*Stream]int
	// one holds the list of a key read by one stream (most of them):
	// one allocation for such a key, not two.
	one [1]*Stream
}

// longPast is the length from which a list keeps positions; it drops
// them again below half of it, so that a list about that long does not
// build and drop a map at every change.
const longPast = 128

func (l *keyStreams) add(s *Stream) {
	if l.at != nil {
		l.at[s] = len(l.list)
	}
	l.list = append(l.list, s)
	if l.at == nil && len(l.list) > longPast {
		l.at = make(map[*Stream]int, len(l.list))
		for i, o := range l.list {
			l.at[o] = i
		}
	}
}

// drop takes s off the list by moving the last stream into its place.
func (l *keyStreams) drop(s *Stream) {
	i, ok := -1, false
	if l.at != nil {
		i, ok = l.at[s]
		delete(l.at, s)
	} else {
		i = slices.Index(l.list, s)
		ok = i >= 0
	}
	if !ok {
		return
	}
	last := len(l.list) - 1
	if i != last {
		l.list[i] = l.list[last]
		if l.at != nil {
			l.at[l.list[i]] = i
		}
	}
	l.list[last] = nil
	l.list = l.list[:last]
	if l.at != nil && len(l.list) < longPast/2 {
		l.at = nil
	}
}

// concerned appends to dst, once each, the streams the changes may
// concern: those holding a read the changes touch, and the loose ones.
// round marks the streams already appended (a new value per call).
func (x *streamIndex) concerned(c *store.Changes, round uint64, dst []*Stream) []*Stream {
	x.mu.Lock()
	defer x.mu.Unlock()
	add := func(s *Stream) {
		if s.round != round {
			s.round = round
			dst = append(dst, s)
		}
	}
	for s := range x.loose {
		add(s)
	}
	c.Keys(func(k store.ReadKey) {
		if l := x.by[k]; l != nil {
			for _, s := range l.list {
				add(s)
			}
		}
	})
	return dst
}
