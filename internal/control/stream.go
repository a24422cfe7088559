package control

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// bookmarkInterval is how often an idle stream still says where it is,
// so a resuming agent's revision stays recent and dead connections show.
const bookmarkInterval = 10 * time.Second

// Stream is one agent's watch of its host's view.
type Stream struct {
	c     *Control
	host  string
	known hostview.Known
	reset bool
	// wake is kicked by the stream hub when a change may concern the
	// view (streamhub.go), by the bookmark timer (tick) and when the
	// stream's context ends: the one channel Run waits on. A select on
	// three (wake, a ticker, ctx.Done()) cost as much as following the
	// change once a change woke 5,000 streams.
	wake chan struct{}
	tick atomic.Bool
	// mu guards reads, which the hub checks and moves up: what the last
	// computation of the view read (a change that touches none of it
	// cannot change the view, so the stream skips the recompute; with
	// many streams, most changes concern few hosts).
	mu    sync.Mutex
	reads *store.ReadSet
	// hitFrom, when hit, is the start of the first round that touched
	// the reads since the stream last followed: the reads can be moved
	// up to there, not to the hub's cleanTo (streamhub.go).
	hitFrom int64
	hitSet  bool
	// round is the hub's mark (streamIndex.concerned; the hub's own).
	round uint64
}

// OpenStream prepares the stream of host's view for an agent that knows
// it as of revision since (0: nothing). A compacted revision starts the
// agent over with everything.
func (c *Control) OpenStream(ctx context.Context, host string, since int64) (*Stream, error) {
	s := &Stream{c: c, host: host, reset: true, wake: make(chan struct{}, 1), reads: store.NewReadSet()}
	if since == 0 {
		return s, nil
	}
	err := c.st.ViewAt(ctx, since, func(v *store.View) { s.known = hostview.Revs(c.hostView(v, host)) })
	switch {
	case err == nil:
		s.reset = false
	case errors.Is(err, store.ErrCompacted):
		s.known = nil
	default:
		return nil, err
	}
	return s, nil
}

// Run sends first what changed since the agent's revision (or
// everything), then every change as it happens, until ctx ends or send
// fails (the agent went away).
func (s *Stream) Run(ctx context.Context, send func(*syncproto.Event) error) {
	s.c.streams.Add(1)
	defer s.c.streams.Add(-1)
	s.c.hub.add(s)
	defer s.c.hub.remove(s)
	stop := context.AfterFunc(ctx, s.kick)
	defer stop()
	bookmark := time.AfterFunc(bookmarkInterval, func() { s.tick.Store(true); s.kick() })
	defer bookmark.Stop()
	first, tick, lastRev := true, false, int64(0)
	for {
		var ev syncproto.Event
		affected := false
		s.c.st.View(func(v *store.View) {
			ev.Revision, ev.Reset = v.Rev(), s.reset
			affected = s.reset || !s.follow(v, &ev)
		})
		if affected {
			s.compute(&ev)
		}
		switch {
		case first || len(ev.Upserts)+len(ev.Deletes) > 0:
			if send(&ev) != nil {
				return
			}
			first, s.reset, lastRev = false, false, ev.Revision
		case tick && ev.Revision != lastRev:
			// Followed up to now (the hub moved the reads up through
			// the changes that did not concern the view): say so.
			if send(&syncproto.Event{Revision: ev.Revision}) != nil {
				return
			}
			lastRev = ev.Revision
		}
		<-s.wake
		if ctx.Err() != nil {
			return
		}
		if tick = s.tick.Swap(false); tick {
			bookmark.Reset(bookmarkInterval)
		}
	}
}

// kick wakes the stream (the hub found a change that may concern it).
func (s *Stream) kick() {
	select {
	case s.wake <- struct{}{}:
	default: // already woken: it will follow every change since its reads
	}
}

// hit records that a round starting after revision from may concern
// the view (the first such round since the stream last followed counts).
func (s *Stream) hit(from int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hitSet {
		s.hitSet, s.hitFrom = true, from
	}
}

// moveUp moves the reads up to where the hub found nothing that
// touches them (s.mu held).
func (s *Stream) moveUp() {
	clean := s.c.hub.cleanTo.Load()
	if s.hitSet {
		clean = min(clean, s.hitFrom)
	}
	s.hitSet = false
	s.reads.MoveUp(clean)
}

// follow applies to what the stream knows the changes since its view
// was computed, when none can alter which objects the view holds
// (hostview.Follow): a rule of a group every port is in concerns every
// host, and recomputing thousands of views for it took seconds. It
// reports false when the view must be recomputed.
func (s *Stream) follow(v *store.View, ev *syncproto.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.moveUp()
	up, del, kn, ok := hostview.Follow(v, s.reads, s.known)
	if ok {
		ev.Upserts, ev.Deletes, s.known = up, del, kn
	}
	return ok
}

// compute computes the host's view anew into ev (at the store's
// current revision) and what changed since the view last sent. A few
// streams compute at a time: the work is CPU-bound anyway, and
// thousands of views half-computed at once (all streams connecting, or
// a change every view read) were the server's peak memory. The slot is
// taken before the store's read lock, so that waiting streams do not
// hold writers off, and only by streams the change affects, so that a
// change for one host does not queue behind every other stream.
func (s *Stream) compute(ev *syncproto.Event) {
	s.c.computing <- struct{}{}
	defer func() { <-s.c.computing }()
	s.c.st.View(func(v *store.View) {
		ev.Revision, ev.Reset = v.Rev(), s.reset
		// Recorded into a new set, which the hub does not see until it
		// is complete; until then the old one, older than any change
		// since, makes the hub wake the stream.
		reads := store.NewReadSet()
		cur := s.c.hostView(v.Recording(reads), s.host)
		s.mu.Lock()
		s.c.hub.index.replace(s, s.reads, reads)
		s.reads = reads
		s.mu.Unlock()
		if s.reset {
			s.known = nil
		}
		ev.Upserts, ev.Deletes = hostview.Diff(s.known, cur)
		s.known = s.known.Update(ev.Upserts, ev.Deletes)
	})
}

// hostView computes host's view, timing it for the metrics.
func (c *Control) hostView(v *store.View, host string) hostview.View {
	start := time.Now()
	hv := hostview.Compute(v, host)
	c.hostViews.Observe(time.Since(start).Seconds())
	return hv
}
