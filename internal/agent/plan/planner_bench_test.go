package plan

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

const benchRouters = 500

// scaleModel is network1 serving benchRouters legacy routers on one
// internal and one external network, with n floating IPs spread over
// them, each for an instance port on compute1.
func scaleModel(b *testing.B, n int) (*hostmodel.Model, int64) {
	cs := walkthrough()
	add := func(kind, id string, obj any) { cs = append(cs, change{kind, id, obj}) }
	for i := range benchRouters {
		id := fmt.Sprintf("r%03d", i)
		gw := "gw-" + id
		port(add, gw, "ext-net", "ext-sub", netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 250)}).String(), model.OwnerRouterGateway, id, "network1", fmt.Sprintf("fa:16:3e:10:%02x:%02x", i>>8, i&0xff))
		port(add, "qr-"+id, "apps-net", "apps-sub", netip.AddrFrom4([4]byte{10, 241, 3, byte(i % 250)}).String(), model.OwnerRouterInterface, id, "network1", fmt.Sprintf("fa:16:3e:11:%02x:%02x", i>>8, i&0xff))
		add(model.KindRouter, id, &model.Router{Standard: model.Standard{ID: id}, AdminStateUp: true, GatewayPortID: gw,
			ExternalGatewayInfo: &model.GatewayInfo{NetworkID: "ext-net", EnableSNAT: true}})
		add(model.KindL3Binding, id, &model.Binding{ID: id, AgentIDs: []string{"l3-network1"}})
	}
	for i := range n {
		fixed := netip.AddrFrom4([4]byte{10, 241, byte(i >> 8 & 3), byte(i)})
		pid := fmt.Sprintf("vm-%d", i)
		port(add, pid, "apps-net", "apps-sub", fixed.String(), "compute:nova", pid, "compute1", fmt.Sprintf("fa:16:3e:20:%02x:%02x", i>>8, i&0xff))
		fid := fmt.Sprintf("fip-%d", i)
		add(model.KindFIP, fid, &model.FloatingIP{Standard: model.Standard{ID: fid}, FloatingIPAddress: netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}).String(),
			FixedIPAddress: ptr(fixed.String()), PortID: ptr(pid), RouterID: ptr(fmt.Sprintf("r%03d", i%benchRouters))})
	}
	m := hostmodel.New()
	ev := &syncproto.Event{Revision: 1, Reset: true}
	for _, c := range cs {
		data, err := json.Marshal(c.obj)
		if err != nil {
			b.Fatal(err)
		}
		ev.Upserts = append(ev.Upserts, syncproto.Object{Kind: c.kind, ID: c.id, Rev: 1, Data: data})
	}
	m.Apply(ev)
	return m, 1
}

// BenchmarkPlanFIPAssociate is the incremental planner's cost of one
// floating IP associate (and, alternately, disassociate) on a network
// node serving 500 routers, with 1, 1,000 or 5,000 floating IPs: only
// the floating IP's router is replanned, so the three should cost about
// the same. The two snapshots (associated, disassociated) are read from
// the model before timing: reading the model is not incremental (see
// BenchmarkSnapshot), and its garbage would be collected during, and
// counted in, the planning.
func BenchmarkPlanFIPAssociate(b *testing.B) {
	for _, n := range []int{1, 1000, 5000} {
		b.Run(fmt.Sprintf("fips=%d", n), func(b *testing.B) {
			m, rev := scaleModel(b, n)
			p := NewPlanner(hostConfig("network1", model.ModeDVRSNAT, netip.MustParseAddr("10.0.1.11")))
			s0, _, _ := m.SnapshotSince("network1", 0)
			p.Plan(s0, nil, true)
			type step struct {
				s       *hostmodel.Snapshot
				changes []hostmodel.Change
			}
			var steps [2]step
			fip := model.FloatingIP{Standard: model.Standard{ID: "fip-bench"}, FloatingIPAddress: "100.127.255.1", RouterID: ptr("r007")}
			for i := range steps {
				fip.FixedIPAddress, fip.PortID = nil, nil
				if i == 0 {
					fip.FixedIPAddress, fip.PortID = ptr("10.241.0.0"), ptr("vm-0")
				}
				data, _ := json.Marshal(&fip)
				m.Apply(&syncproto.Event{Revision: rev + 1, Upserts: []syncproto.Object{{Kind: model.KindFIP, ID: fip.ID, Rev: rev + 1, Data: data}}})
				s, changes, _ := m.SnapshotSince("network1", rev)
				steps[i] = step{s, changes}
				rev++
			}
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				st := steps[i%2]
				p.Plan(st.s, st.changes, false)
				if p.Last != (Stats{Routers: 1}) {
					b.Fatalf("replanned %+v", p.Last)
				}
			}
		})
	}
}

// BenchmarkSnapshot is what reading the model costs per reconcile (not
// incremental: it copies the view's pointers and builds its indexes).
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{1, 1000, 5000} {
		b.Run(fmt.Sprintf("fips=%d", n), func(b *testing.B) {
			m, _ := scaleModel(b, n)
			for b.Loop() {
				m.SnapshotSince("network1", 0)
			}
		})
	}
}
