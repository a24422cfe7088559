package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
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

func TestProgressSafeVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"3.4.23": false, "3.4.30": false, "3.4.31": true, "3.5.12": false, "3.5.13": true,
		"3.6.0": true, "3.7.3": true, "4.0.0": true, "2.3.8": false, "junk": false,
	} {
		if got := progressSafeVersion(v); got != want {
			t.Errorf("%s: %v, want %v", v, got, want)
		}
	}
}
