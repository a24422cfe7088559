package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// cacheDump is what a cache holds, for comparing two caches.
type cacheDump struct {
	rev     int64
	objs    map[string]string // kind/id -> raw, mod and create revision
	claims  map[string]string // group/member -> owner
	kvs     map[string]string
	changes []string // rev kind id old? cur?
}

func dump(s *Store, changesFrom int64) cacheDump {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := cacheDump{rev: s.rev, objs: map[string]string{}, claims: map[string]string{}, kvs: map[string]string{}}
	for kind, m := range s.objs {
		for id, e := range m {
			d.objs[kind+"/"+id] = fmt.Sprintf("%s mod %d create %d", e.Raw, e.ModRev, e.CreateRev)
		}
	}
	for g, m := range s.claims {
		for member, owner := range m {
			d.claims[g+"/"+member] = owner
		}
	}
	for k, v := range s.kvs {
		if k != "neutrino-sync" {
			d.kvs[k] = string(v)
		}
	}
	for _, c := range s.changes {
		if c.rev > changesFrom {
			d.changes = append(d.changes, fmt.Sprintf("%d %s %s %v %v", c.rev, c.kind, c.id, c.old != nil, c.cur != nil))
		}
	}
	return d
}

func sameDump(t *testing.T, what string, a, b cacheDump) {
	t.Helper()
	if got, want := fmt.Sprint(a), fmt.Sprint(b); got != want {
		t.Fatalf("%s: caches differ:\n%s\n%s", what, got, want)
	}
}

// A write's own commit, applied to the cache from the transaction
// (own.go), leaves exactly what the watch brings to another store on
// the same etcd: the same entries with the same revisions, claims,
// plain keys and change log.
func TestOwnCommitMatchesWatch(t *testing.T) {
	e, a := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer a.Close()
	ctx := context.Background()
	b, err := Open(ctx, e.Client, "/test/", decoders)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The writer follows no watch: its cache moves only by its own
	// commits, so each must be applied from the transaction (the watch
	// could otherwise win the race and bring it first).
	a.stop()
	<-a.done
	from := a.Rev()
	var x, y *Entry
	get := func(id string) *Entry {
		var en *Entry
		a.View(func(v *View) { en, _ = v.Get("thing", id) })
		return en
	}
	steps := []func(v *View, tx *Txn) error{
		func(v *View, tx *Txn) error {
			tx.Create("thing", "x", []byte(`{"name":"x"}`))
			tx.Claim("ip:s1", "10.0.0.2", "x")
			tx.PutValue("setting", []byte("1"), true)
			return nil
		},
		func(v *View, tx *Txn) error {
			tx.Replace("thing", x, []byte(`{"name":"x2"}`))
			tx.Create("thing", "y", []byte(`{"name":"y"}`))
			tx.Serialize("guard")
			return nil
		},
		func(v *View, tx *Txn) error {
			// Replaced twice in one transaction, through Get.
			cur, _ := tx.Get(v, "thing", "x")
			tx.Replace("thing", cur, []byte(`{"name":"x3"}`))
			cur, _ = tx.Get(v, "thing", "x")
			tx.Replace("thing", cur, []byte(`{"name":"x4"}`))
			tx.Release("ip:s1", "10.0.0.2")
			tx.Release("ip:s1", "10.0.0.9") // never held: etcd reports nothing
			tx.DeleteValue("setting")
			return nil
		},
		func(v *View, tx *Txn) error {
			tx.Delete("thing", y)
			tx.DeleteValue("absent")
			tx.Serialize("guard")
			return nil
		},
	}
	for i, step := range steps {
		x, y = get("x"), get("y")
		own := a.stats.ownApplied.Load()
		rev, err := a.Update(ctx, step)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if a.stats.ownApplied.Load() != own+1 {
			t.Fatalf("step %d: the commit was not applied from the transaction", i)
		}
		if got := a.Rev(); got != rev {
			t.Fatalf("step %d: cache at %d after the commit at %d", i, got, rev)
		}
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		sameDump(t, fmt.Sprintf("step %d, writer and watcher", i), dump(a, from), dump(b, from))
	}
	c, err := Open(ctx, e.Client, "/test/", decoders)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	da, dc := dump(a, from), dump(c, from)
	da.changes = nil // a fresh load has no log
	sameDump(t, "writer and a fresh load", da, dc)
	if !strings.HasPrefix(dc.objs["thing/x"], `{"name":"x4"} `) {
		t.Fatalf("x is %s", dc.objs["thing/x"])
	}
}

// Writers on two stores (both using the embedded member's revision for
// Sync) race to allocate addresses from one pool: no address is given
// twice, each write is visible on the other store right after it
// answered, and both caches end equal to a fresh load.
func TestTwoStoresRaceOwnCommits(t *testing.T) {
	e, a := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer a.Close()
	ctx := context.Background()
	a.localRev = e.Revision
	b, err := Open(ctx, e.Client, "/test/", decoders, WithLocalRevision(e.Revision))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stores := []*Store{a, b}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	owner := map[string]string{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				st, other := stores[(w+i)%2], stores[(w+i+1)%2]
				var ip string
				_, err := st.Update(ctx, func(v *View, tx *Txn) error {
					used := v.Claims("ip:s1")
					for n := 1; n < 1000; n++ {
						ip = fmt.Sprintf("10.0.%d.%d", n/250, n%250)
						if _, taken := used[ip]; !taken {
							tx.Create("thing", id, []byte(`{"name":"`+ip+`"}`))
							tx.Claim("ip:s1", ip, id)
							return nil
						}
					}
					return fmt.Errorf("full")
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := owner[ip]; dup {
					t.Errorf("%s given to %s and %s", ip, prev, id)
				}
				owner[ip] = id
				mu.Unlock()
				if err := other.Sync(ctx); err != nil {
					t.Error(err)
					return
				}
				other.View(func(v *View) {
					if _, ok := v.Get("thing", id); !ok {
						t.Errorf("%s written through one store not visible on the other after Sync", id)
					}
				})
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	c, err := Open(ctx, e.Client, "/test/", decoders)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, st := range stores {
		if err := st.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(c, c.Rev())
	for i, st := range stores {
		got := dump(st, st.Rev())
		got.rev, want.rev = 0, 0
		sameDump(t, fmt.Sprintf("store %d and a fresh load", i), got, want)
	}
	t.Logf("commits applied from the transaction: %d and %d of %d", a.stats.ownApplied.Load(), b.stats.ownApplied.Load(), writers*each)
}
