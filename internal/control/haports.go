package control

import (
	"fmt"
	"slices"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// haPortName is upstream's name of HA ports (neutron-lib constants).
const haPortName = "HA port tenant %s"

// planHAPorts keeps one HA port (network:router_ha_interface, on the
// project's hidden HA network, device_id the router) per agent an HA
// router is bound to, bound to that agent's host, as upstream's
// l3_hamode_db shows them (docs/ha.md); ports of agents that left the
// binding, or of a router no longer HA, go. Each (router, agent) is a
// claim, so two servers never make two ports for one.
func (c *Control) planHAPorts(v *store.View, t *store.Txn, r *model.Router) error {
	group := claims.HAPort(r.ID)
	held := v.Claims(group)
	var want []string
	if r != nil && r.HA {
		if _, b, ok := store.GetAs[*model.Binding](v, model.KindL3Binding, r.ID); ok {
			want = b.AgentIDs
		}
	}
	c.dropUnwantedAgentPorts(v, t, group, want, func(pe *store.Entry, agentID string) { c.haPortStatus(v, t, pe, agentID) })
	var n *model.Network
	for _, agentID := range want {
		if _, ok := held[agentID]; ok {
			continue
		}
		_, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, agentID)
		if !ok {
			continue
		}
		if n == nil {
			id, ok := v.Claim(claims.HANetwork, r.ProjectID)
			ne, net, exists := store.GetAs[*model.Network](v, model.KindNetwork, id)
			if !ok || !exists {
				// Routers made before HA networks existed: make it now,
				// the ports next pass.
				_, err := c.ports.EnsureHANetwork(v, t, r.ProjectID)
				return err
			}
			t.Require(model.KindNetwork, ne)
			n = net
		}
		if err := c.createHAPort(v, t, r, n, ag); err != nil {
			return err
		}
	}
	return nil
}

func (c *Control) createHAPort(v *store.View, t *store.Txn, r *model.Router, n *model.Network, ag *model.Agent) error {
	p, err := c.ports.NewServicePort(v, t, n, "", model.OwnerRouterHA, r.ID)
	if err != nil {
		return err
	}
	p.Name = fmt.Sprintf(haPortName, r.ProjectID)
	p.Status = haStatus(c.Alive(v, ag.ID))
	p.HostID = ag.Host
	BindPort(p)
	var req []IPReq
	for _, sid := range n.Subnets {
		req = append(req, IPReq{SubnetID: sid})
	}
	ips, err := c.ports.AllocateIPs(v, t, n, p, req, nil)
	if err != nil {
		return err
	}
	p.FixedIPs = ips
	t.Claim(claims.HAPort(r.ID), ag.ID, p.ID)
	t.Create(model.KindPort, p.ID, model.MustJSON(p))
	return nil
}

// haStatus is an HA port's status: no agent plugs HA ports, so it tells
// whether the copy of the router on the port's agent can serve: ACTIVE
// while the agent is alive, DOWN when it is dead.
func haStatus(alive bool) string {
	if alive {
		return "ACTIVE"
	}
	return "DOWN"
}

func (c *Control) haPortStatus(v *store.View, t *store.Txn, pe *store.Entry, agentID string) {
	if p, ok := store.As[*model.Port](pe); ok {
		cp := *p
		c.setStatus(t, model.KindPort, pe, &cp, &cp.Status, &cp.Standard, haStatus(c.Alive(v, agentID)))
	}
}

// dropUnwantedAgentPorts keeps one port per wanted agent of a claim
// group (claim member = agent id, value = the port's id: DHCP ports of a
// network, HA ports of a router): ports of agents not in want are
// deleted and their claims released; a claim whose port vanished
// (deleted with its subnet or network) is released too, and the port
// comes back on the next pass. kept, if set, sees each port that stays.
func (c *Control) dropUnwantedAgentPorts(v *store.View, t *store.Txn, group string, want []string, kept func(pe *store.Entry, agentID string)) {
	held := v.Claims(group)
	stale := false
	for _, agentID := range sortedKeys(held) {
		pe, ok := v.Get(model.KindPort, held[agentID])
		if ok && slices.Contains(want, agentID) {
			if kept != nil {
				kept(pe, agentID)
			}
			continue
		}
		if ok {
			c.ports.DeletePort(t, pe)
		} else {
			stale = true
		}
		t.Release(group, agentID)
	}
	if stale {
		// Releasing is unguarded: make sure no server re-created the
		// port meanwhile.
		t.NoNewClaims(group)
	}
}
