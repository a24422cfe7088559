package control

import (
	"net/http"
	"slices"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Manual scheduling (l3-dataplane.md §5.3, upstream's l3_agent_scheduler
// and dhcp_agent_scheduler extensions): an admin binds a router or a
// network to an agent, or removes it. The caller has looked up (and may
// see) the agent and the router or network; the errors are upstream's.

// IsDVRComputeMode reports whether an L3 agent mode serves distributed
// routers on a compute host only (dvr, dvr_no_external).
func IsDVRComputeMode(mode string) bool {
	return mode == model.ModeDVR || mode == model.ModeDVRNoExternal
}

func invalidL3Agent(id string) *Error {
	return newError(http.StatusNotFound, "InvalidL3Agent", "Agent %s is not a L3 Agent or has been disabled", id)
}

// AssignRouter plans binding the router (entry re) to the L3 agent.
func (c *Control) AssignRouter(v *store.View, t *store.Txn, ag *model.Agent, re *store.Entry, rr *model.Router) error {
	if ag.AgentType != model.AgentTypeL3 {
		return invalidL3Agent(ag.ID)
	}
	mode := AgentMode(ag)
	kind := "centralized"
	if rr.Distributed {
		kind = "distributed"
	}
	if IsDVRComputeMode(mode) && !rr.Distributed || mode == model.ModeLegacy && rr.Distributed {
		return newError(http.StatusConflict, "RouterL3AgentMismatch", "Cannot host %s router %s on %s L3 agent %s.", kind, rr.ID, mode, ag.ID)
	}
	if IsDVRComputeMode(mode) {
		return newError(http.StatusConflict, "DVRL3CannotAssignToDvrAgent", "Not allowed to manually assign a router to an agent in 'dvr' mode.")
	}
	if !ag.AdminStateUp || !c.L3Suitable(ag, rr) {
		return invalidL3Agent(ag.ID)
	}
	be, bnd, bound := store.GetAs[*model.Binding](v, model.KindL3Binding, rr.ID)
	var cur []string
	if bound {
		cur = bnd.AgentIDs
	}
	if slices.Contains(cur, ag.ID) {
		return nil
	}
	if len(cur) > 0 {
		return newError(http.StatusConflict, "RouterHostedByL3Agent", "The router %s has been already hosted by the L3 Agent %s.", rr.ID, cur[0])
	}
	b := model.MustJSON(&model.Binding{ID: rr.ID, AgentIDs: []string{ag.ID}})
	if bound {
		t.Replace(model.KindL3Binding, be, b)
	} else {
		t.Create(model.KindL3Binding, rr.ID, b)
	}
	t.Require(model.KindRouter, re)
	c.BindRouterPorts(v, t, rr, ag.Host)
	return nil
}

// UnassignRouter plans removing the router (entry re) from the agent.
// The router stays unscheduled (the controller leaves it alone) until it
// is updated or assigned again.
func (c *Control) UnassignRouter(v *store.View, t *store.Txn, ag *model.Agent, re *store.Entry, rr *model.Router) error {
	if ag.AgentType == model.AgentTypeL3 && IsDVRComputeMode(AgentMode(ag)) {
		return newError(http.StatusConflict, "DVRL3CannotRemoveFromDvrAgent", "Not allowed to manually remove a router from an agent in 'dvr' mode.")
	}
	be, cur, bound := store.GetAs[*model.Binding](v, model.KindL3Binding, re.ID)
	if !bound || !slices.Contains(cur.AgentIDs, ag.ID) {
		return newError(http.StatusConflict, "RouterNotHostedByL3Agent", "The router %s is not hosted by L3 agent %s.", re.ID, ag.ID)
	}
	b := *cur
	b.AgentIDs = slices.DeleteFunc(slices.Clone(b.AgentIDs), func(x string) bool { return x == ag.ID })
	host := ""
	if b.ActiveAgentID == ag.ID && len(b.AgentIDs) > 0 {
		// An HA router's active agent: the others wait until it has
		// dropped the addresses (demote.go); the ports stay meanwhile.
		c.demote(v, &b, ag)
		host = ag.Host
	}
	// An empty binding marks the router as deliberately unscheduled.
	t.Replace(model.KindL3Binding, be, model.MustJSON(&b))
	if len(b.AgentIDs) > 0 && host == "" {
		if _, other, ok := store.GetAs[*model.Agent](v, model.KindAgent, b.AgentIDs[0]); ok {
			host = other.Host
		}
	}
	t.Require(model.KindRouter, re)
	c.BindRouterPorts(v, t, rr, host)
	return nil
}

// AssignNetwork plans adding the DHCP agent to the network's agents.
func (c *Control) AssignNetwork(v *store.View, t *store.Txn, ag *model.Agent, netID string) error {
	if ag.AgentType != model.AgentTypeDHCP || !ag.AdminStateUp {
		return newError(http.StatusNotFound, "InvalidDHCPAgent", "Agent %s is not a valid DHCP Agent or has been disabled", ag.ID)
	}
	be, bnd, bound := store.GetAs[*model.Binding](v, model.KindDHCPBinding, netID)
	var cur []string
	if bound {
		cur = bnd.AgentIDs
	}
	if slices.Contains(cur, ag.ID) {
		return newError(http.StatusConflict, "NetworkHostedByDHCPAgent", "The network %s has been already hosted by the DHCP Agent %s.", netID, ag.ID)
	}
	b := model.MustJSON(&model.Binding{ID: netID, AgentIDs: append(slices.Clone(cur), ag.ID)})
	if bound {
		t.Replace(model.KindDHCPBinding, be, b)
	} else {
		t.Create(model.KindDHCPBinding, netID, b)
	}
	return nil
}

// UnassignNetwork plans removing the DHCP agent (and its port) from the
// network.
func (c *Control) UnassignNetwork(v *store.View, t *store.Txn, ag *model.Agent, netID string) error {
	be, cur, bound := store.GetAs[*model.Binding](v, model.KindDHCPBinding, netID)
	if !bound || !slices.Contains(cur.AgentIDs, ag.ID) {
		return newError(http.StatusConflict, "NetworkNotHostedByDhcpAgent", "The network %s is not hosted by the DHCP agent %s.", netID, ag.ID)
	}
	b := *cur
	b.AgentIDs = slices.DeleteFunc(slices.Clone(b.AgentIDs), func(x string) bool { return x == ag.ID })
	if len(b.AgentIDs) == 0 {
		t.Delete(model.KindDHCPBinding, be)
	} else {
		t.Replace(model.KindDHCPBinding, be, model.MustJSON(&b))
	}
	c.RemoveDHCPPort(v, t, netID, ag.ID)
	return nil
}
