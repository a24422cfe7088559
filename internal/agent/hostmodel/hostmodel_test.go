package hostmodel

import (
	"encoding/json"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

func obj(kind, id string, rev int64, v any) syncproto.Object {
	b, _ := json.Marshal(v)
	return syncproto.Object{Kind: kind, ID: id, Rev: rev, Data: b}
}

func TestApplyAndSnapshot(t *testing.T) {
	m := New()
	if m.Synced() {
		t.Fatal("synced before any event")
	}
	m.Apply(&syncproto.Event{Revision: 5, Reset: true, Upserts: []syncproto.Object{
		obj(model.KindNetwork, "n1", 3, model.Network{Standard: model.Standard{ID: "n1"}, MTU: 1450}),
		obj(model.KindPort, "p1", 4, model.Port{Standard: model.Standard{ID: "p1"}, NetworkID: "n1"}),
		obj(model.KindL3Binding, "r1", 4, model.Binding{ID: "r1", AgentIDs: []string{"a"}}),
		obj(model.KindDHCPBinding, "n1", 5, model.Binding{ID: "n1", AgentIDs: []string{"d"}}),
		obj("something_new", "x", 5, map[string]any{}),
	}})
	s := m.Snapshot("h")
	if !m.Synced() || s.Revision != 5 || s.Networks["n1"].MTU != 1450 || s.Ports["p1"].NetworkID != "n1" {
		t.Fatalf("snapshot %+v", s)
	}
	if s.L3Bindings["r1"] == nil || s.DHCPBindings["n1"] == nil || s.L3Bindings["n1"] != nil || s.DHCPBindings["r1"] != nil {
		t.Errorf("bindings mixed up: l3 %v dhcp %v", s.L3Bindings, s.DHCPBindings)
	}
	// A delta: update, delete.
	m.Apply(&syncproto.Event{Revision: 7,
		Upserts: []syncproto.Object{obj(model.KindNetwork, "n1", 7, model.Network{Standard: model.Standard{ID: "n1"}, MTU: 1400})},
		Deletes: []syncproto.Key{{Kind: model.KindPort, ID: "p1"}}})
	s = m.Snapshot("h")
	if s.Revision != 7 || s.Networks["n1"].MTU != 1400 || len(s.Ports) != 0 || m.Revision() != 7 {
		t.Errorf("after delta: rev %d mtu %d ports %d", s.Revision, s.Networks["n1"].MTU, len(s.Ports))
	}
	// A reset drops what the new full view does not carry.
	m.Apply(&syncproto.Event{Revision: 9, Reset: true, Upserts: []syncproto.Object{obj(model.KindPort, "p2", 9, model.Port{Standard: model.Standard{ID: "p2"}})}})
	s = m.Snapshot("h")
	if len(s.Networks) != 0 || s.Ports["p2"] == nil {
		t.Errorf("after reset: %d networks, ports %v", len(s.Networks), s.Ports)
	}
	// A value that does not decode is left out of the snapshot (the
	// rest of the host still plans) and listed by Undecodable until it
	// is replaced or removed.
	m.Apply(&syncproto.Event{Revision: 10, Upserts: []syncproto.Object{
		{Kind: model.KindPort, ID: "p3", Rev: 10, Data: json.RawMessage(`{"fixed_ips": 5}`)},
		{Kind: model.KindPort, ID: "p2", Rev: 10, Data: json.RawMessage(`{"mac_address": [1]}`)},
		obj(model.KindPort, "p4", 10, model.Port{Standard: model.Standard{ID: "p4"}})}})
	s = m.Snapshot("h")
	if s.Revision != 10 || s.Ports["p4"] == nil || s.Ports["p3"] != nil || s.Ports["p2"] != nil {
		t.Errorf("with undecodable ports: rev %d, ports %v", s.Revision, s.Ports)
	}
	bad := m.Undecodable()
	if len(bad) != 2 || bad[syncproto.Key{Kind: model.KindPort, ID: "p3"}] == nil || bad[syncproto.Key{Kind: model.KindPort, ID: "p2"}] == nil {
		t.Errorf("undecodable: %v", bad)
	}
	m.Apply(&syncproto.Event{Revision: 11, Deletes: []syncproto.Key{{Kind: model.KindPort, ID: "p3"}},
		Upserts: []syncproto.Object{obj(model.KindPort, "p2", 11, model.Port{Standard: model.Standard{ID: "p2"}})}})
	if s = m.Snapshot("h"); len(m.Undecodable()) != 0 || s.Ports["p2"] == nil || s.Ports["p4"] == nil {
		t.Errorf("after removing and replacing the bad objects: %v, ports %v", m.Undecodable(), s.Ports)
	}
}
