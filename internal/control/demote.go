package control

import (
	"time"

	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Demotion of an HA router's active agent that leaves the binding
// (disabled, deleted, manually removed; docs/ha.md). The role is not
// handed over in the same write: the binding names no active agent and
// records the demoted one, and the next active is chosen only once the
// demoted agent's host has acknowledged (reported a view applied after
// the demotion: its copy of the router is gone or standby) or has been
// silent for its fence time. So, as with a claim, two copies never hold
// the addresses at once.

// demote records in b that its active agent ag is being demoted.
func (c *Control) demote(v *store.View, b *model.Binding, ag *model.Agent) {
	d := &model.Demotion{AgentID: ag.ID, Host: ag.Host, FenceMS: c.fenceTime(v, ag.ID).Milliseconds()}
	if hb, ok := LastHeartbeat(v, ag.ID); ok {
		d.Heartbeat = hb.UnixMilli()
	}
	b.ActiveAgentID, b.Demoted = "", d
}

// demoteActive demotes b's active agent if it is agentID (an HA
// router's binding that the agent is leaving).
func (c *Control) demoteActive(v *store.View, b *model.Binding, agentID string) {
	if b.ActiveAgentID != agentID || agentID == "" {
		return
	}
	if _, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, agentID); ok {
		c.demote(v, b, ag)
	} else {
		b.ActiveAgentID = ""
	}
}

// released reports whether a demotion recorded in a binding stored at
// revision rev is over: the demoted host applied a view as of rev or
// later (the stream sends each host its view at store revisions, so
// that view lacks the host's copy of the router, or has it standby),
// or it has been silent for the fence time (the agent may have been
// deleted and re-registered under a new id: any agent of the host
// counts). A demotion not stored yet (rev 0) waits for silence alone.
func (c *Control) released(v *store.View, d *model.Demotion, rev int64) bool {
	last := time.UnixMilli(d.Heartbeat)
	for _, ae := range v.Index(model.KindAgent, hostview.ByHost, d.Host) {
		hb, ok := readHeartbeat(v, ae.ID)
		if !ok {
			continue
		}
		if rev > 0 && hb.applied >= rev {
			return true
		}
		if hb.at.After(last) {
			last = hb.at
		}
	}
	return c.now().Sub(last) >= time.Duration(d.FenceMS)*time.Millisecond
}

// pendingDemotions reports whether some HA router waits for its demoted
// agent: acknowledgements come with heartbeats, which wake nobody, so
// the controller looks again soon.
func pendingDemotions(v *store.View) bool {
	pending := false
	v.Each(model.KindL3Binding, func(e *store.Entry) bool {
		b, ok := store.As[*model.Binding](e)
		pending = ok && b.Demoted != nil
		return !pending
	})
	return pending
}
