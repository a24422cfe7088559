package store

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrCompacted means the revision asked for is older than the history
// etcd still keeps.
var ErrCompacted = errors.New("store: revision compacted")

// ViewAt calls fn with a view of the store as it was at revision rev,
// read from etcd's history. Agents resuming a stream use it to learn what
// they already have.
func (s *Store) ViewAt(ctx context.Context, rev int64, fn func(v *View)) error {
	resp, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, rpctypes.ErrFutureRev) {
			return ErrCompacted
		}
		return fmt.Errorf("read store at revision %d: %w", rev, err)
	}
	old := &Store{prefix: s.prefix, decoders: s.decoders, indexFns: s.indexFns, rev: rev}
	objs := map[string]map[string]*Entry{}
	owned := map[string]map[string]int{}
	for k := range s.decoders {
		objs[k] = map[string]*Entry{}
		owned[k] = map[string]int{}
	}
	idx, claims, kvs := indexes{}, map[string]map[string]string{}, map[string][]byte{}
	for _, kv := range resp.Kvs {
		if err := old.applyPut(objs, owned, idx, claims, map[string]ClaimIndex{}, kvs, kv.Key, kv.Value, kv.ModRevision, kv.CreateRevision, nil); err != nil {
			return err
		}
	}
	old.objs, old.owned, old.idx, old.claims, old.kvs = objs, owned, idx, claims, kvs
	fn(&View{s: old})
	return nil
}

// Changed is closed when a resource changes after this view (plain keys
// such as heartbeats do not count).
func (v *View) Changed() <-chan struct{} { return v.s.resNotify }
