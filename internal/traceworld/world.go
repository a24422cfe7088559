// Package traceworld builds what neutrino trace walks: each host's
// planned data plane, computed by the agents' own planner
// (internal/agent/plan) from the host's view as the agents' sync stream
// sends it and the configuration the host's agents report, plus the
// instance ports and the external network's gateway from the API.
package traceworld

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/neutrino-net/neutrino/internal/trace"
)

// Inputs are the server's answers the world is built from.
type Inputs struct {
	Agents  []model.Agent
	Views   map[string]*syncproto.Event // host -> the first (reset) event of its stream
	Ports   []model.Port
	Subnets []model.Subnet
	// Networks' external flags decide which subnet's gateway is the
	// upstream router.
	Networks []model.Network
}

// Hosts are the hosts with an L2 agent, sorted.
func Hosts(agents []model.Agent) []string {
	var hs []string
	for _, a := range agents {
		if a.AgentType == model.AgentTypeL2 && !slices.Contains(hs, a.Host) {
			hs = append(hs, a.Host)
		}
	}
	slices.Sort(hs)
	return hs
}

// HostConfig is the planner configuration of host as its agents report
// it. Namespace names get the suffix "@host"; DVR's link-local pairs,
// which each agent allocates and keeps locally, come from a stand-in
// allocator (the walk does not depend on them).
func HostConfig(host string, agents []model.Agent) plan.HostConfig {
	c := plan.HostConfig{Host: host, Mode: model.ModeLegacy, NS: names.Namespaces{Suffix: "@" + host}, LinkLocal: linkLocal()}
	for _, a := range agents {
		if a.Host != host {
			continue
		}
		cf := a.Configurations
		switch a.AgentType {
		case model.AgentTypeL2:
			c.LocalIP, _ = netip.ParseAddr(str(cf["tunneling_ip"]))
			c.PhysicalInterfaces, c.Bridges = strMap(cf["interface_mappings"]), strMap(cf["bridge_mappings"])
			c.ARPResponder, c.L2Population, c.SecurityGroups = cf["arp_responder_enabled"] == true, cf["l2_population"] == true, cf["enable_security_group"] == true
		case model.AgentTypeL3:
			if m := str(cf["agent_mode"]); m != "" {
				c.Mode = m
			}
		case model.AgentTypeDHCP:
			c.IsolatedMetadata, c.DNSDomain = cf["enable_isolated_metadata"] == true, str(cf["dns_domain"])
		}
	}
	return c
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		out[k] = str(x)
	}
	return out
}

func linkLocal() func(string) (netip.Prefix, error) {
	got := map[string]netip.Prefix{}
	next := netip.MustParseAddr("169.254.64.0")
	return func(id string) (netip.Prefix, error) {
		if p, ok := got[id]; ok {
			return p, nil
		}
		p := netip.PrefixFrom(next, 31)
		got[id] = p
		next = next.Next().Next()
		return p, nil
	}
}

// Build plans every host and gathers the instance ports.
func Build(in Inputs) (*trace.World, error) {
	w := &trace.World{Hosts: map[string]*desired.Host{}}
	for _, host := range Hosts(in.Agents) {
		ev := in.Views[host]
		if ev == nil {
			return nil, fmt.Errorf("no view of host %s", host)
		}
		m := hostmodel.New()
		m.Apply(ev)
		d, _ := plan.Plan(m.Snapshot(host), HostConfig(host, in.Agents))
		w.Hosts[host] = &d
	}
	subnets := map[string]model.Subnet{}
	for _, s := range in.Subnets {
		subnets[s.ID] = s
	}
	for _, n := range in.Networks {
		for _, sid := range n.Subnets {
			if s, ok := subnets[sid]; ok && n.External && s.GatewayIP != nil && !w.ExternalGateway.IsValid() {
				w.ExternalGateway, _ = netip.ParseAddr(*s.GatewayIP)
			}
		}
	}
	for _, p := range in.Ports {
		if !strings.HasPrefix(p.DeviceOwner, "compute:") || len(p.FixedIPs) == 0 || w.Hosts[p.HostID] == nil {
			continue
		}
		tp := trace.Port{ID: p.ID, Name: p.Name, Host: p.HostID, MAC: p.MACAddress}
		for _, bp := range w.Hosts[p.HostID].BridgePorts {
			if bp.PortID == p.ID {
				tp.Dev = bp.Name
			}
		}
		for _, ip := range p.FixedIPs {
			a, err := netip.ParseAddr(ip.IPAddress)
			s, ok := subnets[ip.SubnetID]
			if err != nil || !ok || !a.Is4() {
				continue
			}
			pfx, err := netip.ParsePrefix(s.CIDR)
			if err != nil {
				continue
			}
			tp.Addr = netip.PrefixFrom(a, pfx.Bits())
			if s.GatewayIP != nil {
				tp.Gateway, _ = netip.ParseAddr(*s.GatewayIP)
			}
			break
		}
		if tp.Addr.IsValid() {
			w.Ports = append(w.Ports, tp)
		}
	}
	return w, nil
}

// Run walks from a port (by id, name or fixed address) or, when
// --from is an address no port has, from outside.
func Run(w *trace.World, from string, p trace.Packet) (trace.Result, *trace.Port, error) {
	for i := range w.Ports {
		pt := &w.Ports[i]
		if pt.ID == from || pt.Name == from || pt.Addr.Addr().String() == from {
			r, err := w.FromPort(pt.ID, p)
			return r, pt, err
		}
	}
	src, err := netip.ParseAddr(from)
	if err != nil {
		return trace.Result{}, nil, fmt.Errorf("--from %q: no instance port has that id, name or address", from)
	}
	if !p.Src.IsValid() {
		p.Src = src
	}
	return w.FromExternal(p), nil, nil
}
