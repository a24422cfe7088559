package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

var decoders = map[string]store.Decoder{
	"thing": func(raw []byte) (any, error) {
		var v map[string]any
		err := json.Unmarshal(raw, &v)
		return v, err
	},
}

func openLossy(t *testing.T) (*store.Store, *testutil.LossyKV) {
	t.Helper()
	e, err := store.StartEmbedded(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	l := &testutil.LossyKV{}
	s, err := store.Open(context.Background(), e.Client, "/test/", decoders, l.Option(), store.WithTimeout(2*time.Second))
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
	create := func(v *store.View, tx *store.Txn) error {
		tx.Create("thing", "a", []byte(`{"name":"A"}`))
		tx.Claim("ip", "10.0.0.2", "a")
		return nil
	}
	l.ApplyThenLose.Store(1)
	if _, err := s.Update(ctx, create); err != nil {
		t.Fatalf("create whose answer was lost: %v", err)
	}
	l.ApplyThenLose.Store(1)
	if _, err := s.Update(ctx, func(v *store.View, tx *store.Txn) error {
		e, _ := v.Get("thing", "a")
		tx.Replace("thing", e, []byte(`{"name":"B"}`))
		return nil
	}); err != nil {
		t.Fatalf("update whose answer was lost: %v", err)
	}
	l.ApplyThenLose.Store(1)
	if _, err := s.Update(ctx, func(v *store.View, tx *store.Txn) error {
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
	s.View(func(v *store.View) {
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
	l.LoseRequest.Store(1)
	_, err := s.Update(ctx, func(v *store.View, tx *store.Txn) error {
		tx.Create("thing", "a", []byte(`{"name":"A"}`))
		return nil
	})
	if !errors.Is(err, store.ErrOutcomeUnknown) {
		t.Fatalf("lost request: got %v, want store.ErrOutcomeUnknown", err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	s.View(func(v *store.View) {
		if _, ok := v.Get("thing", "a"); ok {
			t.Error("lost create is in the store")
		}
	})
	// A later write of the same keys by someone else is not taken for ours.
	if _, err := s.Update(ctx, func(v *store.View, tx *store.Txn) error {
		tx.Create("thing", "a", []byte(`{"name":"other"}`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l.LoseRequest.Store(1)
	_, err = s.Update(ctx, func(v *store.View, tx *store.Txn) error {
		e, _ := v.Get("thing", "a")
		tx.Replace("thing", e, []byte(`{"name":"mine"}`))
		return nil
	})
	if !errors.Is(err, store.ErrOutcomeUnknown) {
		t.Fatalf("lost update: got %v, want store.ErrOutcomeUnknown", err)
	}
}
