package hostview

import (
	"context"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// TestLocalFloatingIP: a floating IP change whose new router is none or
// legacy (HA or not) moves it to the views holding that router; one
// onto a distributed, missing or undecodable router recomputes; any
// deletion leaves.
func TestLocalFloatingIP(t *testing.T) {
	s := viewStore(t)
	if _, err := s.Update(context.Background(), func(v *store.View, tx *store.Txn) error {
		put(tx, model.KindRouter, "RL", &model.Router{Standard: model.Standard{ID: "RL"}})
		put(tx, model.KindRouter, "RH", &model.Router{Standard: model.Standard{ID: "RH"}, HA: true})
		put(tx, model.KindRouter, "RD", &model.Router{Standard: model.Standard{ID: "RD"}, Distributed: true})
		tx.Create(model.KindRouter, "RX", []byte("not json"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fip := func(router, port string) *store.Entry {
		f := &model.FloatingIP{Standard: model.Standard{ID: "f"}, Status: "DOWN"}
		if router != "" {
			f.RouterID = strp(router)
		}
		if port != "" {
			f.PortID = strp(port)
		}
		return &store.Entry{ID: "f", Obj: f}
	}
	active := fip("RD", "p1")
	active.Obj.(*model.FloatingIP).Status = "ACTIVE"
	undecoded := &store.Entry{ID: "f"}
	router := func(id string) syncproto.Key { return syncproto.Key{Kind: model.KindRouter, ID: id} }
	none := syncproto.Key{}
	for _, c := range []struct {
		name     string
		old, cur *store.Entry
		eff      Effect
		anchor   syncproto.Key
	}{
		{"create unassociated", nil, fip("", ""), Move, none},
		{"create with a port, no router", nil, fip("", "p1"), Move, none},
		{"create on legacy", nil, fip("RL", "p1"), Move, router("RL")},
		{"create on legacy HA", nil, fip("RH", "p1"), Move, router("RH")},
		{"create on distributed", nil, fip("RD", "p1"), Recompute, none},
		{"create on missing router", nil, fip("RM", "p1"), Recompute, none},
		{"create on undecodable router (the cache skips it)", nil, fip("RX", "p1"), Recompute, none},
		{"associate to legacy", fip("", ""), fip("RL", "p1"), Move, router("RL")},
		{"disassociate from legacy", fip("RL", "p1"), fip("", ""), Move, none},
		{"re-associate, same router", fip("RL", "p1"), fip("RL", "p2"), Move, router("RL")},
		{"legacy to legacy HA", fip("RL", "p1"), fip("RH", "p1"), Move, router("RH")},
		{"disassociate from distributed", fip("RD", "p1"), fip("", ""), Move, none},
		{"distributed to legacy", fip("RD", "p1"), fip("RL", "p1"), Move, router("RL")},
		{"legacy to distributed", fip("RL", "p1"), fip("RD", "p1"), Recompute, none},
		{"status, distributed", fip("RD", "p1"), active, Revise, none},
		{"delete from legacy", fip("RL", "p1"), nil, Leave, none},
		{"delete from distributed", fip("RD", "p1"), nil, Leave, none},
		{"delete undecodable", undecoded, nil, Leave, none},
		{"undecodable value", fip("RL", "p1"), undecoded, Recompute, none},
	} {
		s.View(func(v *store.View) {
			if eff, anchor := Local(v, model.KindFIP, c.old, c.cur); eff != c.eff || anchor != c.anchor {
				t.Errorf("%s: %v %v, want %v %v", c.name, eff, anchor, c.eff, c.anchor)
			}
		})
	}
}

// TestFollowFloatingIPOnLegacyRouter: associating a floating IP to a
// legacy router reaches the host holding the router without a
// recompute, and nothing else; turning that router distributed in the
// same batch makes that host recompute, whichever change comes first.
func TestFollowFloatingIPOnLegacyRouter(t *testing.T) {
	s := viewStore(t)
	write := storeWriter(t, s)
	write(seedCloud)
	h2, h1 := &watcher{host: "h2"}, &watcher{host: "h1"} // h2 holds legacy R1; h1 does not
	sync := func(w *watcher) (up []syncproto.Object, del []syncproto.Key, full bool) {
		s.View(func(v *store.View) { up, del, full = w.sync(v) })
		return
	}
	sync(h2)
	sync(h1)
	associate := func(v *store.View, tx *store.Txn, router string) {
		modify(v, tx, model.KindFIP, "f2", func(f *model.FloatingIP) {
			f.PortID, f.RouterID = nil, nil
			if router != "" {
				f.PortID, f.RouterID = strp("p7"), strp(router)
			}
		})
	}
	write(func(v *store.View, tx *store.Txn) { associate(v, tx, "R1") })
	if up, del, full := sync(h2); full || len(up) != 1 || up[0].ID != "f2" || len(del) != 0 {
		t.Fatalf("h2: recomputed %v, sent %v %v; want f2 alone, incrementally", full, up, del)
	}
	if up, del, full := sync(h1); full || len(up)+len(del) != 0 {
		t.Fatalf("h1: recomputed %v, sent %v %v; want nothing", full, up, del)
	}
	write(func(v *store.View, tx *store.Txn) { associate(v, tx, "") })
	if up, del, full := sync(h2); full || len(up) != 0 || len(del) != 1 || del[0].ID != "f2" {
		t.Fatalf("h2: recomputed %v, sent %v %v; want f2 deleted, incrementally", full, up, del)
	}
	flip := func(v *store.View, tx *store.Txn) {
		modify(v, tx, model.KindRouter, "R1", func(r *model.Router) { r.Distributed = !r.Distributed })
	}
	for _, flipFirst := range []bool{true, false} {
		write(func(v *store.View, tx *store.Txn) {
			if flipFirst {
				flip(v, tx)
			}
			associate(v, tx, "R1")
			if !flipFirst {
				flip(v, tx)
			}
		})
		if _, _, full := sync(h2); !full {
			t.Fatalf("router flipped (first %v) with an association: h2 did not recompute", flipFirst)
		}
	}
}
