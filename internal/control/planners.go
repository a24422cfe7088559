package control

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// The bookkeeping planners. Each one owns one item (a router, a network,
// a host and external network, a host's DVR MAC): it computes from the
// view what should exist for the item and plans the difference into t,
// guarded so that it commits only against what it read. Planned against
// a view where everything is in place, a planner writes nothing: that is
// how the controller finds the items that need work.

// planner is one item's bookkeeping.
type planner func(v *store.View, t *store.Txn) error

// --- a, b: router scheduling and the host of router ports ----------------

func (c *Control) routerPlanner(rid string) planner {
	return func(v *store.View, t *store.Txn) error {
		re, r, ok := store.GetAs[*model.Router](v, model.KindRouter, rid)
		if !ok {
			if be, bound := v.Get(model.KindL3Binding, rid); bound {
				t.Delete(model.KindL3Binding, be)
			}
			return c.planHAPorts(v, t, &model.Router{Standard: model.Standard{ID: rid}})
		}
		host := c.PlaceRouter(v, t, r, true)
		c.BindRouterPorts(v, t, r, host)
		if !t.Empty() {
			// HA ports follow the binding: the next pass, once it is
			// written.
		} else if err := c.planHAPorts(v, t, r); err != nil {
			return err
		}
		if !t.Empty() {
			// Guards only when writing: dry runs of settled items stay
			// cheap.
			t.Require(model.KindRouter, re)
			if be, ok := v.Get(model.KindL3Binding, rid); ok {
				t.Require(model.KindL3Binding, be)
			} else {
				t.RequireAbsent(model.KindL3Binding, rid)
			}
		}
		return nil
	}
}

// --- c: DHCP --------------------------------------------------------------

// dhcpDeviceID is upstream's DHCP port device_id: "dhcp", the uuid5 of
// the agent's host in the DNS namespace, "-", the network id.
func (c *Control) dhcpDeviceID(host, netID string) string {
	h, ok := c.hostUUIDs.Load(host)
	if !ok {
		h, _ = c.hostUUIDs.LoadOrStore(host, uuid.NewSHA1(uuid.NameSpaceDNS, []byte(host)).String())
	}
	return "dhcp" + h.(string) + "-" + netID
}

func (c *Control) dhcpUsable(v *store.View, ag *model.Agent) bool {
	return ag.AgentType == model.AgentTypeDHCP && ag.AdminStateUp && c.Alive(v, ag.ID)
}

// dhcpSubnets are the network's subnets with DHCP enabled, in order.
func dhcpSubnets(v *store.View, n *model.Network) []*model.Subnet {
	var out []*model.Subnet
	for _, s := range hostview.SubnetsOf(v, n) {
		if s.EnableDHCP {
			out = append(out, s)
		}
	}
	return out
}

// dhcpAgentsFor returns the agents that should serve the network: those
// already bound that are Alive and enabled, topped up to
// dhcp_agents_per_network with the usable agents (in the network's
// hinted zones, if any) serving the fewest networks.
func (c *Control) dhcpAgentsFor(v *store.View, n *model.Network, cur []string) []string {
	var want []string
	for _, id := range cur {
		if _, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, id); ok && c.dhcpUsable(v, ag) {
			want = append(want, id)
		}
	}
	for len(want) < c.cfg.DHCPAgentsPerNetwork {
		best, bestLoad := "", 0
		// The DHCP agents only (an index, not every agent of every
		// host: with 5,000 hosts each network's dry run walked 10,000).
		for _, e := range v.Index(model.KindAgent, hostview.ByType, model.AgentTypeDHCP) {
			ag, ok := store.As[*model.Agent](e)
			if !ok || slices.Contains(want, ag.ID) || !c.dhcpUsable(v, ag) || !InZones(ag, n.AvailabilityZoneHints) {
				continue
			}
			n := len(v.Index(model.KindDHCPBinding, hostview.ByAgent, ag.ID))
			if best == "" || n < bestLoad || n == bestLoad && ag.ID < best {
				best, bestLoad = ag.ID, n
			}
		}
		if best == "" {
			break
		}
		want = append(want, best)
	}
	return want
}

func (c *Control) dhcpPlanner(netID string) planner {
	return func(v *store.View, t *store.Txn) error {
		ne, n, exists := store.GetAs[*model.Network](v, model.KindNetwork, netID)
		var subnets []*model.Subnet
		if exists {
			subnets = dhcpSubnets(v, n)
		}
		be, b, bound := store.GetAs[*model.Binding](v, model.KindDHCPBinding, netID)
		group := claims.DHCPPort(netID)
		held := v.Claims(group)
		if len(subnets) == 0 && !bound && len(held) == 0 {
			return nil
		}
		var cur, want []string
		if bound {
			cur = b.AgentIDs
		}
		if len(subnets) > 0 {
			want = c.dhcpAgentsFor(v, n, cur)
		}
		switch {
		case slices.Equal(cur, want):
		case len(want) == 0 && bound:
			t.Delete(model.KindDHCPBinding, be)
		case len(want) == 0:
		case bound:
			t.Replace(model.KindDHCPBinding, be, model.MustJSON(&model.Binding{ID: netID, AgentIDs: want}))
		default:
			t.Create(model.KindDHCPBinding, netID, model.MustJSON(&model.Binding{ID: netID, AgentIDs: want}))
		}
		c.dropUnwantedAgentPorts(v, t, group, want, nil)
		for _, agentID := range want {
			_, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, agentID)
			if !ok {
				continue // dhcpAgentsFor only wants agents that exist
			}
			if portID, ok := held[agentID]; ok {
				if pe, ok := v.Get(model.KindPort, portID); ok {
					if err := c.updateDHCPPort(v, t, n, subnets, ag, pe); err != nil {
						return err
					}
				}
				continue
			}
			if err := c.createDHCPPort(v, t, n, subnets, ag); err != nil {
				return err
			}
		}
		if !t.Empty() {
			if exists {
				t.Require(model.KindNetwork, ne)
			}
			if bound {
				t.Require(model.KindDHCPBinding, be)
			} else {
				t.RequireAbsent(model.KindDHCPBinding, netID)
			}
		}
		return nil
	}
}

func (c *Control) createDHCPPort(v *store.View, t *store.Txn, n *model.Network, subnets []*model.Subnet, ag *model.Agent) error {
	p, err := c.ports.NewServicePort(v, t, n, n.ProjectID, model.OwnerDHCP, c.dhcpDeviceID(ag.Host, n.ID))
	if err != nil {
		return err
	}
	p.HostID = ag.Host
	BindPort(p)
	var req []IPReq
	for _, s := range subnets {
		req = append(req, IPReq{SubnetID: s.ID})
	}
	ips, err := c.ports.AllocateIPs(v, t, n, p, req, nil)
	if err != nil {
		return err
	}
	p.FixedIPs = ips
	t.Claim(claims.DHCPPort(n.ID), ag.ID, p.ID)
	t.Create(model.KindPort, p.ID, model.MustJSON(p))
	return nil
}

// updateDHCPPort keeps a DHCP port on its agent's host with one address
// on each DHCP-enabled subnet (and none on others).
func (c *Control) updateDHCPPort(v *store.View, t *store.Txn, n *model.Network, subnets []*model.Subnet, ag *model.Agent, pe *store.Entry) error {
	cur, ok := store.As[*model.Port](pe)
	if !ok {
		return fmt.Errorf("port %s: %w", pe.ID, ErrBadEntry)
	}
	p := *cur
	changed := false
	if dev := c.dhcpDeviceID(ag.Host, n.ID); p.HostID != ag.Host || p.DeviceID != dev {
		p.HostID, p.DeviceID = ag.Host, dev
		BindPort(&p)
		changed = true
	}
	var keep []model.FixedIP
	var req []IPReq
	for _, ip := range p.FixedIPs {
		if slices.ContainsFunc(subnets, func(s *model.Subnet) bool { return s.ID == ip.SubnetID }) {
			keep = append(keep, ip)
			req = append(req, IPReq{SubnetID: ip.SubnetID, IPAddress: ip.IPAddress})
		}
	}
	missing := false
	for _, s := range subnets {
		if !slices.ContainsFunc(keep, func(ip model.FixedIP) bool { return ip.SubnetID == s.ID }) {
			req = append(req, IPReq{SubnetID: s.ID})
			missing = true
		}
	}
	if missing || len(keep) != len(p.FixedIPs) {
		ips, err := c.ports.AllocateIPs(v, t, n, &p, req, keep)
		if err != nil {
			return err
		}
		for _, old := range p.FixedIPs {
			if !slices.Contains(ips, old) {
				t.Release(claims.IP(old.SubnetID), old.IPAddress)
			}
		}
		p.FixedIPs = ips
		changed = true
	}
	if changed {
		c.bump(&p.Standard)
		t.Replace(model.KindPort, pe, model.MustJSON(&p))
	}
	return nil
}

// --- d: DVR floating IP agent gateway ports --------------------------------

// fgWanted returns the external networks that need a floating IP agent
// gateway port on host, and the host's L3 agent: the host runs an L3
// agent in dvr or dvr_snat mode and serves a distributed router with a
// gateway on the network.
func fgWanted(v *store.View, host string) (map[string]bool, *model.Agent) {
	mode, l3 := hostview.L3Mode(v, host)
	if l3 == nil || mode != model.ModeDVR && mode != model.ModeDVRSNAT {
		return nil, nil
	}
	nets := map[string]bool{}
	for _, rid := range hostview.RoutersOfHost(v, host) {
		_, r, ok := store.GetAs[*model.Router](v, model.KindRouter, rid)
		if !ok || !r.Distributed || r.ExternalGatewayInfo == nil {
			continue
		}
		if ne, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, r.ExternalGatewayInfo.NetworkID); ok && n.External {
			nets[ne.ID] = true
		}
	}
	return nets, l3
}

func (c *Control) fgPlanner(host, netID string) planner {
	return func(v *store.View, t *store.Txn) error {
		member := claims.FGMember(host, netID)
		nets, l3 := fgWanted(v, host)
		owner, has := v.Claim(claims.FGPort, member)
		var pe *store.Entry
		if has {
			pe, _ = v.Get(model.KindPort, owner)
		}
		if !nets[netID] {
			if has {
				if pe != nil {
					c.ports.DeletePort(t, pe)
				} else {
					t.NoNewClaims(claims.FGPort)
				}
				t.Release(claims.FGPort, member)
			}
			return nil
		}
		if has && pe == nil {
			// Deleted with its subnet: release now, re-create next pass.
			t.NoNewClaims(claims.FGPort)
			t.Release(claims.FGPort, member)
			return nil
		}
		if pe != nil {
			if p, ok := store.As[*model.Port](pe); ok && (p.DeviceID != l3.ID || p.HostID != host) {
				cp := *p
				cp.DeviceID, cp.HostID = l3.ID, host
				BindPort(&cp)
				c.bump(&cp.Standard)
				t.Replace(model.KindPort, pe, model.MustJSON(&cp))
			}
			return nil
		}
		ne, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, netID)
		if !ok {
			return nil // gone: fgWanted no longer wants it next pass
		}
		p, err := c.ports.NewServicePort(v, t, n, "", model.OwnerFIPAgentGateway, l3.ID)
		if err != nil {
			return err
		}
		p.HostID = host
		BindPort(p)
		for _, s := range hostview.SubnetsOf(v, n) {
			if s.IPVersion != 4 || !s.AllowsOwner(model.OwnerFIPAgentGateway) {
				continue
			}
			if ips, err := c.ports.AllocateIPs(v, t, n, p, []IPReq{{SubnetID: s.ID}}, nil); err == nil {
				p.FixedIPs = ips
				break
			}
		}
		if len(p.FixedIPs) == 0 {
			return newError(409, "ExternalIpAddressExhausted", "Unable to find any IP address on external network %s.", netID)
		}
		t.Require(model.KindNetwork, ne)
		t.Claim(claims.FGPort, member, p.ID)
		t.Create(model.KindPort, p.ID, model.MustJSON(p))
		return nil
	}
}

// --- e: DVR MACs of hosts without agents ------------------------------------

func (c *Control) dvrMACPlanner(host string) planner {
	return func(v *store.View, t *store.Txn) error {
		me, ok := v.Get(model.KindDVRMAC, host)
		if !ok || len(v.Index(model.KindAgent, hostview.ByHost, host)) > 0 {
			return nil
		}
		// An agent registering on the host meanwhile takes an "agent"
		// claim: do not delete the MAC from under it.
		t.NoNewClaims(claims.Agent)
		if m, ok := store.As[*model.DVRMAC](me); ok {
			t.Release(claims.DVRMAC, m.MACAddress)
		}
		t.Delete(model.KindDVRMAC, me)
		return nil
	}
}
