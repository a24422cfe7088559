package plan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/trace"
)

type hostSpec = struct {
	name, mode string
	vtep       netip.Addr
}

// planWorld plans every host (as the agents do: each from its own view
// of the changes, with its configuration) and adds the instance ports:
// what neutrino trace walks.
func planWorld(t *testing.T, cs []change, hosts []hostSpec, view func(string, []change) []change, cfgOf func(hostSpec) HostConfig) *trace.World {
	w := &trace.World{Hosts: map[string]*desired.Host{}, ExternalGateway: netip.MustParseAddr("203.0.113.1")}
	for _, h := range hosts {
		m := replay(t, view(h.name, cs))
		d, _ := Plan(m.Snapshot(h.name), cfgOf(h))
		w.Hosts[h.name] = &d
	}
	w.Ports = tracePorts(w, cs)
	return w
}

func dvrWorld(t *testing.T, cs []change) *trace.World {
	return planWorld(t, cs, dvrHosts, dvrView, func(h hostSpec) HostConfig {
		cfg := hostConfig(h.name, h.mode, h.vtep)
		cfg.PhysicalInterfaces = map[string]string{"external": "eth1"}
		cfg.LinkLocal = fakeLinkLocal()
		return cfg
	})
}

// legacyWorld is the legacy walkthrough with security groups on, and a
// second instance on APPS_NET on compute1.
func legacyWorld(t *testing.T, cs []change) *trace.World {
	return planWorld(t, cs, walkHosts, func(_ string, cs []change) []change { return cs }, func(h hostSpec) HostConfig {
		cfg := hostConfig(h.name, h.mode, h.vtep)
		cfg.SecurityGroups = true
		return cfg
	})
}

func legacyTraceChanges() []change {
	cs := withSecGroups()
	port(func(kind, id string, obj any) { cs = append(cs, change{kind, id, obj}) },
		"vm-apps2", "apps-net", "apps-sub", "10.241.0.4", "compute:nova", "APPS_INSTANCE2", "compute1", "fa:16:3e:00:01:04")
	p := cs[len(cs)-1].obj.(*model.Port)
	p.PortSecurityEnabled, p.SecurityGroups = true, []string{"sg-default"}
	return cs
}

// withoutGateway removes router1's gateway (and so its floating IP).
func withoutGateway(cs []change) []change {
	var out []change
	for _, c := range cs {
		if c.id == "qg-router1" || c.id == "fip1" {
			continue
		}
		if r, ok := c.obj.(*model.Router); ok {
			r2 := *r
			r2.GatewayPortID, r2.ExternalGatewayInfo = "", nil
			c.obj = &r2
		}
		out = append(out, c)
	}
	return out
}

type traceCase struct {
	name, from string
	p          trace.Packet
}

func runTraces(t *testing.T, w *trace.World, cases []traceCase) string {
	var b strings.Builder
	for _, c := range cases {
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
	return b.String()
}

// TestLegacyWalkthroughTrace walks the legacy walkthrough's flows, with
// security groups (the default group: all egress, ingress from the group)
// and compares the whole rendered walks with a golden file.
func TestLegacyWalkthroughTrace(t *testing.T) {
	cs := legacyTraceChanges()
	a := netip.MustParseAddr
	got := runTraces(t, legacyWorld(t, cs), []traceCase{
		{"east-west on one host (vm-apps -> vm-apps2, compute1)", "vm-apps", trace.Packet{Dst: a("10.241.0.4"), Proto: "tcp", Port: 22}},
		{"east-west across hosts through the router (vm-apps compute1 -> vm-dmz compute2)", "vm-apps", trace.Packet{Dst: a("10.242.0.3"), Proto: "icmp"}},
		{"floating IP out (vm-apps -> internet)", "vm-apps", trace.Packet{Dst: a("198.51.100.10"), Proto: "icmp"}},
		{"SNAT (vm-dmz -> internet)", "vm-dmz", trace.Packet{Dst: a("198.51.100.10"), Proto: "udp", Port: 53}},
		{"floating IP in, dropped by the security group (internet -> 203.0.113.102)", "", trace.Packet{Src: a("198.51.100.10"), Dst: a("203.0.113.102"), Proto: "tcp", Port: 22}},
		{"spoofed source (vm-apps claims 10.241.0.99)", "vm-apps", trace.Packet{Src: a("10.241.0.99"), Dst: a("10.242.0.3"), Proto: "icmp"}},
	})
	got += runTraces(t, legacyWorld(t, withoutGateway(cs)), []traceCase{
		{"no route (router1 without a gateway; vm-dmz -> internet)", "vm-dmz", trace.Packet{Dst: a("198.51.100.10"), Proto: "icmp"}},
	})
	golden(t, "legacy-trace.golden", got)
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

// TestDVRWalkthroughTrace walks the DVR walkthrough's flows through the
// hosts' plans and compares the whole rendered walks with a golden file.
func TestDVRWalkthroughTrace(t *testing.T) {
	a := netip.MustParseAddr
	golden(t, "dvr-trace.golden", runTraces(t, dvrWorld(t, dvrWalkthrough()), []traceCase{
		{"east-west across hosts (vm1 compute1 -> vm2 compute2)", "vm1", trace.Packet{Dst: a("192.168.2.10"), Proto: "icmp"}},
		{"floating IP out (vm1 -> internet)", "vm1", trace.Packet{Dst: a("198.51.100.10"), Proto: "icmp"}},
		{"SNAT (vm2 -> internet)", "vm2", trace.Packet{Dst: a("198.51.100.10"), Proto: "tcp", Port: 80}},
		{"floating IP in (internet -> 203.0.113.102)", "", trace.Packet{Src: a("198.51.100.10"), Dst: a("203.0.113.102"), Proto: "icmp"}},
		{"to the router's gateway address", "vm2", trace.Packet{Dst: a("192.168.2.1"), Proto: "icmp"}},
	}))
}

// TestVLANGREWalkthroughTrace walks the legacy walkthrough's flows with
// its networks as the walkthrough's text has them (EXT_NET on VLAN 1998,
// APPS and DMZ on GRE keys 10 and 20): across hosts the frames go by the
// GRE taps and the VLAN sub-interface instead of VXLAN devices and eth1.
func TestVLANGREWalkthroughTrace(t *testing.T) {
	cs := vlanGREWalkthrough(legacyTraceChanges())
	a := netip.MustParseAddr
	golden(t, "vlangre-trace.golden", runTraces(t, legacyWorld(t, cs), []traceCase{
		{"east-west on one host (vm-apps -> vm-apps2, compute1)", "vm-apps", trace.Packet{Dst: a("10.241.0.4"), Proto: "tcp", Port: 22}},
		{"east-west across hosts through the router over GRE (vm-apps compute1 -> vm-dmz compute2)", "vm-apps", trace.Packet{Dst: a("10.242.0.3"), Proto: "icmp"}},
		{"floating IP out over VLAN 1998 (vm-apps -> internet)", "vm-apps", trace.Packet{Dst: a("198.51.100.10"), Proto: "icmp"}},
		{"SNAT (vm-dmz -> internet)", "vm-dmz", trace.Packet{Dst: a("198.51.100.10"), Proto: "udp", Port: 53}},
		{"floating IP in over VLAN 1998, dropped by the security group (internet -> 203.0.113.102)", "", trace.Packet{Src: a("198.51.100.10"), Dst: a("203.0.113.102"), Proto: "tcp", Port: 22}},
	}))
}
