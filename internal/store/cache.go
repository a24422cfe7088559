package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Keeping the cache: the initial load and following etcd's watch.

// load replaces the cache with a consistent read of the whole prefix.
func (s *Store) load(ctx context.Context) error {
	resp, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("load %s from etcd: %w", s.prefix, err)
	}
	objs := map[string]map[string]*Entry{}
	owned := map[string]map[string]int{}
	for k := range s.decoders {
		objs[k] = map[string]*Entry{}
		owned[k] = map[string]int{}
	}
	claims := map[string]map[string]string{}
	cidx := map[string]ClaimIndex{}
	kvs := map[string][]byte{}
	idx := indexes{}
	for _, kv := range resp.Kvs {
		if err := s.applyPut(objs, owned, idx, claims, cidx, kvs, kv.Key, kv.Value, kv.ModRevision, kv.CreateRevision, nil); err != nil {
			// As in follow: one object that cannot be decoded must not
			// keep the server from serving the others.
			fmt.Printf("store: skip %s: %v\n", kv.Key, err)
		}
	}
	s.mu.Lock()
	s.objs, s.owned, s.idx, s.claims, s.claimIdx, s.kvs = objs, owned, idx, claims, cidx, kvs
	s.rev = resp.Header.Revision
	s.resetChanges(s.rev)
	s.advanceLocked()
	close(s.resNotify)
	s.resNotify = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (s *Store) follow(ctx context.Context) {
	defer close(s.done)
	for ctx.Err() == nil {
		s.mu.RLock()
		from := s.rev + 1
		s.mu.RUnlock()
		wch := s.watcher.Watch(s.watchCtx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithProgressNotify())
		for resp := range wch {
			if err := resp.Err(); err != nil {
				// Compacted past our revision: relist. Anything else: the
				// channel closes and we re-watch from our revision.
				if resp.CompactRevision != 0 {
					_ = s.load(ctx)
				}
				break
			}
			s.applyEvents(resp)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Store) applyEvents(resp clientv3.WatchResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyLocked(resp.Events, resp.Header.Revision, nil)
	s.drainOwnLocked()
}

// applyLocked applies events (those at or below the cache's revision
// are skipped: the watch and applyOwn may both bring one) and moves the
// cache to revision rev; pre are values decoded already (predecode.go).
// Called with s.mu held for writing.
func (s *Store) applyLocked(events []*clientv3.Event, rev int64, pre map[string]preObj) {
	resources := false
	for _, ev := range events {
		kv := ev.Kv
		if kv.ModRevision <= s.rev {
			continue
		}
		sec, kind, id, _ := s.splitKey(kv.Key)
		var old *Entry
		if sec == "r" {
			resources = true
			old = s.objs[kind][id]
		}
		if ev.Type == clientv3.EventTypeDelete {
			s.applyDelete(kv.Key)
		} else if err := s.applyPut(s.objs, s.owned, s.idx, s.claims, s.claimIdx, s.kvs, kv.Key, kv.Value, kv.ModRevision, kv.CreateRevision, preDecoded(pre, kv.Key, kv.Value)); err != nil {
			// A value we cannot decode is a bug or a newer writer; keep
			// serving the rest and say so.
			fmt.Printf("store: skip %s: %v\n", kv.Key, err)
		}
		if sec == "r" {
			s.logChange(kv.ModRevision, kind, id, old, s.objs[kind][id])
		}
	}
	if rev > s.rev {
		s.rev = rev
		s.advanceLocked()
	}
	if resources {
		close(s.resNotify)
		s.resNotify = make(chan struct{})
	}
}

func (s *Store) advanceLocked() {
	close(s.notify)
	s.notify = make(chan struct{})
}

func (s *Store) splitKey(key []byte) (section, a, b string, ok bool) {
	rest, found := strings.CutPrefix(string(key), s.prefix)
	if !found {
		return "", "", "", false
	}
	section, rest, _ = strings.Cut(rest, "/")
	if section == "k" {
		return section, rest, "", true
	}
	a, b, ok = strings.Cut(rest, "/")
	return section, a, b, ok
}

// countOwner adds d to the owner count of an entry's value, if it is Owned.
func countOwner(owned map[string]map[string]int, kind string, obj any, d int) {
	o, ok := obj.(Owned)
	if !ok {
		return
	}
	m := owned[kind]
	owner := o.Owner()
	if m[owner] += d; m[owner] == 0 {
		delete(m, owner)
	}
}

func (s *Store) applyPut(objs map[string]map[string]*Entry, owned map[string]map[string]int, idx indexes, claims map[string]map[string]string, cidx map[string]ClaimIndex, kvs map[string][]byte, key, val []byte, modRev, createRev int64, pre *preObj) error {
	section, a, b, ok := s.splitKey(key)
	if !ok {
		return nil
	}
	switch section {
	case "r":
		dec, known := s.decoders[a]
		if !known {
			return nil
		}
		var obj any
		var err error
		if pre != nil {
			obj = pre.obj
		} else {
			obj, err = dec(val)
		}
		if old := objs[a][b]; old != nil {
			countOwner(owned, a, old.Obj, -1)
			s.indexRemove(idx, a, old)
			delete(objs[a], b)
		}
		if err != nil {
			// Not served at all: neither the bad value nor a stale one.
			return fmt.Errorf("decode %s %s: %w", a, b, err)
		}
		countOwner(owned, a, obj, +1)
		e := &Entry{ID: b, Obj: obj, Raw: val, ModRev: modRev, CreateRev: createRev}
		if pre != nil && pre.memo != nil {
			e.Memo.Store(pre.memo)
		}
		objs[a][b] = e
		s.indexAdd(idx, a, e)
	case "c":
		g := claims[a]
		if g == nil {
			g = map[string]string{}
			claims[a] = g
		}
		g[b] = string(val)
		s.claimIndexAdd(cidx, a, b)
	case "k":
		kvs[a] = val
		for _, h := range s.valueHooks {
			if strings.HasPrefix(a, h.prefix) {
				h.fn(a, val)
			}
		}
	}
	return nil
}

func (s *Store) applyDelete(key []byte) {
	section, a, b, ok := s.splitKey(key)
	if !ok {
		return
	}
	switch section {
	case "r":
		if m := s.objs[a]; m != nil {
			if old := m[b]; old != nil {
				countOwner(s.owned, a, old.Obj, -1)
				s.indexRemove(s.idx, a, old)
			}
			delete(m, b)
		}
	case "c":
		if g := s.claims[a]; g != nil {
			if _, had := g[b]; had {
				s.claimIndexRemove(a, b, len(g) == 1)
			}
			delete(g, b)
			if len(g) == 0 {
				delete(s.claims, a)
			}
		}
	case "k":
		delete(s.kvs, a)
	}
}
