package control

import (
	"sync"
	"sync/atomic"

	"github.com/neutrino-net/neutrino/internal/store"
)

// The stream hub wakes, after each change, only the streams whose view
// it may concern. Every stream used to wake on every change, take the
// store's read lock and walk the change log against what its view read:
// with 5,000 streams, a floating IP change that concerns one host cost
// 5,000 wake-ups. The hub gathers the changes of a round once and looks
// up the streams whose reads they touch in an index of the streams by
// read key (streamindex.go), waking those; it used to check each
// stream's read set in turn, which cost as much as the wake-ups had.
//
// The streams a round does not touch are clean through its revision
// (cleanTo): a stream that wakes moves its read set up to there, or to
// the start of the first round that touched it since it last followed
// (Stream.hitFrom), before following the log from it; so a stream that
// sleeps through many changes does not fall behind the change log.
//
// Why no stream misses a change: rounds are contiguous (each gathers the
// changes after the previous one's revision), the first round of a hub
// wakes every stream, and a stream is indexed under its read set's keys
// from the moment the set is recorded (under the store's read lock, so
// before any later change commits) until it is replaced; one whose set
// cannot be indexed is woken by every round. A woken stream follows the
// log from its own read set's revision, checking each change against
// its reads, as before.
type streamHub struct {
	st      *store.Store
	mu      sync.Mutex
	streams map[*Stream]struct{}
	running bool
	// idle tells a running hub that its last stream left.
	idle  chan struct{}
	index *streamIndex
	// cleanTo is the revision the last round went to: a stream it did
	// not mark (hit) read nothing that changed up to there.
	cleanTo atomic.Int64
}

func newStreamHub(st *store.Store) *streamHub {
	return &streamHub{st: st, streams: map[*Stream]struct{}{}, idle: make(chan struct{}, 1), index: newStreamIndex()}
}

// add registers s (which is then woken on s.wake), starting the hub if
// it is not running.
func (h *streamHub) add(s *Stream) {
	s.mu.Lock()
	h.index.replace(s, nil, s.reads)
	s.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams[s] = struct{}{}
	if !h.running {
		h.running = true
		go h.run()
	}
}

// remove unregisters s; the hub ends when no stream is left.
func (h *streamHub) remove(s *Stream) {
	s.mu.Lock()
	h.index.replace(s, s.reads, nil)
	s.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.streams, s)
	if len(h.streams) == 0 {
		select {
		case h.idle <- struct{}{}:
		default:
		}
	}
}

// run does rounds until no stream is left: each gathers the changes
// since the last one and wakes the streams they may concern.
func (h *streamHub) run() {
	var rev int64
	var round uint64
	first := true
	var batch []*Stream
	for {
		var changed <-chan struct{}
		var changes *store.Changes
		from := rev
		h.st.View(func(v *store.View) {
			changed = v.Changed()
			if !first && v.Rev() > rev {
				changes = v.ChangesSince(rev)
			}
			rev = v.Rev()
		})
		h.mu.Lock()
		if len(h.streams) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		batch = batch[:0]
		if first || changes != nil && changes.All() {
			for s := range h.streams {
				batch = append(batch, s)
			}
		}
		h.mu.Unlock()
		if !first && changes != nil && !changes.All() {
			round++
			batch = h.index.concerned(changes, round, batch)
		}
		for _, s := range batch {
			s.hit(from)
			s.kick()
		}
		clear(batch) // let gone streams be collected
		h.cleanTo.Store(rev)
		first = false
		select {
		case <-changed:
		case <-h.idle:
		}
	}
}
