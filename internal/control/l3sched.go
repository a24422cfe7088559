package control

import (
	"maps"
	"slices"

	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// AgentMode is the L3 agent's agent_mode (legacy when unset).
func AgentMode(ag *model.Agent) string {
	if m, ok := ag.Configurations["agent_mode"].(string); ok && m != "" {
		return m
	}
	return model.ModeLegacy
}

// L3Suitable reports whether an agent could host the router at all,
// whatever its state: an L3 agent in legacy mode (centralized routers) or
// dvr_snat mode (any router), which handles internal-only routers unless
// it says otherwise.
func (c *Control) L3Suitable(ag *model.Agent, r *model.Router) bool {
	if ag.AgentType != model.AgentTypeL3 {
		return false
	}
	if r.ExternalGatewayInfo == nil {
		if h, ok := ag.Configurations["handle_internal_only_routers"].(bool); ok && !h {
			return false
		}
	}
	switch AgentMode(ag) {
	case model.ModeLegacy:
		return !r.Distributed
	case model.ModeDVRSNAT:
		return true
	}
	return false
}

// l3Candidate reports whether an agent may be given the router now: a
// suitable, live, enabled L3 agent.
func (c *Control) l3Candidate(v *store.View, ag *model.Agent, r *model.Router) bool {
	return ag.AdminStateUp && c.L3Suitable(ag, r) && InZones(ag, r.AvailabilityZoneHints) && c.Alive(v, ag.ID)
}

// InZones reports whether an agent may take a resource with these
// availability_zone_hints: any agent when there are none, else only one
// reporting one of the hinted zones (upstream's AZ-aware schedulers; a
// resource whose zones have no usable agent stays unscheduled).
func InZones(ag *model.Agent, hints []string) bool {
	if len(hints) == 0 {
		return true
	}
	return ag.AvailabilityZone != nil && slices.Contains(hints, *ag.AvailabilityZone)
}

// PlaceRouter keeps the router where it is, or binds it to the suitable
// agent hosting the fewest routers (upstream's LeastRoutersScheduler); with
// no suitable agent the router stays unscheduled until one appears.
// PlaceRouter plans the router's L3 binding and returns the host of the
// agent it ends up on ("" if unscheduled). The router stays on agents
// that still suit it; from a dead or disabled agent it moves only with
// allow_automatic_l3agent_failover. An empty binding marks a router an
// admin removed from its agent: with keepUnscheduled it stays so. An
// unchanged binding is not guarded here: callers that write on the
// strength of it guard it (API callers replace the router, which the
// controller's writes require).
func (c *Control) PlaceRouter(v *store.View, t *store.Txn, r *model.Router, keepUnscheduled bool) string {
	be, b, bound := store.GetAs[*model.Binding](v, model.KindL3Binding, r.ID)
	if r.HA {
		return c.placeHA(v, t, r, be, b, keepUnscheduled)
	}
	var cur []string
	if bound {
		cur = b.AgentIDs
		if len(cur) == 0 && keepUnscheduled {
			return ""
		}
	}
	var keep, stranded []string
	for _, id := range cur {
		_, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, id)
		if !ok || !c.L3Suitable(ag, r) {
			continue
		}
		if !c.cfg.AutoL3Failover || ag.AdminStateUp && c.Alive(v, id) {
			keep = append(keep, id)
		} else {
			stranded = append(stranded, id)
		}
	}
	if len(keep) > 1 {
		// Once HA: the router stays with the agent that was active.
		if slices.Contains(keep, b.ActiveAgentID) {
			keep = []string{b.ActiveAgentID}
		}
		keep = keep[:1]
	}
	if len(keep) == 0 {
		if best := c.leastLoadedL3Agent(v, r, nil); best != "" {
			keep = []string{best}
		} else if len(stranded) > 0 {
			// Nowhere to move it: the router stays with its dead or
			// disabled agent rather than being unscheduled. An agent
			// that is only restarting (or slow to report) then finds
			// its routers still bound and changes nothing, instead of
			// deleting every namespace and rebuilding them once they
			// are scheduled back.
			keep = stranded[:1]
		}
	}
	switch {
	case len(keep) == 0 && bound:
		t.Delete(model.KindL3Binding, be)
	case len(keep) == 0:
	case !bound:
		t.Create(model.KindL3Binding, r.ID, model.MustJSON(&model.Binding{ID: r.ID, AgentIDs: keep}))
	case !slices.Equal(keep, cur) || b.ActiveAgentID != "":
		t.Replace(model.KindL3Binding, be, model.MustJSON(&model.Binding{ID: r.ID, AgentIDs: keep}))
	}
	if len(keep) == 0 {
		return ""
	}
	if _, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, keep[0]); ok {
		return ag.Host
	}
	return ""
}

func (c *Control) leastLoadedL3Agent(v *store.View, r *model.Router, exclude []string) string {
	best, bestLoad := "", 0
	// L3 agents of the modes that may host a router only (L3Suitable):
	// not every compute host's dvr agent. With 5,000 dvr hosts and a
	// router no agent can take (no dvr_snat agent yet), walking them all
	// at every full pass was a third of its cost.
	for _, mode := range []string{model.ModeLegacy, model.ModeDVRSNAT} {
		for _, e := range v.Index(model.KindAgent, hostview.ByL3Mode, mode) {
			ag, ok := store.As[*model.Agent](e)
			if !ok || slices.Contains(exclude, ag.ID) || !c.l3Candidate(v, ag, r) {
				continue
			}
			n := len(v.Index(model.KindL3Binding, hostview.ByAgent, ag.ID))
			if best == "" || n < bestLoad || (n == bestLoad && ag.ID < best) {
				best, bestLoad = ag.ID, n
			}
		}
	}
	return best
}

// RouterPortOwner reports whether ports of the owner live on the
// router's L3 agent host.
func RouterPortOwner(owner string) bool { return slices.Contains(routerPortOwners, owner) }

// routerPortOwners are the router ports that live on the router's L3
// agent host (a distributed router's interfaces live on every host).
var routerPortOwners = []string{model.OwnerRouterInterface, model.OwnerRouterGateway, model.OwnerRouterSNAT, model.OwnerHARouterInterface}

// BindRouterPorts binds the router's centralized ports to host (or
// unbinds them for ""). The ports must not be changed elsewhere in t.
func (c *Control) BindRouterPorts(v *store.View, t *store.Txn, r *model.Router, host string) {
	for _, pe := range v.Index(model.KindPort, hostview.ByDevice, r.ID) {
		p, ok := store.As[*model.Port](pe)
		if !ok || !slices.Contains(routerPortOwners, p.DeviceOwner) || p.HostID == host {
			continue
		}
		cp := *p
		cp.HostID = host
		BindPort(&cp)
		c.bump(&cp.Standard)
		t.Replace(model.KindPort, pe, model.MustJSON(&cp))
	}
}

// BindPort sets the binding result: ports bound to a host are plugged by
// that host's agent into a Linux bridge.
func BindPort(p *model.Port) {
	if p.HostID == "" {
		p.VIFType, p.VIFDetails = "unbound", map[string]any{}
		return
	}
	p.VIFType = "bridge"
	p.VIFDetails = map[string]any{"port_filter": true, "connectivity": "l2"}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// AgentCounts counts the agents (rows of GET /v2.0/agents) that are
// alive and dead now.
func (c *Control) AgentCounts() (alive, dead int) {
	c.st.View(func(v *store.View) {
		v.Each(model.KindAgent, func(e *store.Entry) bool {
			if c.Alive(v, e.ID) {
				alive++
			} else {
				dead++
			}
			return true
		})
	})
	return alive, dead
}
