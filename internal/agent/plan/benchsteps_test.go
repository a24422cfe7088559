package plan

import (
	"encoding/json"
	"runtime"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// planStep is a host's snapshot after an event and the changes it made.
type planStep struct {
	s       *hostmodel.Snapshot
	changes []hostmodel.Change
}

// toggleSteps applies event(0) and then event(1), each at the next
// revision after rev, to m and returns host's snapshot and changes after
// each: an object added and removed, a floating IP associated and
// disassociated. The benchmark replans them in turn (benchSteps), so
// that the model's own cost stays out of the measure.
func toggleSteps(m *hostmodel.Model, host string, rev int64, event func(i int, rev int64) *syncproto.Event) [2]planStep {
	var steps [2]planStep
	for i := range steps {
		m.Apply(event(i, rev+1))
		s, changes, _ := m.SnapshotSince(host, rev)
		steps[i] = planStep{s, changes}
		rev++
	}
	return steps
}

// fipToggle is the event of toggleSteps for a floating IP: associated
// with port (fixed address addr) at step 0, disassociated at step 1.
func fipToggle(fip model.FloatingIP, addr, port string) func(i int, rev int64) *syncproto.Event {
	return func(i int, rev int64) *syncproto.Event {
		fip.FixedIPAddress, fip.PortID = nil, nil
		if i == 0 {
			fip.FixedIPAddress, fip.PortID = ptr(addr), ptr(port)
		}
		data, _ := json.Marshal(&fip)
		return &syncproto.Event{Revision: rev, Upserts: []syncproto.Object{{Kind: model.KindFIP, ID: fip.ID, Rev: rev, Data: data}}}
	}
}

// benchSteps replans the two steps in turn b.N times; want, if not nil,
// is what each replan must have touched (only the one unit).
func benchSteps(b *testing.B, p *Planner, steps [2]planStep, want *Stats) {
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		st := steps[i%2]
		p.Plan(st.s, st.changes, false)
		if want != nil && p.Last != *want {
			b.Fatalf("replanned %+v", p.Last)
		}
	}
}
