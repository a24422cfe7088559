package plan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/trace"
)

// dvrWorld plans every host of the DVR walkthrough (as the agents do)
// and adds the instance ports: what neutrino trace walks.
func dvrWorld(t *testing.T, cs []change) *trace.World {
	w := &trace.World{Hosts: map[string]*desired.Host{}, ExternalGateway: netip.MustParseAddr("203.0.113.1")}
	for _, h := range dvrHosts {
		m := replay(t, dvrView(h.name, cs))
		cfg := hostConfig(h.name, h.mode, h.vtep)
		cfg.PhysicalInterfaces = map[string]string{"external": "eth1"}
		cfg.LinkLocal = fakeLinkLocal()
		d, _ := Plan(m.Snapshot(h.name), cfg)
		w.Hosts[h.name] = &d
	}
	w.Ports = tracePorts(w, cs)
	return w
}

// tracePorts are the compute ports of cs with the tap their host's plan
// puts in a bridge.
func tracePorts(w *trace.World, cs []change) []trace.Port {
	subnets := map[string]*model.Subnet{}
	for _, c := range cs {
		if s, ok := c.obj.(*model.Subnet); ok {
			subnets[c.id] = s
		}
	}
	var out []trace.Port
	for _, c := range cs {
		p, ok := c.obj.(*model.Port)
		if !ok || !strings.HasPrefix(p.DeviceOwner, "compute:") {
			continue
		}
		host := p.HostID
		tp := trace.Port{ID: p.ID, Host: host, MAC: p.MACAddress}
		for _, bp := range w.Hosts[host].BridgePorts {
			if bp.PortID == p.ID {
				tp.Dev = bp.Name
			}
		}
		s := subnets[p.FixedIPs[0].SubnetID]
		tp.Addr = netip.PrefixFrom(netip.MustParseAddr(p.FixedIPs[0].IPAddress), netip.MustParsePrefix(s.CIDR).Bits())
		if s.GatewayIP != nil {
			tp.Gateway = netip.MustParseAddr(*s.GatewayIP)
		}
		out = append(out, tp)
	}
	return out
}

// TestDVRWalkthroughTrace walks the walkthrough's flows through the
// hosts' plans and compares the whole rendered walks with a golden file.
func TestDVRWalkthroughTrace(t *testing.T) {
	w := dvrWorld(t, dvrWalkthrough())
	a := netip.MustParseAddr
	var b strings.Builder
	for _, c := range []struct {
		name, from string
		p          trace.Packet
	}{
		{"east-west across hosts (vm1 compute1 -> vm2 compute2)", "vm1", trace.Packet{Dst: a("192.168.2.10"), Proto: "icmp"}},
		{"floating IP out (vm1 -> internet)", "vm1", trace.Packet{Dst: a("198.51.100.10"), Proto: "icmp"}},
		{"SNAT (vm2 -> internet)", "vm2", trace.Packet{Dst: a("198.51.100.10"), Proto: "tcp", Port: 80}},
		{"floating IP in (internet -> 203.0.113.102)", "", trace.Packet{Src: a("198.51.100.10"), Dst: a("203.0.113.102"), Proto: "icmp"}},
		{"to the router's gateway address", "vm2", trace.Packet{Dst: a("192.168.2.1"), Proto: "icmp"}},
	} {
		var r trace.Result
		if c.from == "" {
			r = w.FromExternal(c.p)
		} else {
			var err error
			if r, err = w.FromPort(c.from, c.p); err != nil {
				t.Fatal(err)
			}
		}
		b.WriteString("# " + c.name + "\n" + r.String() + "\n")
	}
	golden(t, "dvr-trace.golden", b.String())
}
