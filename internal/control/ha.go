package control

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// L3 HA (docs/ha.md). An HA router is bound to up to
// max_l3_agents_per_router suitable agents. All of them build it; the
// binding's ActiveAgentID names the one that holds its addresses. The
// server never moves the active role because a heartbeat is late: a
// standby that can no longer reach the active host claims the router
// (ClaimHA), and the claim is granted only when the active agent has
// also been silent for l3_ha_fence_time.

// placeHA plans an HA router's binding: the agents already bound stay
// while they suit it (dead ones too: they are standbys, or an active
// that its standbys take over from), live candidates are added up to
// max_l3_agents_per_router, and the active agent stays unless it left
// the binding (non-preemptive). It returns the active agent's host.
func (c *Control) placeHA(v *store.View, t *store.Txn, r *model.Router, be *store.Entry, b *model.Binding, keepUnscheduled bool) string {
	var cur []string
	active := ""
	if b != nil {
		cur, active = b.AgentIDs, b.ActiveAgentID
		if len(cur) == 0 && keepUnscheduled {
			return ""
		}
	}
	var keep []string
	for _, id := range cur {
		if _, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, id); ok && ag.AdminStateUp && c.L3Suitable(ag, r) {
			keep = append(keep, id)
		}
	}
	for limit := c.cfg.MaxL3AgentsPerRouter; limit <= 0 || len(keep) < limit; {
		best := c.leastLoadedL3Agent(v, r, keep)
		if best == "" {
			break
		}
		keep = append(keep, best)
	}
	var demoted *model.Demotion
	var demotedAt int64 // the binding's revision holding demoted
	if b != nil && b.Demoted != nil {
		demoted, demotedAt = b.Demoted, be.ModRev
	}
	if active != "" && !slices.Contains(keep, active) {
		// The active agent left: demote it first (demote.go).
		nb := &model.Binding{ActiveAgentID: active}
		c.demoteActive(v, nb, active)
		active, demoted, demotedAt = "", nb.Demoted, 0
	}
	if demoted != nil && c.released(v, demoted, demotedAt) {
		demoted = nil
	}
	if active == "" && demoted == nil {
		for _, id := range keep {
			if c.Alive(v, id) {
				active = id
				break
			}
		}
		if active == "" && len(keep) > 0 {
			active = keep[0]
		}
	}
	nb := &model.Binding{ID: r.ID, AgentIDs: keep, ActiveAgentID: active, Demoted: demoted}
	switch {
	case len(keep) == 0 && b != nil:
		t.Delete(model.KindL3Binding, be)
	case len(keep) == 0:
	case b == nil:
		t.Create(model.KindL3Binding, r.ID, model.MustJSON(nb))
	case !slices.Equal(keep, cur) || active != b.ActiveAgentID || (demoted == nil) != (b.Demoted == nil):
		t.Replace(model.KindL3Binding, be, model.MustJSON(nb))
	}
	if demoted != nil {
		// Nobody holds the addresses meanwhile: the ports stay where
		// they were until the next active is chosen.
		return demoted.Host
	}
	if _, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, active); ok {
		return ag.Host
	}
	return ""
}

// ClaimHA makes agentID the active agent of the HA router routerID if
// it is bound there and the current active agent has not heartbeated
// for l3_ha_fence_time (or is gone). The check and the write are one
// transaction against the binding's revision, so of two standbys
// claiming at once one wins and the other finds the router taken. The
// router's centralized ports are bound to the new host (l2population
// then points every host at it). It returns the active agent after the
// call and whether the claimant holds the role.
func (c *Control) ClaimHA(ctx context.Context, routerID, agentID string) (string, bool, error) {
	active := ""
	_, err := c.st.Update(ctx, func(v *store.View, t *store.Txn) error {
		re, r, ok := store.GetAs[*model.Router](v, model.KindRouter, routerID)
		be, b, bound := store.GetAs[*model.Binding](v, model.KindL3Binding, routerID)
		if !ok || !r.HA || !bound || !slices.Contains(b.AgentIDs, agentID) {
			return newError(http.StatusNotFound, "RouterNotHostedByL3Agent", "The HA router %s is not hosted by L3 agent %s.", routerID, agentID)
		}
		active = b.ActiveAgentID
		if active == agentID {
			return nil
		}
		if active != "" && c.aliveWithin(v, active, c.fenceTime(v, active)) {
			return nil
		}
		if b.Demoted != nil && !c.released(v, b.Demoted, be.ModRev) {
			return nil // the demoted agent may still hold the addresses
		}
		_, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, agentID)
		if !ok {
			return nil
		}
		nb := *b
		nb.ActiveAgentID, nb.Demoted = agentID, nil
		t.Replace(model.KindL3Binding, be, model.MustJSON(&nb))
		t.Require(model.KindRouter, re)
		c.BindRouterPorts(v, t, r, ag.Host)
		active = agentID
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return active, active == agentID, nil
}

// fenceTime is how long the active agent must have been silent before
// a claim is granted: l3_ha_fence_time, but at least its down time (three
// of the agent's own report intervals, which it says with every
// heartbeat and in its configurations), so that an agent heartbeating
// slowly is not taken for a silent one.
func (c *Control) fenceTime(v *store.View, agentID string) time.Duration {
	fence := c.cfg.L3HAFenceTime
	if hb, ok := readHeartbeat(v, agentID); ok && hb.interval > 0 {
		fence = max(fence, livenessReports*hb.interval)
	} else if _, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, agentID); ok {
		if r, ok := ag.Configurations["report_interval"].(float64); ok && r > 0 {
			fence = max(fence, time.Duration(livenessReports*r*float64(time.Second)))
		}
	}
	return fence
}

// aliveWithin reports whether the agent heartbeated within d.
func (c *Control) aliveWithin(v *store.View, agentID string, d time.Duration) bool {
	hb, ok := LastHeartbeat(v, agentID)
	return ok && c.now().Sub(hb) < d
}
