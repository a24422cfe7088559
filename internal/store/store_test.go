package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
)

type thing struct {
	Name string `json:"name"`
}

var decoders = map[string]Decoder{
	"thing": func(raw []byte) (any, error) {
		var t thing
		err := json.Unmarshal(raw, &t)
		return &t, err
	},
}

func openEmbedded(t *testing.T, dir string) (*Embedded, *Store) {
	t.Helper()
	return openEmbeddedWith(t, dir, decoders)
}

// openEmbeddedWith starts an embedded etcd in dir (a restart when dir
// already holds one) and opens a store on it with dec and opts.
func openEmbeddedWith(t *testing.T, dir string, dec map[string]Decoder, opts ...Option) (*Embedded, *Store) {
	t.Helper()
	ctx := context.Background()
	e, err := StartEmbedded(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, e.Client, "/test/", dec, opts...)
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	return e, s
}

func TestCreateClaimAndRestart(t *testing.T) {
	dir := t.TempDir()
	e, s := openEmbedded(t, dir)
	ctx := context.Background()
	_, err := s.Update(ctx, func(v *View, tx *Txn) error {
		tx.Create("thing", "a", []byte(`{"name":"A"}`))
		tx.Claim("ip:s1", "10.0.0.2", "a")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Read-your-writes: visible right after Update returns.
	s.View(func(v *View) {
		if e, ok := v.Get("thing", "a"); !ok || e.Obj.(*thing).Name != "A" {
			t.Errorf("thing a not in cache after write")
		}
		if o, _ := v.Claim("ip:s1", "10.0.0.2"); o != "a" {
			t.Errorf("claim owner %q", o)
		}
	})
	s.Close()
	e.Close()

	e, s = openEmbedded(t, dir)
	defer e.Close()
	defer s.Close()
	s.View(func(v *View) {
		if _, ok := v.Get("thing", "a"); !ok {
			t.Errorf("thing a lost across restart")
		}
	})
}

func TestConcurrentClaimsNeverDuplicate(t *testing.T) {
	e, s := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, func(v *View, tx *Txn) error {
				used := v.Claims("ip:s1")
				for n := 2; n < 40; n++ {
					ip := fmt.Sprintf("10.0.0.%d", n)
					if _, taken := used[ip]; !taken {
						got[i] = ip
						tx.Create("thing", fmt.Sprint(i), []byte(`{}`))
						tx.Claim("ip:s1", ip, fmt.Sprint(i))
						return nil
					}
				}
				return fmt.Errorf("full")
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ip := range got {
		if seen[ip] {
			t.Errorf("%s given twice", ip)
		}
		seen[ip] = true
	}
}

func TestNoNewClaimsGuard(t *testing.T) {
	e, s := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer s.Close()
	ctx := context.Background()
	// An empty group passes the guard.
	if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
		tx.NoNewClaims("mac:n1")
		tx.Create("thing", "n1", []byte(`{}`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A claim taken between reading and committing makes the guarded
	// write re-plan, and the second plan sees the claim.
	plans := 0
	var sawClaim bool
	_, err := s.Update(ctx, func(v *View, tx *Txn) error {
		plans++
		if plans == 1 {
			// Simulate a racing writer.
			go func() {}()
			if _, err := s.cli.Put(ctx, "/test/c/mac:n1/fa:16:3e:00:00:01", "p1"); err != nil {
				return err
			}
		}
		_, sawClaim = v.Claim("mac:n1", "fa:16:3e:00:00:01")
		tx.NoNewClaims("mac:n1")
		tx.Delete("thing", mustGet(v, "thing", "n1"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if plans < 2 || !sawClaim {
		t.Fatalf("guard did not force a re-plan: plans=%d sawClaim=%v", plans, sawClaim)
	}
}

func mustGet(v *View, kind, id string) *Entry {
	e, _ := v.Get(kind, id)
	return e
}

// A write whose guarded key changes under it (here: written behind the
// store's back while it plans) loses the race, is planned again and
// commits; TxnStats counts each step (the servers' metrics read them).
func TestTxnStatsCountConflicts(t *testing.T) {
	e, s := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
		tx.Create("thing", "a", []byte(`{"name":"A"}`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := s.TxnStats()
	raced := false
	_, err := s.Update(ctx, func(v *View, tx *Txn) error {
		prev, ok := v.Get("thing", "a")
		if !ok {
			return fmt.Errorf("thing a missing")
		}
		if !raced {
			raced = true
			if _, err := s.Client().Put(ctx, s.Prefix()+"r/thing/a", `{"name":"behind"}`); err != nil {
				return err
			}
		}
		tx.Replace("thing", prev, []byte(`{"name":"B"}`))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := s.TxnStats()
	if got.Commits != before.Commits+1 || got.Conflicts < before.Conflicts+1 || got.Retries < before.Retries+1 || got.GaveUp != before.GaveUp {
		t.Errorf("stats %+v after %+v: want one more commit, at least one more conflict and retry, no give-up", got, before)
	}
}
