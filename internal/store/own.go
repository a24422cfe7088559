package store

import (
	"context"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A write returns only once the cache has it (read-your-writes on this
// server). Waiting for the watch to bring it costs several goroutine
// hand-offs inside etcd and its client: 60-100 µs at p50 on the loaded
// 2-core test machine, against 30-45 µs to apply it here (a tenth of a
// create; docs/performance.md, "bench api"). The transaction's outcome is
// already known exactly: it committed, alone, at revision rev, and its
// operations are the puts and deletes of single keys it was built from.
// When the cache stands at rev-1, nothing else happened in between, so
// applying those operations as events of rev gives the very state the
// watch will report; its own copies of them are then skipped (they are
// not above the cache's revision).
//
// Commits come back from etcd in bursts (one raft batch for many
// writers), and each can only be applied after the one before it. So a
// committed write is registered by revision (Store.own) while it waits,
// and whoever moves the cache (another write, or the watch) applies
// every registered commit that follows in a row: a burst is applied by
// the first writer to get the lock, not one goroutine wake-up after
// another. The watch still brings whatever is not registered (other
// servers' writes) and would bring the registered ones too; draining is
// only a shortcut, never needed for correctness.

// awaitOwn makes the cache reflect t, committed at rev.
func (s *Store) awaitOwn(ctx context.Context, t *Txn, rev int64) error {
	if !translatable(t) {
		return s.WaitRev(ctx, rev)
	}
	s.mu.Lock()
	if s.rev < rev {
		if s.own == nil {
			s.own = map[int64]*Txn{}
		}
		s.own[rev] = t
		s.drainOwnLocked()
	}
	done := s.rev >= rev
	s.mu.Unlock()
	if done {
		return nil
	}
	defer func() {
		s.mu.Lock()
		delete(s.own, rev)
		s.mu.Unlock()
	}()
	return s.WaitRev(ctx, rev)
}

// drainOwnLocked applies the registered commits that follow the cache's
// revision in a row. Called with s.mu held for writing, after anything
// that moves the cache.
func (s *Store) drainOwnLocked() {
	for {
		t, ok := s.own[s.rev+1]
		if !ok {
			return
		}
		rev := s.rev + 1
		delete(s.own, rev)
		s.applyLocked(s.ownEvents(t, rev), rev, t.pre.ready())
		s.stats.ownApplied.Add(1)
	}
}

// translatable reports whether every operation of t is a put or delete
// of one key (Txn builds no others; a range would need etcd to say
// which keys it removed).
func translatable(t *Txn) bool {
	for _, op := range t.ops {
		if len(op.RangeBytes()) > 0 || !(op.IsPut() || op.IsDelete()) {
			return false
		}
	}
	return true
}

// ownEvents are the watch events t's operations make at rev, as etcd
// reports them: a put of each key written, a delete of each existing key
// removed (etcd reports nothing for deleting an absent key). t must be
// translatable. Called with s.mu held and the cache at rev-1.
func (s *Store) ownEvents(t *Txn, rev int64) []*clientv3.Event {
	events := make([]*clientv3.Event, 0, len(t.ops))
	for _, op := range t.ops {
		key := op.KeyBytes()
		if op.IsPut() {
			events = append(events, &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{
				Key: key, Value: op.ValueBytes(), ModRevision: rev, CreateRevision: ownCreateRev(t, string(key), rev),
			}})
		} else if s.cachedKey(key) {
			events = append(events, &clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: key, ModRevision: rev}})
		}
	}
	return events
}

// ownCreateRev is the create revision of a key t puts: rev for a
// resource it creates, the read entry's for one it replaces (its guard
// held, so the entry was current). The cache keeps revisions of
// resources only; claims and plain keys get rev.
func ownCreateRev(t *Txn, key string, rev int64) int64 {
	if st := t.staged[key]; st != nil && st.base != nil {
		return st.base.CreateRev
	}
	return rev
}

// cachedKey reports whether the cache holds key (a resource, claim or
// plain key). Called with s.mu held.
func (s *Store) cachedKey(key []byte) bool {
	section, a, b, ok := s.splitKey(key)
	if !ok {
		return false
	}
	switch section {
	case "r":
		_, found := s.objs[a][b]
		return found
	case "c":
		_, found := s.claims[a][b]
		return found
	case "k":
		_, found := s.kvs[a]
		return found
	}
	return false
}
