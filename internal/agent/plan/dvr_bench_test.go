package plan

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/model"
)

// dvrScaleModel is compute1 of the DVR walkthrough with n more
// instances on a /16 of demo-router, each with a floating IP.
func dvrScaleModel(b *testing.B, n int) (*hostmodel.Model, int64) {
	cs := dvrView("compute1", dvrWalkthrough())
	add := func(kind, id string, obj any) { cs = append(cs, change{kind, id, obj}) }
	add(model.KindNetwork, "bench-net", &model.Network{Standard: model.Standard{ID: "bench-net"}, AdminStateUp: true, NetworkType: "vxlan",
		SegmentationID: ptr(300), MTU: 1450, Subnets: []string{"bench-sub"}})
	add(model.KindSubnet, "bench-sub", &model.Subnet{Standard: model.Standard{ID: "bench-sub"}, NetworkID: "bench-net", IPVersion: 4, CIDR: "10.200.0.0/16", GatewayIP: ptr("10.200.0.1")})
	port(add, "qr3-bench-net", "bench-net", "bench-sub", "10.200.0.1", model.OwnerRouterInterfaceD, "demo-router", "", "fa:16:3e:00:03:01")
	port(add, "sg3-bench-net", "bench-net", "bench-sub", "10.200.0.3", model.OwnerRouterSNAT, "demo-router", "network", "fa:16:3e:00:03:03")
	for i := range n {
		fixed := netip.AddrFrom4([4]byte{10, 200, byte(1 + i>>8), byte(i)})
		pid := fmt.Sprintf("bvm-%d", i)
		port(add, pid, "bench-net", "bench-sub", fixed.String(), "compute:nova", pid, "compute1", fmt.Sprintf("fa:16:3e:30:%02x:%02x", i>>8, i&0xff))
		fid := fmt.Sprintf("bfip-%d", i)
		add(model.KindFIP, fid, &model.FloatingIP{Standard: model.Standard{ID: fid}, FloatingIPAddress: netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}).String(),
			FixedIPAddress: ptr(fixed.String()), PortID: ptr(pid), RouterID: ptr("demo-router")})
	}
	return resetModel(b, cs), 1
}

// BenchmarkPlanDVRFIPAssociate is the incremental planner's cost of one
// floating IP associate (and, alternately, disassociate) on a compute
// whose distributed router already serves 1, 1,000 or 5,000 floating
// IPs of the host's ports.
func BenchmarkPlanDVRFIPAssociate(b *testing.B) {
	for _, n := range []int{1, 1000, 5000} {
		b.Run(fmt.Sprintf("fips=%d", n), func(b *testing.B) {
			m, rev := dvrScaleModel(b, n)
			cfg := hostConfig("compute1", model.ModeDVR, netip.MustParseAddr("10.0.1.21"))
			cfg.PhysicalInterfaces = map[string]string{"external": "eth1"}
			cfg.LinkLocal = fakeLinkLocal()
			p := NewPlanner(cfg)
			s0, _, _ := m.SnapshotSince("compute1", 0)
			p.Plan(s0, nil, true)
			fip := model.FloatingIP{Standard: model.Standard{ID: "fip-bench"}, FloatingIPAddress: "203.0.113.199", RouterID: ptr("demo-router")}
			benchSteps(b, p, toggleSteps(m, "compute1", rev, fipToggle(fip, "192.168.1.10", "vm1")), nil)
		})
	}
}
