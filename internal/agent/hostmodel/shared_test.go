package hostmodel

import (
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// TestSharedObjects: two models fed the same object at the same
// revision hold one decoded value; different bytes are not shared.
func TestSharedObjects(t *testing.T) {
	sh := NewShared()
	a, b, c := NewWithShared(sh), NewWithShared(sh), NewWithShared(sh)
	net := func(mtu int) syncproto.Object {
		return obj(model.KindNetwork, "n1", 3, model.Network{Standard: model.Standard{ID: "n1"}, MTU: mtu})
	}
	a.Apply(&syncproto.Event{Revision: 3, Reset: true, Upserts: []syncproto.Object{net(1450)}})
	b.Apply(&syncproto.Event{Revision: 3, Reset: true, Upserts: []syncproto.Object{net(1450)}})
	c.Apply(&syncproto.Event{Revision: 3, Reset: true, Upserts: []syncproto.Object{net(1400)}})
	na, nb, nc := a.Snapshot("h").Networks["n1"], b.Snapshot("h").Networks["n1"], c.Snapshot("h").Networks["n1"]
	if na != nb {
		t.Error("the same object at the same revision is held twice")
	}
	if nc == na || nc.MTU != 1400 {
		t.Errorf("different bytes shared: %+v", nc)
	}
}

// TestForget: forgotten changes are gone, later ones are still given,
// and asking from before the forgotten revision means replan all.
func TestForget(t *testing.T) {
	m := New()
	m.Apply(&syncproto.Event{Revision: 5, Reset: true, Upserts: []syncproto.Object{
		obj(model.KindNetwork, "n1", 5, model.Network{Standard: model.Standard{ID: "n1"}})}})
	m.Forget(5)
	if _, ch, ok := m.SnapshotSince("h", 5); !ok || len(ch) != 0 {
		t.Fatalf("after Forget(5): %v %v", ch, ok)
	}
	m.Apply(&syncproto.Event{Revision: 6, Upserts: []syncproto.Object{
		obj(model.KindNetwork, "n1", 6, model.Network{Standard: model.Standard{ID: "n1"}, MTU: 1400})}})
	if _, ch, ok := m.SnapshotSince("h", 5); !ok || len(ch) != 1 || ch[0].Rev != 6 {
		t.Errorf("since 5: %v %v", ch, ok)
	}
	if _, _, ok := m.SnapshotSince("h", 4); ok {
		t.Error("since 4 should ask for a full replan")
	}
}
