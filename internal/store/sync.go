package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Consistent reads across servers (the approach of the Kubernetes API
// server, KEP-2340 "consistent reads from cache"): before a request is
// served from the cache, Sync learns etcd's current revision with one
// quorum read and waits until the watch has brought the cache to it. A
// change acknowledged by any server before the request arrived is then
// visible to it, whichever server serves it.
//
// Many requests in flight share one quorum read. A read already sent may
// have been answered by etcd before a newly arrived request's change was
// acknowledged, so a request only joins a read that has not been sent
// yet: while one read is in flight, the requests arriving meanwhile wait
// for the next one, which is sent as soon as the current one returns.
// Under load this costs at most two round trips per request and one read
// per round trip for all of them.

// revCall is one shared quorum read.
type revCall struct {
	done chan struct{}
	rev  int64
	err  error
}

// syncKey is the single key the quorum read asks for: asking for one key
// with count only is the cheapest linearizable request etcd has, and its
// header carries the current revision. It is a plain key (left out of
// resource dumps); only requestProgress ever writes it.
func (s *Store) syncKey() string { return s.prefix + "k/neutrino-sync" }

// Sync waits until the cache reflects every change etcd acknowledged
// before Sync was called. It fails with an error wrapping ErrUnavailable
// if etcd cannot confirm its revision in time.
func (s *Store) Sync(ctx context.Context) error {
	if s.localRev != nil {
		return s.WaitRev(ctx, s.localRev())
	}
	rev, err := s.currentRev(ctx)
	if err != nil {
		return err
	}
	return s.WaitRev(ctx, rev)
}

// WithLocalRevision makes Sync learn etcd's current revision from rev
// instead of a quorum read. rev must read, in this process, the revision
// of the only member of a one-member cluster (the embedded etcd): that
// member answers a write only after applying it, so its own revision
// already covers every write acknowledged to anyone, which is all a
// quorum read would add. (With several members a member may lag the
// leader, and only the quorum read is safe.) A quorum read costs a trip
// through etcd's read-index loop, about 0.1 ms on a loaded 2-core
// machine; this costs a lock.
func WithLocalRevision(rev func() int64) Option {
	return func(s *Store) { s.localRev = rev }
}

// currentRev joins (or starts) a quorum read sent after this call began.
func (s *Store) currentRev(ctx context.Context) (int64, error) {
	s.syncMu.Lock()
	var c *revCall
	if s.syncCur == nil {
		c = &revCall{done: make(chan struct{})}
		s.syncCur = c
		go s.runRevCalls(c)
	} else {
		if s.syncNext == nil {
			s.syncNext = &revCall{done: make(chan struct{})}
		}
		c = s.syncNext
	}
	s.syncMu.Unlock()
	select {
	case <-c.done:
		return c.rev, c.err
	case <-ctx.Done():
		return 0, classify(fmt.Errorf("learn etcd revision: %w", ctx.Err()))
	}
}

// runRevCalls sends c, then the call that gathered the requests arriving
// while c was in flight, and so on until no request waits.
func (s *Store) runRevCalls(c *revCall) {
	for c != nil {
		// The read is shared, so it does not use any one request's
		// context; it is bounded by the store's timeout instead.
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		resp, err := s.cli.Get(ctx, s.syncKey(), clientv3.WithCountOnly())
		cancel()
		if err != nil {
			c.err = classify(fmt.Errorf("learn etcd revision: %w", err))
		} else {
			c.rev = resp.Header.Revision
		}
		close(c.done)
		s.syncMu.Lock()
		c = s.syncNext
		s.syncCur, s.syncNext = c, nil
		s.syncMu.Unlock()
	}
}

// progressNudge is how long WaitRev waits for the watch before asking etcd
// to move it on. The revision waited for may belong to a key outside our
// prefix (a shared cluster), which the watch never reports.
const progressNudge = 5 * time.Millisecond

// bumpNudge is the same for etcd servers whose progress notifications
// cannot be trusted (see progressSafe): the store then writes a key of
// its own instead, which is not worth doing while an event is merely on
// its way.
const bumpNudge = 50 * time.Millisecond

// requestProgress moves the watch past revisions it has no events for.
// With a server whose progress notifications are ordered after pending
// events it asks for one, on the store's watch stream: the request must
// name the stream by the same context metadata the watch was opened with
// (WithRequireLeader), or the client sends it on a new, empty stream and
// nothing comes back. Otherwise it writes the sync key, whose event
// reaches the watch after every earlier one. All waiters share one
// request per interval; a lost one is sent again on a later tick.
func (s *Store) requestProgress(behind time.Duration) {
	every := progressNudge
	if !s.progressSafe {
		every = bumpNudge
	}
	if behind < every {
		return
	}
	now := time.Now().UnixNano()
	last := s.lastProgress.Load()
	if now-last < int64(every) || !s.lastProgress.CompareAndSwap(last, now) {
		return
	}
	if s.progressSafe {
		go s.watcher.RequestProgress(s.watchCtx)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.watchCtx, s.timeout)
		defer cancel()
		_, _ = s.cli.Put(ctx, s.syncKey(), "")
	}()
}

// progressSafeVersion reports whether an etcd server of this version
// answers a progress request only after the events it has pending
// (etcd-io/etcd#15220). Older ones may announce a revision before its
// events, and the cache would skip them. The bounds are those the
// Kubernetes API server requires for consistent reads from cache.
func progressSafeVersion(v string) bool {
	var major, minor, patch int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch); err != nil {
		return false
	}
	switch {
	case major != 3:
		return major > 3
	case minor == 4:
		return patch >= 31
	case minor == 5:
		return patch >= 13
	default:
		return minor > 5
	}
}

// checkProgressSafe asks every member of the cluster its version.
func (s *Store) checkProgressSafe(ctx context.Context) bool {
	eps := s.cli.Endpoints()
	if len(eps) == 0 {
		// The in-process client of the embedded etcd has no endpoints
		// and answers for its own server.
		eps = []string{""}
	}
	for _, ep := range eps {
		st, err := s.cli.Status(ctx, ep)
		if err != nil || !progressSafeVersion(st.Version) {
			return false
		}
	}
	return true
}

type valueHook struct {
	prefix string
	fn     func(name string, val []byte)
}

// OnValue calls fn for every plain key whose name starts with prefix, as
// the cache applies it: for those present when called, then for each
// one written later by any server, before Sync or WaitRev can return a
// revision that includes it. fn runs with the cache locked: it must be
// quick and must not call the store.
func (s *Store) OnValue(prefix string, fn func(name string, val []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.valueHooks = append(s.valueHooks, valueHook{prefix, fn})
	for name, val := range s.kvs {
		if strings.HasPrefix(name, prefix) {
			fn(name, val)
		}
	}
}
