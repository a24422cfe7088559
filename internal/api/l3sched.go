package api

import (
	"slices"
	"strconv"
	"time"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// heartbeatKey holds an agent's last heartbeat (unix seconds). Heartbeats
// are plain keys, not agent records, so that they do not bump anything a
// client sees and stay cheap.
func heartbeatKey(agentID string) string { return "heartbeat/" + agentID }

// lastHeartbeat returns when the agent last reported.
func lastHeartbeat(v *store.View, agentID string) (time.Time, bool) {
	b, ok := v.Value(heartbeatKey(agentID))
	if !ok {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// alive reports whether the agent heartbeated within agent_down_time.
func (a *API) alive(v *store.View, agentID string) bool {
	hb, ok := lastHeartbeat(v, agentID)
	return ok && a.now().Sub(hb) < a.cfg.AgentDownTime
}

func agentMode(ag *model.Agent) string {
	if m, ok := ag.Configurations["agent_mode"].(string); ok && m != "" {
		return m
	}
	return model.ModeLegacy
}

// l3Candidate reports whether an agent may host the router: a live,
// enabled L3 agent in legacy or dvr_snat mode (dvr_snat only for
// distributed routers).
func (a *API) l3Candidate(v *store.View, ag *model.Agent, r *model.Router) bool {
	if ag.AgentType != model.AgentTypeL3 || !ag.AdminStateUp || !a.alive(v, ag.ID) {
		return false
	}
	switch agentMode(ag) {
	case model.ModeLegacy:
		return !r.Distributed
	case model.ModeDVRSNAT:
		return true
	}
	return false
}

// routersPerAgent counts the routers bound to each L3 agent.
func routersPerAgent(v *store.View) map[string]int {
	out := map[string]int{}
	v.Each(model.KindL3Binding, func(e *store.Entry) bool {
		for _, id := range e.Obj.(*model.Binding).AgentIDs {
			out[id]++
		}
		return true
	})
	return out
}

// scheduleRouter keeps the router on a suitable agent, or binds it to
// the suitable agent hosting the fewest routers (upstream's
// LeastRoutersScheduler). With no suitable agent the router stays
// unscheduled until one appears.
func (a *API) scheduleRouter(v *store.View, t *store.Txn, r *model.Router) error {
	be, bound := v.Get(model.KindL3Binding, r.ID)
	if bound {
		for _, id := range be.Obj.(*model.Binding).AgentIDs {
			if ae, ok := v.Get(model.KindAgent, id); ok && a.l3Candidate(v, ae.Obj.(*model.Agent), r) {
				return nil
			}
		}
	}
	best := a.leastLoadedL3Agent(v, r, nil)
	if best == "" {
		if bound && len(be.Obj.(*model.Binding).AgentIDs) > 0 && !a.cfg.AutoL3Failover {
			return nil
		}
		if bound {
			t.Delete(model.KindL3Binding, be)
		}
		return nil
	}
	b := &model.Binding{ID: r.ID, AgentIDs: []string{best}}
	if bound {
		t.Replace(model.KindL3Binding, be, mustJSON(b))
	} else {
		t.Create(model.KindL3Binding, r.ID, mustJSON(b))
	}
	return nil
}

func (a *API) leastLoadedL3Agent(v *store.View, r *model.Router, exclude []string) string {
	load := routersPerAgent(v)
	best, bestLoad := "", 0
	v.Each(model.KindAgent, func(e *store.Entry) bool {
		ag := e.Obj.(*model.Agent)
		if slices.Contains(exclude, ag.ID) || !a.l3Candidate(v, ag, r) {
			return true
		}
		n := load[ag.ID]
		if best == "" || n < bestLoad || (n == bestLoad && ag.ID < best) {
			best, bestLoad = ag.ID, n
		}
		return true
	})
	return best
}

func init() {
	register(&resourceDef{kind: model.KindL3Binding, decode: decoderOf[model.Binding]()})
	register(&resourceDef{kind: model.KindDHCPBinding, decode: decoderOf[model.Binding]()})
	register(&resourceDef{kind: model.KindDVRMAC, decode: decoderOf[model.DVRMAC]()})
}
