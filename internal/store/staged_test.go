package store

import (
	"context"
	"strings"
	"testing"
)

func name(e *Entry) string { return e.Obj.(*thing).Name }

func dumpThings(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	s.View(func(v *View) {
		v.Each("thing", func(e *Entry) bool { b.WriteString(e.ID + "=" + string(e.Raw) + ";"); return true })
	})
	return b.String()
}

// A resource replaced several times in one transaction is written once,
// with the last value, each change built on the one before.
func TestReplaceTwiceThroughGet(t *testing.T) {
	e, s := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
		tx.Create("thing", "p", []byte(`{"name":"p"}`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	plans := 0
	_, err := s.Update(ctx, func(v *View, tx *Txn) error {
		plans++
		if plans == 1 {
			// A racing writer changes the parent after the read: the
			// guard of the original read must still hold the write back.
			if _, err := s.cli.Put(ctx, "/test/r/thing/p", `{"name":"q"}`); err != nil {
				return err
			}
		}
		for _, suffix := range []string{"1", "2", "3"} {
			pe, ok := tx.Get(v, "thing", "p")
			if !ok {
				t.Fatal("parent missing")
			}
			tx.Replace("thing", pe, []byte(`{"name":"`+name(pe)+suffix+`"}`))
			tx.Create("thing", "c"+suffix, []byte(`{"name":"child"}`))
		}
		// A pending create reads back too, and can be changed again.
		ce, ok := tx.Get(v, "thing", "c1")
		if !ok || name(ce) != "child" || ce.ModRev != 0 {
			t.Fatalf("pending create: %v %+v", ok, ce)
		}
		tx.Replace("thing", ce, []byte(`{"name":"child1"}`))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if plans != 2 {
		t.Fatalf("plans = %d: the racing write did not fail the guarded commit", plans)
	}
	s.View(func(v *View) {
		if got := name(mustGet(v, "thing", "p")); got != "q123" {
			t.Errorf("parent %q, want q123", got)
		}
		if got := name(mustGet(v, "thing", "c1")); got != "child1" {
			t.Errorf("c1 %q", got)
		}
	})
}

// Changing a resource twice without building on the pending value would
// lose the first change: Update refuses to commit and says why.
func TestReplaceTwiceWithoutGetRefused(t *testing.T) {
	e, s := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
		tx.Create("thing", "p", []byte(`{"name":"p"}`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := dumpThings(t, s)
	for what, plan := range map[string]func(v *View, tx *Txn) error{
		"replace twice from the view": func(v *View, tx *Txn) error {
			pe := mustGet(v, "thing", "p")
			tx.Replace("thing", pe, []byte(`{"name":"a"}`))
			tx.Replace("thing", pe, []byte(`{"name":"b"}`))
			return nil
		},
		"delete after replace": func(v *View, tx *Txn) error {
			pe := mustGet(v, "thing", "p")
			tx.Replace("thing", pe, []byte(`{"name":"a"}`))
			tx.Delete("thing", pe)
			return nil
		},
		"create twice": func(v *View, tx *Txn) error {
			tx.Create("thing", "n", []byte(`{}`))
			tx.Create("thing", "n", []byte(`{}`))
			return nil
		},
	} {
		_, err := s.Update(ctx, plan)
		if err == nil || !strings.Contains(err.Error(), "/test/r/thing/") {
			t.Errorf("%s: err %v", what, err)
		}
		if after := dumpThings(t, s); after != before {
			t.Errorf("%s changed the store: %s", what, after)
		}
	}
}
