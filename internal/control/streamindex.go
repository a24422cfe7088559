package control

import (
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
type streamIndex struct {
	mu    sync.Mutex
	by    map[store.ReadKey][]*Stream
	loose map[*Stream]struct{}
}

func newStreamIndex() *streamIndex {
	return &streamIndex{by: map[store.ReadKey][]*Stream{}, loose: map[*Stream]struct{}{}}
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
	cur.Keys(func(k store.ReadKey) { x.by[k] = append(x.by[k], s) })
}

// drop takes s off key k's list (the order of a list does not matter).
func (x *streamIndex) drop(k store.ReadKey, s *Stream) {
	l := x.by[k]
	for i, o := range l {
		if o == s {
			l[i] = l[len(l)-1]
			l[len(l)-1] = nil
			l = l[:len(l)-1]
			break
		}
	}
	if len(l) == 0 {
		delete(x.by, k)
		return
	}
	x.by[k] = l
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
		for _, s := range x.by[k] {
			add(s)
		}
	})
	return dst
}
