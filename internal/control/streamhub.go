package control

import (
	"sync"

	"github.com/neutrino-net/neutrino/internal/store"
)

// The stream hub wakes, after each change, only the streams whose view
// it may concern. Every stream used to wake on every change, take the
// store's read lock and walk the change log against what its view read:
// with 5,000 streams, a floating IP change that concerns one host cost
// 5,000 wake-ups. The hub gathers the changes of a round once and checks
// each stream's read set against them (a few map lookups), waking those
// it touches; the others' read sets are moved up to the round (as the
// bookkeeping controller does with its settled items), so that a stream
// that sleeps through many changes does not fall behind the change log.
//
// Why no stream misses a change: rounds are contiguous (each gathers the
// changes after the previous one's revision), the first round of a hub
// wakes every stream, and a stream whose read set is older than a
// round's start, or is being recomputed (its old set is older still),
// is woken whatever the changes (store.Changes.Affect). A woken stream
// follows the log from its own read set's revision, as before.
type streamHub struct {
	st      *store.Store
	mu      sync.Mutex
	streams map[*Stream]struct{}
	running bool
	// idle tells a running hub that its last stream left.
	idle chan struct{}
}

func newStreamHub(st *store.Store) *streamHub {
	return &streamHub{st: st, streams: map[*Stream]struct{}{}, idle: make(chan struct{}, 1)}
}

// add registers s (which is then woken on s.wake), starting the hub if
// it is not running.
func (h *streamHub) add(s *Stream) {
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
	first := true
	var batch []*Stream
	for {
		var changed <-chan struct{}
		var changes *store.Changes
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
		for s := range h.streams {
			batch = append(batch, s)
		}
		h.mu.Unlock()
		for _, s := range batch {
			if first || changes != nil && s.concerned(changes) {
				s.kick()
			}
		}
		clear(batch) // let gone streams be collected
		first = false
		select {
		case <-changed:
		case <-h.idle:
		}
	}
}
