package l3

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/model"
)

// BenchmarkPlanFIPs is the agent's whole plan (L3 + L2) for a network
// node whose router holds n floating IPs, each for an instance port on a
// compute host: what one floating IP change costs the agent to replan.
func BenchmarkPlanFIPs(b *testing.B) {
	for _, n := range []int{1, 1000, 5000} {
		b.Run(fmt.Sprintf("fips=%d", n), func(b *testing.B) {
			s := legacySnapshot()
			s.Agents["l2c"] = &model.Agent{ID: "l2c", AgentType: model.AgentTypeL2, Host: "compute1", Configurations: map[string]any{"tunneling_ip": "10.0.1.21"}}
			s.Networks["apps"].NetworkType, s.Networks["apps"].SegmentationID = "vxlan", ptr(100)
			s.Networks["ext"].NetworkType, s.Networks["ext"].PhysicalNetwork = "flat", ptr("extnet")
			for i := range n {
				fixed := netip.AddrFrom4([4]byte{10, 241, byte(i >> 8), byte(i)})
				fip := netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
				pid := fmt.Sprintf("port-%d", i)
				s.Ports[pid] = &model.Port{Standard: model.Standard{ID: pid}, NetworkID: "apps", HostID: "compute1", DeviceOwner: "compute:nova",
					MACAddress: fmt.Sprintf("fa:16:3e:00:%02x:%02x", i>>8, i&0xff), FixedIPs: []model.FixedIP{{SubnetID: "apps-v4", IPAddress: fixed.String()}}}
				fid := fmt.Sprintf("fip-%d", i)
				s.FloatingIPs[fid] = &model.FloatingIP{Standard: model.Standard{ID: fid}, FloatingIPAddress: fip.String(), FixedIPAddress: ptr(fixed.String()), PortID: ptr(pid), RouterID: ptr("r1")}
				fpid := "fport-" + fid
				s.Ports[fpid] = &model.Port{Standard: model.Standard{ID: fpid}, NetworkID: "ext", DeviceOwner: model.OwnerFloatingIP, DeviceID: fid,
					FixedIPs: []model.FixedIP{{SubnetID: "ext-v4", IPAddress: fip.String()}}}
			}
			cfg := Config{Host: "network1", Mode: "dvr_snat", NS: names.Namespaces{}}
			l2cfg := l2.Config{Host: "network1", LocalIP: netip.MustParseAddr("10.0.1.11"), ARPResponder: true, L2Population: true,
				PhysicalInterfaces: map[string]string{"extnet": "eth1"}}
			b.ResetTimer()
			for b.Loop() {
				r := Plan(s, cfg)
				h := l2.Plan(s, l2cfg, r.Networks())
				for _, rt := range r.Routers {
					h.Namespaces = append(h.Namespaces, rt.Namespace)
				}
				h.Normalize()
			}
		})
	}
}
