package store

import "testing"

func TestAsRefusesOtherTypes(t *testing.T) {
	e := &Entry{ID: "x", Obj: &struct{ A int }{1}}
	if _, ok := As[*struct{ A int }](e); !ok {
		t.Error("As refused the right type")
	}
	if _, ok := As[*struct{ B string }](e); ok {
		t.Error("As accepted another type")
	}
	if _, ok := As[*struct{ A int }](nil); ok {
		t.Error("As accepted a nil entry")
	}
}
