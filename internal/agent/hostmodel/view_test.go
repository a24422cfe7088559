package hostmodel

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// fingerprint renders what a snapshot holds, indexes included, sorted.
func fingerprint(s *Snapshot) string {
	var lines []string
	for id, p := range s.Ports {
		lines = append(lines, fmt.Sprintf("port %s dev %s net %s", id, p.DeviceID, p.NetworkID))
	}
	for id, f := range s.FloatingIPs {
		r := ""
		if f.RouterID != nil {
			r = *f.RouterID
		}
		lines = append(lines, fmt.Sprintf("fip %s router %s", id, r))
	}
	for id := range s.Routers {
		lines = append(lines, "router "+id)
	}
	for id := range s.L3Bindings {
		lines = append(lines, "l3binding "+id)
	}
	for id := range s.DHCPBindings {
		lines = append(lines, "dhcpbinding "+id)
	}
	for dev, ps := range s.portsByDevice {
		for _, p := range ps {
			lines = append(lines, "index dev "+dev+" "+p.ID)
		}
	}
	for n, ps := range s.portsByNetwork {
		for _, p := range ps {
			lines = append(lines, "index net "+n+" "+p.ID)
		}
	}
	for r, fs := range s.fipsByRouter {
		for _, f := range fs {
			lines = append(lines, "index router "+r+" "+f.ID)
		}
	}
	slices.Sort(lines)
	return fmt.Sprint(lines)
}

// The view kept up to date holds what a view built from scratch holds,
// and a snapshot taken earlier never changes (copy on write).
func TestViewCopyOnWrite(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := New()
	live := map[syncproto.Key]syncproto.Object{}
	type taken struct {
		s  *Snapshot
		fp string
	}
	var snaps []taken
	for rev := int64(1); rev <= 400; rev++ {
		ev := &syncproto.Event{Revision: rev}
		id := fmt.Sprint(r.IntN(12))
		switch r.IntN(5) {
		case 0: // delete something
			k := syncproto.Key{Kind: []string{model.KindPort, model.KindFIP, model.KindRouter}[r.IntN(3)], ID: id}
			ev.Deletes = []syncproto.Key{k}
			delete(live, k)
		case 1:
			ev.Upserts = []syncproto.Object{object(t, model.KindFIP, id, rev, &model.FloatingIP{Standard: model.Standard{ID: id}, RouterID: ptr(fmt.Sprint("r", r.IntN(3)))})}
		case 2:
			ev.Upserts = []syncproto.Object{object(t, model.KindRouter, id, rev, &model.Router{Standard: model.Standard{ID: id}})}
		case 3:
			ev.Upserts = []syncproto.Object{object(t, model.KindDHCPBinding, id, rev, &model.Binding{ID: id})}
		default:
			ev.Upserts = []syncproto.Object{object(t, model.KindPort, id, rev, &model.Port{Standard: model.Standard{ID: id}, DeviceID: fmt.Sprint("r", r.IntN(3)), NetworkID: fmt.Sprint("n", r.IntN(3))})}
		}
		for _, o := range ev.Upserts {
			live[syncproto.Key{Kind: o.Kind, ID: o.ID}] = o
		}
		m.Apply(ev)
		s := m.Snapshot("h")
		fresh := New()
		full := &syncproto.Event{Revision: rev, Reset: true}
		for _, o := range live {
			full.Upserts = append(full.Upserts, o)
		}
		fresh.Apply(full)
		want := fresh.Snapshot("h")
		rebuilt := NewSnapshot("h")
		for k, h := range fresh.objects {
			if h.v != nil {
				rebuilt.add(k.ID, h.v)
			}
		}
		rebuilt.index()
		if got, w := fingerprint(s), fingerprint(rebuilt); got != w || fingerprint(want) != w {
			t.Fatalf("rev %d: kept view\n%s\nwant\n%s", rev, got, w)
		}
		if rev%7 == 0 {
			snaps = append(snaps, taken{s, fingerprint(s)})
		}
		for _, old := range snaps {
			if fingerprint(old.s) != old.fp {
				t.Fatalf("rev %d: a snapshot taken earlier changed", rev)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func object(t *testing.T, kind, id string, rev int64, v any) syncproto.Object {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return syncproto.Object{Kind: kind, ID: id, Rev: rev, Data: b}
}

// Snapshots taken concurrently with each other and with events (run
// with -race).
func TestViewConcurrentSnapshots(t *testing.T) {
	m := New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rev := int64(1); rev <= 200; rev++ {
			m.Apply(&syncproto.Event{Revision: rev, Upserts: []syncproto.Object{
				object(t, model.KindFIP, fmt.Sprint(rev%5), rev, &model.FloatingIP{Standard: model.Standard{ID: fmt.Sprint(rev % 5)}, RouterID: ptr("r1")})}})
		}
	}()
	for range 2 {
		go func() {
			for range 200 {
				s, _, _ := m.SnapshotSince("h", 0)
				_ = len(s.FloatingIPsOfRouter("r1"))
			}
		}()
	}
	<-done
	s := m.Snapshot("h")
	if got := len(s.FloatingIPsOfRouter("r1")); got != 5 {
		t.Fatalf("router r1 has %d floating IPs, want 5", got)
	}
}
