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

const benchNetworks, benchPortsPerNetwork = 500, 10

// l2ScaleModel is the walkthrough plus benchNetworks VXLAN networks with
// benchPortsPerNetwork instance ports each, spread over compute1 and
// compute2, and a DHCP port on network1.
func l2ScaleModel(b *testing.B) (*hostmodel.Model, int64) {
	cs := walkthrough()
	add := func(kind, id string, obj any) { cs = append(cs, change{kind, id, obj}) }
	for i := range benchNetworks {
		net, sub := fmt.Sprintf("net%03d", i), fmt.Sprintf("sub%03d", i)
		add(model.KindNetwork, net, &model.Network{Standard: model.Standard{ID: net}, AdminStateUp: true, NetworkType: "vxlan",
			SegmentationID: ptr(1000 + i), MTU: 1450, Subnets: []string{sub}})
		add(model.KindSubnet, sub, &model.Subnet{Standard: model.Standard{ID: sub}, NetworkID: net, IPVersion: 4,
			CIDR: fmt.Sprintf("10.%d.%d.0/24", 100+i/250, i%250), EnableDHCP: true})
		port(add, "dhcp-"+net, net, sub, fmt.Sprintf("10.%d.%d.2", 100+i/250, i%250), model.OwnerDHCP, "dhcp", "network1", fmt.Sprintf("fa:16:3e:30:%02x:%02x", i>>8, i&0xff))
		for j := range benchPortsPerNetwork {
			host := []string{"compute1", "compute2"}[j%2]
			id := fmt.Sprintf("p%03d-%d", i, j)
			port(add, id, net, sub, fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, 10+j), "compute:nova", id, host, fmt.Sprintf("fa:16:3e:4%d:%02x:%02x", j, i>>8, i&0xff))
		}
	}
	return resetModel(b, cs), 1
}

// BenchmarkPlanL2PortAdd is the planner's cost on compute1 of one port
// added on one of 500 networks of 10 ports (and, alternately, removed):
// only that network is replanned and spliced into the host's lists.
// BenchmarkPlanL2Full is the cost of planning the same host from
// scratch, which is what every port change cost when layer 2 was one
// unit.
func BenchmarkPlanL2PortAdd(b *testing.B) {
	m, rev := l2ScaleModel(b)
	p := NewPlanner(hostConfig("compute1", model.ModeDVR, netip.MustParseAddr("10.0.1.21")))
	s0, _, _ := m.SnapshotSince("compute1", 0)
	p.Plan(s0, nil, true)
	pt := &model.Port{Standard: model.Standard{ID: "p-bench"}, NetworkID: "net007", AdminStateUp: true, DeviceOwner: "compute:nova",
		HostID: "compute1", MACAddress: "fa:16:3e:ff:00:01", FixedIPs: []model.FixedIP{{SubnetID: "sub007", IPAddress: "10.100.7.99"}}}
	steps := toggleSteps(m, "compute1", rev, func(i int, rev int64) *syncproto.Event {
		ev := &syncproto.Event{Revision: rev}
		if i == 0 {
			data, _ := json.Marshal(pt)
			ev.Upserts = []syncproto.Object{{Kind: model.KindPort, ID: pt.ID, Rev: rev, Data: data}}
		} else {
			ev.Deletes = []syncproto.Key{{Kind: model.KindPort, ID: pt.ID}}
		}
		return ev
	})
	benchSteps(b, p, steps, &Stats{Networks: 1})
}

func BenchmarkPlanL2Full(b *testing.B) {
	m, _ := l2ScaleModel(b)
	cfg := hostConfig("compute1", model.ModeDVR, netip.MustParseAddr("10.0.1.21"))
	s := m.Snapshot("compute1")
	want, _ := Plan(s, cfg)
	if len(want.Bridges) < benchNetworks {
		b.Fatalf("%d bridges", len(want.Bridges))
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		Plan(s, cfg)
	}
}
