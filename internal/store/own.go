package store

import (
	"context"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A write returns only once the cache has it (read-your-writes on this
// server). Waiting for the watch to bring it costs several goroutine
// hand-offs inside etcd and its client (about 0.1 ms on a loaded 2-core
// machine, a fifth of a create). But the transaction's outcome is
// already known exactly: it committed, alone, at revision rev, and its
// operations are the puts and deletes of single keys it was built from.
// When the cache stands at rev-1, nothing else happened in between, so
// applying those operations as events of rev gives the very state the
// watch will report; its own copies of them are then skipped (they are
// not above the cache's revision). When the cache is behind rev-1 (other
// writes in flight), the write waits for the watch as before.

// awaitOwn makes the cache reflect t, committed at rev. While the cache
// is further behind (other writes in flight, from this server or
// another), it waits for the revision before ours, which the watch or
// the other writes' own applyOwn bring, and then applies t itself.
func (s *Store) awaitOwn(ctx context.Context, t *Txn, rev int64) error {
	for {
		applied, translatable := s.applyOwn(t, rev)
		if applied {
			return nil
		}
		if !translatable {
			return s.WaitRev(ctx, rev)
		}
		if err := s.WaitRev(ctx, rev-1); err != nil {
			return err
		}
	}
}

// applyOwn applies t as the events of revision rev if the cache stands
// right before it. It reports whether the cache now reflects rev, and
// whether t could be applied at all (see ownEvents).
func (s *Store) applyOwn(t *Txn, rev int64) (applied, translatable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rev >= rev {
		return true, true
	}
	if s.rev != rev-1 {
		return false, true
	}
	events, ok := s.ownEvents(t, rev)
	if !ok {
		return false, false
	}
	s.applyLocked(events, rev)
	s.stats.ownApplied.Add(1)
	return true, true
}

// ownEvents are the watch events t's operations make at rev, as etcd
// reports them: a put of each key written, a delete of each existing key
// removed (etcd reports nothing for deleting an absent key). It answers
// false for an operation it cannot translate (a range), which Txn never
// builds. Called with s.mu held.
func (s *Store) ownEvents(t *Txn, rev int64) ([]*clientv3.Event, bool) {
	events := make([]*clientv3.Event, 0, len(t.ops))
	for _, op := range t.ops {
		if len(op.RangeBytes()) > 0 {
			return nil, false
		}
		key := op.KeyBytes()
		switch {
		case op.IsPut():
			events = append(events, &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{
				Key: key, Value: op.ValueBytes(), ModRevision: rev, CreateRevision: ownCreateRev(t, string(key), rev),
			}})
		case op.IsDelete():
			if !s.cachedKey(key) {
				continue
			}
			events = append(events, &clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: key, ModRevision: rev}})
		default:
			return nil, false
		}
	}
	return events, true
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
