package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// reportStatus sends what differs from the model, once per object
// revision, with the revision it judged from; a changed object (a
// re-associated floating IP) is judged and reported again.
func TestReportStatusOncePerRevision(t *testing.T) {
	a, reports := reportServer(t)
	port := model.Port{Standard: model.Standard{ID: "p1"}, HostID: "h1", Status: "DOWN", AdminStateUp: true}
	fip := model.FloatingIP{Standard: model.Standard{ID: "f1"}, Status: "DOWN"}
	apply := func(rev int64) {
		pb, _ := json.Marshal(port)
		fb, _ := json.Marshal(fip)
		a.model.Apply(&syncproto.Event{Revision: rev, Upserts: []syncproto.Object{
			{Kind: model.KindPort, ID: "p1", Rev: rev, Data: pb}, {Kind: model.KindFIP, ID: "f1", Rev: rev, Data: fb}}})
	}
	facts := plan.Facts{Routers: map[string]string{"r1": "qrouter-r1"}, Ports: map[string]bool{"p1": true},
		FloatingIPs: map[string]plan.FloatingIP{"f1": {Status: "ACTIVE", Namespace: "qrouter-r1"}}}
	report := func() {
		t.Helper()
		s := a.model.Snapshot("h1")
		if err := a.reportStatus(context.Background(), s, map[string]bool{"p1": true}, facts, func(string) bool { return true }, nil); err != nil {
			t.Fatal(err)
		}
	}
	apply(10)
	report()
	report() // same revisions: nothing new to say
	got := reports()
	if len(got) != 1 || got[0].Ports["p1"] != "ACTIVE" || got[0].FloatingIPs["f1"] != "ACTIVE" || got[0].Seen["p1"] != 10 || got[0].Seen["f1"] != 10 {
		t.Fatalf("reports %+v", got)
	}
	// The floating IP changed (disassociated and associated again: DOWN
	// at a new revision): it is judged again and reported.
	port.Status = "ACTIVE"
	apply(12)
	report()
	got = reports()
	if len(got) != 2 || got[1].FloatingIPs["f1"] != "ACTIVE" || got[1].Seen["f1"] != 12 || len(got[1].Ports) != 0 {
		t.Fatalf("after the change: %+v", got)
	}
}

// A port that cannot be bound is reported DOWN with its binding failure
// until the server shows binding_failed; then nothing more is sent.
func TestReportBindingFailed(t *testing.T) {
	a, reports := reportServer(t)
	port := model.Port{Standard: model.Standard{ID: "p1"}, HostID: "h1", Status: "DOWN", AdminStateUp: true, VIFType: "bridge"}
	facts := plan.Facts{Ports: map[string]bool{"p1": true}, BindingFailed: map[string]string{"p1": "extnet"}}
	round := func(rev int64) {
		t.Helper()
		pb, _ := json.Marshal(port)
		a.model.Apply(&syncproto.Event{Revision: rev, Upserts: []syncproto.Object{{Kind: model.KindPort, ID: "p1", Rev: rev, Data: pb}}})
		s := a.model.Snapshot("h1")
		if err := a.reportStatus(context.Background(), s, nil, facts, func(string) bool { return true }, nil); err != nil {
			t.Fatal(err)
		}
	}
	round(5)
	got := reports()
	if len(got) != 1 || got[0].Ports["p1"] != "DOWN" || got[0].BindingFailed["p1"] != "extnet" {
		t.Fatalf("reports %+v", got)
	}
	port.VIFType = model.VIFTypeBindingFailed
	round(6)
	got = reports()
	if len(got) != 1 {
		t.Fatalf("reported again after the server recorded the failure: %+v", got[1:])
	}
}

// A DVR router interface this host has plugged is reported ACTIVE (it
// has no host of its own); one it has not is not reported at all.
func TestReportDistributedInterface(t *testing.T) {
	a, reports := reportServer(t)
	var ups []syncproto.Object
	for _, id := range []string{"qr1", "qr2"} {
		b, _ := json.Marshal(model.Port{Standard: model.Standard{ID: id}, DeviceOwner: model.OwnerRouterInterfaceD, Status: "DOWN", AdminStateUp: true})
		ups = append(ups, syncproto.Object{Kind: model.KindPort, ID: id, Rev: 5, Data: b})
	}
	a.model.Apply(&syncproto.Event{Revision: 5, Upserts: ups})
	s := a.model.Snapshot("h1")
	if s.Ports["qr1"] == nil {
		t.Skip("the host snapshot leaves out unbound distributed ports")
	}
	if err := a.reportStatus(context.Background(), s, map[string]bool{"qr1": true}, plan.Facts{}, func(string) bool { return true }, nil); err != nil {
		t.Fatal(err)
	}
	got := reports()
	if len(got) != 1 || got[0].Ports["qr1"] != "ACTIVE" || len(got[0].Ports) != 1 {
		t.Fatalf("reports %+v", got)
	}
}

// reportServer records the status reports that the agent it returns
// (host h1) sends; reports returns them so far.
func reportServer(t *testing.T) (a *Agent, reports func() []syncproto.StatusReport) {
	var mu sync.Mutex
	var got []syncproto.StatusReport
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep syncproto.StatusReport
		json.NewDecoder(r.Body).Decode(&rep)
		mu.Lock()
		got = append(got, rep)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	a = New(&Config{Host: "h1", ServerURL: srv.URL}, nil)
	a.client.URL = srv.URL
	return a, func() []syncproto.StatusReport {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// The L3 and DHCP agent rows carry the configured availability zone
// ("nova" unless [AGENT] availability_zone says otherwise), as upstream's.
func TestAgentStatesZone(t *testing.T) {
	a := New(&Config{Host: "h1", AvailabilityZone: "az1", EnableDHCPAgent: true}, nil)
	for _, st := range a.agentStates() {
		want := ""
		if st.AgentType == model.AgentTypeL3 || st.AgentType == model.AgentTypeDHCP {
			want = "az1"
		}
		if st.AvailabilityZone != want {
			t.Errorf("%s: zone %q, want %q", st.AgentType, st.AvailabilityZone, want)
		}
	}
}

// A report scoped to what changed says what a full report says when
// the objects outside the scope are as the server shows them.
func TestReportScopedEqualsFull(t *testing.T) {
	var got [2][]syncproto.StatusReport
	for i, scope := range []*statusScope{nil, {ids: map[string]bool{"p1": true, "f1": true, "qr1": true, "gone": true}}} {
		a, reports := reportServer(t)
		var ups []syncproto.Object
		for _, o := range []struct {
			kind string
			obj  any
		}{
			{model.KindPort, model.Port{Standard: model.Standard{ID: "p1"}, HostID: "h1", Status: "DOWN", AdminStateUp: true}},
			{model.KindPort, model.Port{Standard: model.Standard{ID: "p2"}, HostID: "h1", Status: "ACTIVE", AdminStateUp: true}},
			{model.KindPort, model.Port{Standard: model.Standard{ID: "qr1"}, DeviceOwner: model.OwnerRouterInterfaceD, Status: "DOWN", AdminStateUp: true}},
			{model.KindFIP, model.FloatingIP{Standard: model.Standard{ID: "f1"}, Status: "DOWN"}},
			{model.KindFIP, model.FloatingIP{Standard: model.Standard{ID: "f2"}, Status: "ACTIVE"}},
		} {
			b, _ := json.Marshal(o.obj)
			var id struct{ ID string }
			json.Unmarshal(b, &id)
			ups = append(ups, syncproto.Object{Kind: o.kind, ID: id.ID, Rev: 3, Data: b})
		}
		a.model.Apply(&syncproto.Event{Revision: 3, Upserts: ups})
		facts := plan.Facts{Ports: map[string]bool{"p1": true, "p2": true},
			FloatingIPs: map[string]plan.FloatingIP{"f1": {Status: "ACTIVE", Namespace: "qrouter-r1"}, "f2": {Status: "ACTIVE", Namespace: "qrouter-r1"}}}
		plugged := map[string]bool{"p1": true, "p2": true, "qr1": true}
		if err := a.reportStatus(context.Background(), a.model.Snapshot("h1"), plugged, facts, func(string) bool { return true }, scope); err != nil {
			t.Fatal(err)
		}
		got[i] = reports()
	}
	if !reflect.DeepEqual(got[0], got[1]) || len(got[0]) != 1 || len(got[0][0].Ports)+len(got[0][0].FloatingIPs) < 2 {
		t.Fatalf("full %+v, scoped %+v", got[0], got[1])
	}
}
