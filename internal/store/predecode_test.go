package store

import (
	"context"
	"testing"
)

// TestPredecoded checks that a decoded value is used only for the key
// and the very bytes it was decoded from.
func TestPredecoded(t *testing.T) {
	obj := &thing{Name: "A"}
	pre := map[string]preObj{"/test/r/thing/a": {raw: []byte(`{"name":"A"}`), obj: obj}}
	if got := preDecoded(pre, []byte("/test/r/thing/a"), []byte(`{"name":"A"}`)); got == nil || got.obj != obj {
		t.Errorf("same key and bytes: got %v", got)
	}
	if got := preDecoded(pre, []byte("/test/r/thing/a"), []byte(`{"name":"B"}`)); got != nil {
		t.Errorf("other bytes: got %v", got)
	}
	if got := preDecoded(pre, []byte("/test/r/thing/b"), []byte(`{"name":"A"}`)); got != nil {
		t.Errorf("other key: got %v", got)
	}
	if got := preDecoded(nil, []byte("/test/r/thing/a"), []byte(`{"name":"A"}`)); got != nil {
		t.Errorf("nothing decoded: got %v", got)
	}
	var p *predecoded
	if p.ready() != nil {
		t.Error("nil predecoded is ready")
	}
}

// TestWriteVisibleDecoded checks that writes (a create, a replace of a
// resource read back through Txn.Get, a delete) show in the cache with
// the values decoded from what was committed, whichever way the cache
// took them.
func TestWriteVisibleDecoded(t *testing.T) {
	e, s := openEmbedded(t, t.TempDir())
	defer e.Close()
	defer s.Close()
	ctx := context.Background()
	name := func(id string) string {
		var n string
		s.View(func(v *View) {
			if en, ok := v.Get("thing", id); ok {
				n = en.Obj.(*thing).Name
			}
		})
		return n
	}
	for i := range 50 {
		if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
			tx.Create("thing", "a"+string(rune('a'+i%26))+string(rune('a'+i/26)), []byte(`{"name":"first"}`))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := name("aaa"); got != "first" {
		t.Fatalf("after create: %q", got)
	}
	if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
		tx.Create("thing", "b", []byte(`{"name":"one"}`))
		en, _ := tx.Get(v, "thing", "b")
		tx.Replace("thing", en, []byte(`{"name":"two"}`))
		prev, _ := v.Get("thing", "aaa")
		tx.Replace("thing", prev, []byte(`{"name":"second"}`))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := name("b"); got != "two" {
		t.Errorf("restaged create: %q, want two", got)
	}
	if got := name("aaa"); got != "second" {
		t.Errorf("replace: %q, want second", got)
	}
}

// TestPrepare checks that an entry prepared while its write commits is
// told its id, value and bytes, and that a memo the cached entry starts
// with is the one prepared from its bytes.
func TestPrepare(t *testing.T) {
	ctx := context.Background()
	e, err := StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	bad := make(chan string, 100)
	s, err := Open(ctx, e.Client, "/test/", decoders, WithPrepare(func(kind string, en *Entry) {
		if kind != "thing" || en.Obj.(*thing).Name != string(en.Raw[9:len(en.Raw)-2]) || en.ID != "x"+en.Obj.(*thing).Name {
			bad <- kind + " " + en.ID + " " + string(en.Raw)
		}
		var m any = "memo of " + string(en.Raw)
		en.Memo.Store(&m)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		n := string(rune('a' + i))
		if _, err := s.Update(ctx, func(v *View, tx *Txn) error {
			tx.Create("thing", "x"+n, []byte(`{"name":"`+n+`"}`))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.View(func(v *View) {
			en, _ := v.Get("thing", "x"+n)
			if p := en.Memo.Load(); p != nil && *p != any("memo of "+string(en.Raw)) {
				t.Errorf("entry %s starts with memo %v", en.ID, *p)
			}
		})
	}
	close(bad)
	for b := range bad {
		t.Errorf("prepared: %s", b)
	}
}
