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
// With elsewhere, none of them is on r007 (the router the benchmarks
// change).
func scaleModel(b *testing.B, n int, elsewhere ...bool) (*hostmodel.Model, int64) {
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
			FixedIPAddress: ptr(fixed.String()), PortID: ptr(pid), RouterID: ptr(routerOf(i, len(elsewhere) > 0 && elsewhere[0]))})
	}
	return resetModel(b, cs), 1
}

// routerOf spreads floating IP i over the routers (all but r007 if
// elsewhere).
func routerOf(i int, elsewhere bool) string {
	r := i % benchRouters
	if elsewhere {
		r = i % (benchRouters - 1)
		if r >= 7 {
			r++
		}
	}
	return fmt.Sprintf("r%03d", r)
}

// BenchmarkPlanFIPAssociate is the incremental planner's cost of one
// floating IP associate (and, alternately, disassociate) on a network
// node serving 500 routers, with 1, 1,000 or 5,000 floating IPs: only
// the floating IP's router is replanned, so the three should cost about
// the same. The two snapshots (associated, disassociated) are read from
// the model before timing (BenchmarkModelAndPlan times the model too).
//
// With the floating IPs spread over all routers, the changed router
// itself holds 0, 2 or 10 of them; the "elsewhere" variants keep them
// all on other routers, so that only the host's total differs.
func BenchmarkPlanFIPAssociate(b *testing.B) {
	for _, v := range []struct {
		n         int
		elsewhere bool
	}{{1, false}, {1000, false}, {5000, false}, {1000, true}, {5000, true}} {
		name := fmt.Sprintf("fips=%d", v.n)
		if v.elsewhere {
			name += "/elsewhere"
		}
		b.Run(name, func(b *testing.B) {
			m, rev := scaleModel(b, v.n, v.elsewhere)
			p := NewPlanner(hostConfig("network1", model.ModeDVRSNAT, netip.MustParseAddr("10.0.1.11")))
			s0, _, _ := m.SnapshotSince("network1", 0)
			p.Plan(s0, nil, true)
			fip := model.FloatingIP{Standard: model.Standard{ID: "fip-bench"}, FloatingIPAddress: "100.127.255.1", RouterID: ptr("r007")}
			benchSteps(b, p, toggleSteps(m, "network1", rev, fipToggle(fip, "10.241.0.0", "vm-0")), &Stats{Routers: 1})
		})
	}
}

// BenchmarkModelAndPlan is the whole agent-side cost of one floating IP
// associate (or disassociate) before the kernel: the model applies the
// event (copying, on write, the floating IP maps a snapshot still
// shares), the snapshot and the change log are read, and the planner
// replans the one router.
func BenchmarkModelAndPlan(b *testing.B) {
	for _, n := range []int{1, 1000, 5000} {
		b.Run(fmt.Sprintf("fips=%d", n), func(b *testing.B) {
			m, rev := scaleModel(b, n)
			p := NewPlanner(hostConfig("network1", model.ModeDVRSNAT, netip.MustParseAddr("10.0.1.11")))
			s0, _, _ := m.SnapshotSince("network1", 0)
			p.Plan(s0, nil, true)
			fip := model.FloatingIP{Standard: model.Standard{ID: "fip-bench"}, FloatingIPAddress: "100.127.255.1", RouterID: ptr("r007")}
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				fip.FixedIPAddress, fip.PortID = nil, nil
				if i%2 == 0 {
					fip.FixedIPAddress, fip.PortID = ptr("10.241.0.0"), ptr("vm-0")
				}
				data, _ := json.Marshal(&fip)
				m.Apply(&syncproto.Event{Revision: rev + 1, Upserts: []syncproto.Object{{Kind: model.KindFIP, ID: fip.ID, Rev: rev + 1, Data: data}}})
				s, changes, ok := m.SnapshotSince("network1", rev)
				rev++
				p.Plan(s, changes, !ok)
				if p.Last != (Stats{Routers: 1}) {
					b.Fatalf("replanned %+v", p.Last)
				}
			}
		})
	}
}

// resetModel is a model holding cs, as one reset event of the server's
// stream at revision 1 delivers them.
func resetModel(b *testing.B, cs []change) *hostmodel.Model {
	b.Helper()
	ev := &syncproto.Event{Revision: 1, Reset: true}
	for _, c := range cs {
		data, err := json.Marshal(c.obj)
		if err != nil {
			b.Fatal(err)
		}
		ev.Upserts = append(ev.Upserts, syncproto.Object{Kind: c.kind, ID: c.id, Rev: 1, Data: data})
	}
	m := hostmodel.New()
	m.Apply(ev)
	return m
}
