package store

import (
	"context"
	"slices"
	"testing"
)

// memberList is a ClaimIndex that keeps its members sorted.
type memberList struct{ m []string }

func (l *memberList) Add(m string) {
	if i, found := slices.BinarySearch(l.m, m); !found {
		l.m = slices.Insert(l.m, i, m)
	}
}

func (l *memberList) Remove(m string) {
	if i, found := slices.BinarySearch(l.m, m); found {
		l.m = slices.Delete(l.m, i, i+1)
	}
}

// TestClaimIndex checks that a claim index follows its group through
// claims, releases (the last one drops it), the cache's reload and a
// restart, and that other groups get none.
func TestClaimIndex(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*Embedded, *Store) {
		return openEmbeddedWith(t, dir, decoders, WithClaimIndex("ip:", func() ClaimIndex { return &memberList{} }))
	}
	members := func(s *Store, group string) ([]string, bool) {
		var out []string
		var ok bool
		s.View(func(v *View) {
			var ix ClaimIndex
			ix, ok = v.ClaimIndex(group)
			if ix != nil {
				out = slices.Clone(ix.(*memberList).m)
			}
		})
		return out, ok
	}
	update := func(s *Store, fn func(tx *Txn)) {
		if _, err := s.Update(ctx, func(v *View, tx *Txn) error { fn(tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	e, s := open()
	update(s, func(tx *Txn) {
		tx.Claim("ip:s1", "10.0.0.3", "a")
		tx.Claim("ip:s1", "10.0.0.2", "a")
		tx.Claim("mac:n1", "fa:16:3e:00:00:01", "a")
		if got := tx.ClaimedMembers("ip:s1"); len(got) != 2 || !got["10.0.0.2"] {
			t.Errorf("ClaimedMembers = %v", got)
		}
	})
	if got, ok := members(s, "ip:s1"); !ok || !slices.Equal(got, []string{"10.0.0.2", "10.0.0.3"}) {
		t.Fatalf("after claims: %v %v", got, ok)
	}
	if got, ok := members(s, "mac:n1"); ok || got != nil {
		t.Fatalf("mac group has an index: %v %v", got, ok)
	}
	update(s, func(tx *Txn) { tx.Release("ip:s1", "10.0.0.2") })
	if got, _ := members(s, "ip:s1"); !slices.Equal(got, []string{"10.0.0.3"}) {
		t.Fatalf("after a release: %v", got)
	}
	update(s, func(tx *Txn) { tx.Claim("ip:s2", "10.1.0.9", "b") })
	update(s, func(tx *Txn) { tx.Release("ip:s1", "10.0.0.3") })
	if got, ok := members(s, "ip:s1"); !ok || got != nil {
		t.Fatalf("after the last release: %v %v", got, ok)
	}
	if err := s.load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := members(s, "ip:s2"); !slices.Equal(got, []string{"10.1.0.9"}) {
		t.Fatalf("after reload: %v", got)
	}
	s.Close()
	e.Close()
	e, s = open()
	defer e.Close()
	defer s.Close()
	if got, _ := members(s, "ip:s2"); !slices.Equal(got, []string{"10.1.0.9"}) {
		t.Fatalf("after restart: %v", got)
	}
}
