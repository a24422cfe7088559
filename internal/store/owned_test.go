package store

import (
	"context"
	"encoding/json"
	"testing"
)

type ownedThing struct {
	Project string `json:"project"`
}

func (o *ownedThing) Owner() string { return o.Project }

var ownedDecoders = map[string]Decoder{
	"owned": func(raw []byte) (any, error) {
		var o ownedThing
		err := json.Unmarshal(raw, &o)
		return &o, err
	},
	"thing": decoders["thing"], // not Owned: never counted
}

// TestCountOwned: the per-owner counts follow creates, owner changes and
// deletes, equal a scan of the cache, and are rebuilt on a restart.
func TestCountOwned(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*Embedded, *Store) { return openEmbeddedWith(t, dir, ownedDecoders) }
	update := func(s *Store, plan func(v *View, tx *Txn)) {
		t.Helper()
		if _, err := s.Update(ctx, func(v *View, tx *Txn) error { plan(v, tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store, want map[string]int) {
		t.Helper()
		s.View(func(v *View) {
			scan := map[string]int{}
			v.Each("owned", func(e *Entry) bool { scan[e.Obj.(*ownedThing).Project]++; return true })
			for _, p := range []string{"p1", "p2", "p3"} {
				if got := v.CountOwned("owned", p); got != want[p] || got != scan[p] {
					t.Errorf("CountOwned(%s) = %d, want %d (scan %d)", p, got, want[p], scan[p])
				}
			}
			if n := v.CountOwned("thing", ""); n != 0 {
				t.Errorf("a kind that is not Owned counted %d", n)
			}
		})
	}

	e, s := open()
	update(s, func(v *View, tx *Txn) {
		tx.Create("owned", "a", []byte(`{"project":"p1"}`))
		tx.Create("owned", "b", []byte(`{"project":"p1"}`))
		tx.Create("owned", "c", []byte(`{"project":"p2"}`))
		tx.Create("thing", "x", []byte(`{}`))
	})
	check(s, map[string]int{"p1": 2, "p2": 1})
	update(s, func(v *View, tx *Txn) {
		b, _ := v.Get("owned", "b")
		tx.Replace("owned", b, []byte(`{"project":"p3"}`))
		c, _ := v.Get("owned", "c")
		tx.Delete("owned", c)
	})
	check(s, map[string]int{"p1": 1, "p3": 1})
	s.Close()
	e.Close()

	e, s = open()
	defer e.Close()
	defer s.Close()
	check(s, map[string]int{"p1": 1, "p3": 1})
}
