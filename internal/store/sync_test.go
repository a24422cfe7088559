package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Two stores on one etcd: after a write through one returns, Sync on the
// other makes it visible there, every time.
func TestSyncSeesWritesOfOtherStore(t *testing.T) {
	e, a := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer a.Close()
	b, err := Open(context.Background(), e.Client, "/test/", decoders)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	for i := range 200 {
		id := fmt.Sprint("t", i)
		if _, err := a.Update(ctx, func(v *View, tx *Txn) error {
			tx.Create("thing", id, []byte(`{"name":"x"}`))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		b.View(func(v *View) {
			if _, ok := v.Get("thing", id); !ok {
				t.Fatalf("write %d through store a not visible in store b after Sync", i)
			}
		})
	}
}

// The current revision may be that of a key outside the prefix, which the
// store's watch never reports; Sync must still return (a progress
// notification on the watch's own stream moves the cache past it).
func TestSyncPastForeignWrites(t *testing.T) {
	e, s := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer s.Close()
	for i := range 20 {
		resp, err := e.Client.Put(context.Background(), fmt.Sprint("/elsewhere/", i), "x")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = s.Sync(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Sync after a write outside the prefix: %v", err)
		}
		if got := s.Rev(); got < resp.Header.Revision {
			t.Fatalf("cache at revision %d after Sync, etcd at %d", got, resp.Header.Revision)
		}
	}
}

// Plain keys reach OnValue hooks as the watch applies them: before Sync
// returns on another store.
func TestOnValueFedByWatch(t *testing.T) {
	e, a := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer a.Close()
	b, err := Open(context.Background(), e.Client, "/test/", decoders)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if _, err := a.CreateValue(ctx, "rev/old", []byte("1")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	b.OnValue("rev/", func(name string, val []byte) {
		mu.Lock()
		seen[name] = string(val)
		mu.Unlock()
	})
	if _, err := a.CreateValue(ctx, "rev/new", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateValue(ctx, "other", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["rev/old"] != "1" || seen["rev/new"] != "2" || len(seen) != 2 {
		t.Fatalf("hook saw %v", seen)
	}
}

// lossyKV loses etcd's answers to transactions on demand: after applying
// them (the answer is lost on the way back, as in a leader failover) or
// before sending them.
type lossyKV struct {
	clientv3.KV
	applyThenLose, loseRequest atomic.Int32 // how many of the next txns
}

func (l *lossyKV) Txn(ctx context.Context) clientv3.Txn {
	return &lossyTxn{Txn: l.KV.Txn(ctx), kv: l}
}

type lossyTxn struct {
	clientv3.Txn
	kv *lossyKV
}

func (t *lossyTxn) If(c ...clientv3.Cmp) clientv3.Txn  { t.Txn = t.Txn.If(c...); return t }
func (t *lossyTxn) Then(o ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Then(o...); return t }
func (t *lossyTxn) Else(o ...clientv3.Op) clientv3.Txn { t.Txn = t.Txn.Else(o...); return t }

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

func (t *lossyTxn) Commit() (*clientv3.TxnResponse, error) {
	if take(&t.kv.loseRequest) {
		return nil, rpctypes.ErrTimeoutDueToLeaderFail
	}
	resp, err := t.Txn.Commit()
	if err == nil && take(&t.kv.applyThenLose) {
		return nil, rpctypes.ErrTimeoutDueToLeaderFail
	}
	return resp, err
}

func openLossy(t *testing.T) (*Store, *lossyKV) {
	t.Helper()
	e, err := StartEmbedded(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	l := &lossyKV{KV: e.Client.KV}
	s, err := Open(context.Background(), e.Client, "/test/", decoders, WithKV(l), WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, l
}

// A write applied by etcd whose answer was lost is reported as done: a
// delete, an update and a create.
func TestLostAnswerOfAppliedWrite(t *testing.T) {
	s, l := openLossy(t)
	ctx := context.Background()
	create := func(v *View, tx *Txn) error {
		tx.Create("thing", "a", []byte(`{"name":"A"}`))
		tx.Claim("ip", "10.0.0.2", "a")
		return nil
	}
	l.applyThenLose.Store(1)
	if _, err := s.Update(ctx, create); err != nil {
		t.Fatalf("create whose answer was lost: %v", err)
	}
	l.applyThenLose.Store(1)
	if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
		e, _ := v.Get("thing", "a")
		tx.Replace("thing", e, []byte(`{"name":"B"}`))
		return nil
	}); err != nil {
		t.Fatalf("update whose answer was lost: %v", err)
	}
	l.applyThenLose.Store(1)
	if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
		e, ok := v.Get("thing", "a")
		if !ok {
			return errors.New("thing a vanished before the delete")
		}
		tx.Delete("thing", e)
		tx.Release("ip", "10.0.0.2")
		return nil
	}); err != nil {
		t.Fatalf("delete whose answer was lost: %v", err)
	}
	s.View(func(v *View) {
		if _, ok := v.Get("thing", "a"); ok {
			t.Error("thing a still cached after its delete was confirmed")
		}
		if _, ok := v.Claim("ip", "10.0.0.2"); ok {
			t.Error("claim still cached after its delete was confirmed")
		}
	})
}

// A write that etcd never applied, with the answer lost, is not reported
// as done: the outcome is unknown, and nothing changed.
func TestLostRequestIsUnknownOutcome(t *testing.T) {
	s, l := openLossy(t)
	ctx := context.Background()
	l.loseRequest.Store(1)
	_, err := s.Update(ctx, func(v *View, tx *Txn) error {
		tx.Create("thing", "a", []byte(`{"name":"A"}`))
		return nil
	})
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("lost request: got %v, want ErrOutcomeUnknown", err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	s.View(func(v *View) {
		if _, ok := v.Get("thing", "a"); ok {
			t.Error("lost create is in the store")
		}
	})
	// A later write of the same keys by someone else is not taken for ours.
	if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
		tx.Create("thing", "a", []byte(`{"name":"other"}`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l.loseRequest.Store(1)
	_, err = s.Update(ctx, func(v *View, tx *Txn) error {
		e, _ := v.Get("thing", "a")
		tx.Replace("thing", e, []byte(`{"name":"mine"}`))
		return nil
	})
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("lost update: got %v, want ErrOutcomeUnknown", err)
	}
}
