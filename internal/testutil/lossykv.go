package testutil

import (
	"context"
	"sync/atomic"

	"github.com/neutrino-net/neutrino/internal/store"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// LossyKV is an etcd KV that loses the answers to transactions on demand,
// as a leader failover does: ApplyThenLose transactions are applied and
// then answered with an error, LoseRequest ones are answered with the
// same error without being sent.
type LossyKV struct {
	clientv3.KV
	ApplyThenLose, LoseRequest atomic.Int32 // how many of the next txns
}

// Option makes a store send its transactions through l.
func (l *LossyKV) Option() store.Option {
	return store.WrapKV(func(kv clientv3.KV) clientv3.KV {
		l.KV = kv
		return l
	})
}

// Txn wraps the transaction so that its Commit may lose the answer.
func (l *LossyKV) Txn(ctx context.Context) clientv3.Txn {
	return &lossyTxn{Txn: l.KV.Txn(ctx), kv: l}
}

type lossyTxn struct {
	clientv3.Txn
	kv *LossyKV
}

func (t *lossyTxn) If(c ...clientv3.Cmp) clientv3.Txn  { t.Txn = t.Txn.If(c...); return t }
func (t *lossyTxn) Then(o ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Then(o...); return t }
func (t *lossyTxn) Else(o ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Else(o...); return t }

func (t *lossyTxn) Commit() (*clientv3.TxnResponse, error) {
	if take(&t.kv.LoseRequest) {
		return nil, rpctypes.ErrTimeoutDueToLeaderFail
	}
	resp, err := t.Txn.Commit()
	if err == nil && take(&t.kv.ApplyThenLose) {
		return nil, rpctypes.ErrTimeoutDueToLeaderFail
	}
	return resp, err
}

// take consumes one of n, if any is left.
func take(n *atomic.Int32) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}
