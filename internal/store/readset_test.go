package store

import (
	"context"
	"testing"
)

// thingStore is a store of things indexed by name, and a function that
// writes to it.
func thingStore(t *testing.T) (*Store, func(fn func(v *View, tx *Txn))) {
	ctx := context.Background()
	e, err := StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	s, err := Open(ctx, e.Client, "/test/", decoders, WithIndex("thing", "name", func(o any) []string { return []string{o.(*thing).Name} }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, func(fn func(v *View, tx *Txn)) {
		t.Helper()
		if _, err := s.Update(ctx, func(v *View, tx *Txn) error { fn(v, tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadSetAffects(t *testing.T) {
	s, write := thingStore(t)
	write(func(v *View, tx *Txn) {
		tx.Create("thing", "a", []byte(`{"name":"A"}`))
		tx.Create("thing", "b", []byte(`{"name":"B"}`))
	})
	affects, record := readSetProbes(s)
	if !affects(NewReadSet()) {
		t.Fatal("an empty read set must say yes")
	}
	getA := record(func(v *View) { v.Get("thing", "a") })
	byNameC := record(func(v *View) { v.Index("thing", "name", "C") })
	all := record(func(v *View) { v.Each("thing", func(*Entry) bool { return true }) })
	opaque := record(func(v *View) { v.Value("x") })
	if affects(getA) || affects(byNameC) || affects(all) || !affects(opaque) {
		t.Fatal("nothing changed yet")
	}
	// b changes: only the full scan cares.
	write(func(v *View, tx *Txn) { e, _ := v.Get("thing", "b"); tx.Replace("thing", e, []byte(`{"name":"B2"}`)) })
	if affects(getA) || affects(byNameC) || !affects(all) {
		t.Fatal("change of b")
	}
	// b moves to index key C: the index reader cares.
	write(func(v *View, tx *Txn) { e, _ := v.Get("thing", "b"); tx.Replace("thing", e, []byte(`{"name":"C"}`)) })
	if affects(getA) || !affects(byNameC) {
		t.Fatal("b moved to C")
	}
	byNameC = record(func(v *View) { v.Index("thing", "name", "C") })
	// ...and away again (the old key counts too).
	write(func(v *View, tx *Txn) { e, _ := v.Get("thing", "b"); tx.Replace("thing", e, []byte(`{"name":"D"}`)) })
	if !affects(byNameC) {
		t.Fatal("b left C")
	}
	// a deleted; a created.
	write(func(v *View, tx *Txn) { e, _ := v.Get("thing", "a"); tx.Delete("thing", e) })
	if !affects(getA) {
		t.Fatal("a deleted")
	}
	getX := record(func(v *View) { v.Get("thing", "x") })
	write(func(v *View, tx *Txn) { tx.Create("thing", "x", []byte(`{"name":"X"}`)) })
	if !affects(getX) {
		t.Fatal("x created")
	}
	// A read set older than the log answers yes.
	getZ := record(func(v *View) { v.Get("thing", "z") })
	write(func(v *View, tx *Txn) { tx.Create("thing", "y", []byte(`{"name":"Y"}`)) })
	if affects(getZ) {
		t.Fatal("y does not concern z")
	}
	s.mu.Lock()
	s.resetChanges(s.rev)
	s.mu.Unlock()
	if !affects(getZ) {
		t.Fatal("read set older than the log")
	}
}

// TestReadSetAffectedBy: the gathered changes answer as Affects does,
// move an unaffected set up to their view, and leave plain key and claim
// reads out of a RecordingResources set.
func TestReadSetAffectedBy(t *testing.T) {
	s, write := thingStore(t)
	write(func(v *View, tx *Txn) { tx.Create("thing", "a", []byte(`{"name":"A"}`)) })
	var base int64
	s.View(func(v *View) { base = v.Rev() })
	record := func(read func(v *View)) *ReadSet {
		rs := NewReadSet()
		s.View(func(v *View) { read(v.RecordingResources(rs)) })
		return rs
	}
	affected := func(rs *ReadSet) (yes bool) {
		s.View(func(v *View) { yes = v.AffectedBy(rs, v.ChangesSince(base)) })
		return
	}
	getA := record(func(v *View) { v.Get("thing", "a"); v.Value("hb/x"); v.Claims("g") })
	byNameB := record(func(v *View) { v.Index("thing", "name", "B") })
	count := record(func(v *View) { v.Count("thing") })
	if affected(getA) || affected(byNameB) || affected(count) {
		t.Fatal("nothing changed yet (plain keys and claims are not recorded)")
	}
	write(func(v *View, tx *Txn) { tx.Create("thing", "b", []byte(`{"name":"B"}`)) })
	if affected(getA) || !affected(byNameB) || !affected(count) {
		t.Fatal("b created")
	}
	// getA was moved up past b's creation: from then on, changes since
	// a later base serve it.
	s.View(func(v *View) { base = v.Rev() })
	write(func(v *View, tx *Txn) { e, _ := v.Get("thing", "a"); tx.Replace("thing", e, []byte(`{"name":"A2"}`)) })
	if !affected(getA) {
		t.Fatal("a changed")
	}
	// A set older than the changes' start cannot be told.
	old := NewReadSet()
	s.View(func(v *View) { v.RecordingResources(old).Get("thing", "zz") })
	s.View(func(v *View) { base = v.Rev() + 1 })
	if !affected(old) {
		t.Fatal("a set older than the changes must say yes")
	}
}

// TestReadSetFollow: Follow hands over, in order and with both entries,
// only the changes that touch the reads; the set moves up only when all
// were taken.
func TestReadSetFollow(t *testing.T) {
	s, write := thingStore(t)
	write(func(v *View, tx *Txn) { tx.Create("thing", "a", []byte(`{"name":"A"}`)) })
	rs := NewReadSet()
	s.View(func(v *View) { v.Recording(rs).Get("thing", "a") })
	write(func(v *View, tx *Txn) { tx.Create("thing", "b", []byte(`{"name":"B"}`)) })
	write(func(v *View, tx *Txn) { e, _ := v.Get("thing", "a"); tx.Replace("thing", e, []byte(`{"name":"A2"}`)) })
	follow := func(take bool) (got []string, ok bool) {
		s.View(func(v *View) {
			ok = v.Follow(rs, func(c Change) bool {
				got = append(got, c.ID+":"+string(c.Old.Raw)+">"+string(c.Cur.Raw))
				return take
			})
		})
		return got, ok
	}
	if got, ok := follow(false); ok || len(got) != 1 || got[0] != `a:{"name":"A"}>{"name":"A2"}` {
		t.Fatalf("refused: %v %v", got, ok)
	}
	if got, ok := follow(true); !ok || len(got) != 1 {
		t.Fatalf("taken: %v %v", got, ok)
	}
	if got, ok := follow(false); !ok || len(got) != 0 {
		t.Fatalf("moved up: nothing left, got %v %v", got, ok)
	}
	opaque := NewReadSet()
	s.View(func(v *View) { v.Recording(opaque).Value("x") })
	s.View(func(v *View) {
		if v.Follow(opaque, func(Change) bool { return true }) {
			t.Error("an opaque set cannot be followed")
		}
	})
}

// TestReadSetGetKinds checks the kinds filter of Get reads (getKinds):
// a change is looked up among the gets only for a kind the set got, and
// must then be found whatever other kinds it got, in any order.
func TestReadSetGetKinds(t *testing.T) {
	s, write := thingStore(t)
	write(func(v *View, tx *Txn) { tx.Create("thing", "a", []byte(`{"name":"A"}`)) })
	affects, record := readSetProbes(s)
	thingA := record(func(v *View) { v.Get("thing", "a") })
	both := record(func(v *View) { v.Get("gadget", "a"); v.Get("thing", "a"); v.Get("gadget", "b") })
	byName := record(func(v *View) { v.Index("thing", "name", "A") })
	// A gadget with a's ID: the set that got only things does not care.
	write(func(v *View, tx *Txn) { tx.Create("gadget", "a", []byte(`{}`)) })
	if affects(thingA) || !affects(both) || affects(byName) {
		t.Fatal("gadget a created")
	}
	both = record(func(v *View) { v.Get("gadget", "a"); v.Get("thing", "a"); v.Get("gadget", "b") })
	write(func(v *View, tx *Txn) { tx.Create("gadget", "c", []byte(`{}`)) })
	if affects(thingA) || affects(both) {
		t.Fatal("gadget c: read by neither")
	}
	write(func(v *View, tx *Txn) { e, _ := v.Get("thing", "a"); tx.Replace("thing", e, []byte(`{"name":"A"}`)) })
	if !affects(thingA) || !affects(both) || !affects(byName) {
		t.Fatal("thing a changed")
	}
}

// readSetProbes returns, for tests of s: whether a read set is affected
// by the change s now stands at, and a read set recorded from a read.
func readSetProbes(s *Store) (affects func(*ReadSet) bool, record func(read func(v *View)) *ReadSet) {
	affects = func(rs *ReadSet) (yes bool) {
		s.View(func(v *View) { yes = v.Affects(rs) })
		return
	}
	record = func(read func(v *View)) *ReadSet {
		rs := NewReadSet()
		s.View(func(v *View) { read(v.Recording(rs)) })
		return rs
	}
	return affects, record
}
