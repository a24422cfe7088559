package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/control"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// The agents API (api.md §3.8) and the agent scheduler sub-resources
// (l3-routers, l3-agents, dhcp-networks, dhcp-agents). Agents are
// admin-only: others see an empty list and 404s. Their liveness is not
// stored: "alive" and "heartbeat_timestamp" come from the heartbeat key
// when rendered, so the handlers here render and filter agents themselves
// instead of through the generic machinery (which serves stored fields).

var agentDef = &resourceDef{
	kind: model.KindAgent, singular: "agent", collection: "agents",
	attrs: map[string]attr{
		"id":                  {typ: 's'},
		"agent_type":          {typ: 's'},
		"binary":              {typ: 's'},
		"topic":               {typ: 's'},
		"host":                {typ: 's'},
		"admin_state_up":      {typ: 'b', put: true},
		"description":         {typ: 's', put: true},
		"created_at":          {typ: 's'},
		"started_at":          {typ: 's'},
		"heartbeat_timestamp": {typ: 's', nosort: true},
		"alive":               {typ: 'b', nosort: true},
		"configurations":      {typ: 'o', nosort: true},
		"availability_zone":   {typ: 's'},
		"resources_synced":    {typ: 'b', nosort: true},
		"resource_versions":   {typ: 'o', nosort: true},
	},
	decode:   decoderOf[model.Agent](),
	notFound: agentNotFound,
	visible:  func(v *store.View, c *reqCtx, e *store.Entry) bool { return c.admin },
}

func init() { register(agentDef) }

func agentNotFound(id string) *Error {
	return notFound("AgentNotFound", "Agent %s could not be found.", id)
}

func (a *API) agentAPIRoutes(m *http.ServeMux) {
	h := func(fn handlerFunc) http.HandlerFunc { return a.wrap(fn) }
	m.HandleFunc("GET /v2.0/agents", h(a.listAgents))
	m.HandleFunc("GET /v2.0/agents/{id}", h(a.showAgent))
	m.HandleFunc("PUT /v2.0/agents/{id}", h(a.updateAgent))
	m.HandleFunc("DELETE /v2.0/agents/{id}", h(a.deleteAgent))
	m.HandleFunc("GET /v2.0/agents/{id}/l3-routers", h(a.listBoundTo(model.KindL3Binding, routerDef)))
	m.HandleFunc("POST /v2.0/agents/{id}/l3-routers", h(a.addAgentRouter))
	m.HandleFunc("DELETE /v2.0/agents/{id}/l3-routers/{rid}", h(a.removeAgentRouter))
	m.HandleFunc("GET /v2.0/routers/{id}/l3-agents", h(a.listAgentsOf(model.KindL3Binding, routerDef, "get_l3-agents", routerHAState)))
	m.HandleFunc("GET /v2.0/agents/{id}/dhcp-networks", h(a.listBoundTo(model.KindDHCPBinding, networkDef)))
	m.HandleFunc("POST /v2.0/agents/{id}/dhcp-networks", h(a.addAgentNetwork))
	m.HandleFunc("DELETE /v2.0/agents/{id}/dhcp-networks/{nid}", h(a.removeAgentNetwork))
	m.HandleFunc("GET /v2.0/networks/{id}/dhcp-agents", h(a.listAgentsOf(model.KindDHCPBinding, networkDef, "get_dhcp-agents", func(*store.View, string, string) map[string]any { return nil })))
}

// agentFields is an agent as the API shows it: the stored record plus
// its liveness from the heartbeat key.
func (a *API) agentFields(v *store.View, e *store.Entry) map[string]json.RawMessage {
	stored := agentDef.memoOf(e).fields
	out := make(map[string]json.RawMessage, len(stored)+1)
	for k, val := range stored {
		out[k] = val
	}
	if hb, ok := control.LastHeartbeat(v, e.ID); ok {
		out["heartbeat_timestamp"] = mustJSON(hb.UTC().Format(model.AgentTimeFormat))
	}
	out["alive"] = mustJSON(a.ctl.Alive(v, e.ID))
	return out
}

func encodeFields(fields map[string]json.RawMessage, keep []string) []byte {
	if len(keep) > 0 {
		cp := make(map[string]json.RawMessage, len(keep))
		for _, k := range keep {
			if val, ok := fields[k]; ok {
				cp[k] = val
			}
		}
		fields = cp
	}
	b, _ := json.Marshal(fields)
	return b
}

// lookupAgent finds an agent the caller may see (admins only).
func lookupAgent(v *store.View, c *reqCtx, id string) (*store.Entry, *model.Agent, error) {
	e, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, id)
	if !ok || !c.admin {
		return nil, nil, agentNotFound(id)
	}
	return e, ag, nil
}

func (a *API) listAgents(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	lq, err := a.parseListQuery(r, agentDef, nil)
	if err != nil {
		return err
	}
	var bodies [][]byte
	var first, last string
	more := false
	var markerErr error
	a.st.View(func(v *store.View) {
		if !c.admin {
			return // upstream drops what policy hides: an empty list
		}
		var marker *store.Entry
		if marker, markerErr = lq.markerEntry(v, agentDef, func(*store.Entry) bool { return true }); markerErr != nil {
			return
		}
		var hits []*store.Entry
		fields := map[*store.Entry]map[string]json.RawMessage{}
		v.Each(model.KindAgent, func(e *store.Entry) bool {
			f := a.agentFields(v, e)
			if lq.match(agentDef, f) {
				hits = append(hits, e)
				fields[e] = f
			}
			return true
		})
		page, hasMore := lq.paginate(agentDef, hits, marker)
		more = hasMore
		for _, e := range page {
			bodies = append(bodies, encodeFields(fields[e], lq.fields))
		}
		if len(page) > 0 {
			first, last = page[0].ID, page[len(page)-1].ID
		}
	})
	if markerErr != nil {
		return markerErr
	}
	var links []map[string]string
	if lq.limit > 0 {
		links = pageLinks(r, lq, len(bodies), first, last, more)
	}
	writeCollection(w, agentDef.collection, bodies, links)
	return nil
}

func (a *API) showAgent(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	return a.writeAgent(w, c, r.PathValue("id"), fieldsParam(r))
}

func (a *API) writeAgent(w http.ResponseWriter, c *reqCtx, id string, fields []string) error {
	var body []byte
	var err error
	a.st.View(func(v *store.View) {
		var e *store.Entry
		if e, _, err = lookupAgent(v, c, id); err == nil {
			body = encodeFields(a.agentFields(v, e), fields)
		}
	})
	if err != nil {
		return err
	}
	writeMember(w, http.StatusOK, agentDef.singular, body)
	return nil
}

func (a *API) updateAgent(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	item, err := readMember(r, agentDef.singular)
	if err != nil {
		return err
	}
	if err := checkAttrs(c, agentDef, item, false); err != nil {
		return err
	}
	var req struct {
		AdminStateUp *flexBool `json:"admin_state_up"`
		Description  *string   `json:"description"`
	}
	if err := decode(item, &req); err != nil {
		return err
	}
	if err := checkString("description", req.Description, 255); err != nil {
		return err
	}
	id := r.PathValue("id")
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		e, cur, err := lookupAgent(v, c, id)
		if err != nil {
			return err
		}
		ag := *cur
		if req.AdminStateUp != nil {
			ag.AdminStateUp = bool(*req.AdminStateUp)
		}
		if req.Description != nil {
			ag.Description = *req.Description
		}
		if ag.AdminStateUp != cur.AdminStateUp || ag.Description != cur.Description {
			t.Replace(model.KindAgent, e, mustJSON(&ag))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.writeAgent(w, c, id, nil)
}

// deleteAgent removes an agent with everything that is only about it:
// its heartbeat, its registration claim, its place in router and network
// bindings, its DHCP ports, and the host's DVR MAC if it was the host's
// last agent. Routers and networks it hosted are rescheduled by the
// bookkeeping controller.
func (a *API) deleteAgent(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if r.ContentLength > 0 {
		return badRequest("Request body is not supported in DELETE.")
	}
	id := r.PathValue("id")
	_, err := a.st.Update(c, func(v *store.View, t *store.Txn) error {
		e, ag, err := lookupAgent(v, c, id)
		if err != nil {
			return err
		}
		a.ctl.DeleteAgent(v, t, e, ag)
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Sub-resources.

// routerHAState is the ha_state of a router's agent: active or standby
// for an HA router, null otherwise (as upstream).
func routerHAState(v *store.View, routerID, agentID string) map[string]any {
	_, r, ok := store.GetAs[*model.Router](v, model.KindRouter, routerID)
	_, b, bound := store.GetAs[*model.Binding](v, model.KindL3Binding, routerID)
	if !ok || !r.HA || !bound {
		return map[string]any{"ha_state": nil}
	}
	return map[string]any{"ha_state": b.HAState(agentID)}
}

func (a *API) renderAgentList(v *store.View, ids []string, extra func(agentID string) map[string]any) [][]byte {
	var bodies [][]byte
	for _, id := range ids {
		e, ok := v.Get(model.KindAgent, id)
		if !ok {
			continue
		}
		f := a.agentFields(v, e)
		for k, val := range extra(id) {
			f[k] = mustJSON(val)
		}
		bodies = append(bodies, encodeFields(f, nil))
	}
	return bodies
}

func bindingAgents(v *store.View, kind, id string) []string {
	if _, b, ok := store.GetAs[*model.Binding](v, kind, id); ok {
		return b.AgentIDs
	}
	return nil
}

// sortedByCreation lists entries in creation order.
func sortedByCreation(m map[string]*store.Entry) []*store.Entry {
	out := make([]*store.Entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y *store.Entry) int {
		if x.CreateRev != y.CreateRev {
			return int(x.CreateRev - y.CreateRev)
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// readIDBody reads {"<key>": "<id>"}.
func readIDBody(r *http.Request, key string) (string, error) {
	b, err := readBody(r)
	if err != nil {
		return "", err
	}
	top, err := parseObject(b)
	if err != nil {
		return "", err
	}
	for k := range top {
		if k != key {
			return "", badRequest("Unrecognized attribute(s) '%s'", k)
		}
	}
	raw, ok := top[key]
	var id string
	if !ok || json.Unmarshal(raw, &id) != nil || id == "" {
		return "", badRequest("Failed to parse request. Required attribute '%s' not specified", key)
	}
	return id, nil
}

func writeNull(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte("null"))
}

// addAgentRouter is the manual L3 scheduling of l3-dataplane.md §5.3.
func (a *API) addAgentRouter(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	agentID := r.PathValue("id")
	var rid string
	if c.admin {
		var err error
		if rid, err = readIDBody(r, "router_id"); err != nil {
			return err
		}
	}
	_, err := a.st.Update(c, func(v *store.View, t *store.Txn) error {
		_, ag, err := lookupAgent(v, c, agentID)
		if err != nil {
			return err
		}
		re, err := a.lookup(v, c, routerDef, rid)
		if err != nil {
			return err
		}
		rr, err := obj[*model.Router](re)
		if err != nil {
			return err
		}
		return a.ctl.AssignRouter(v, t, ag, re, rr)
	})
	if err != nil {
		return err
	}
	writeNull(w, http.StatusCreated)
	return nil
}

// removeAgentRouter unbinds a router. The router stays unscheduled (the
// controller leaves it alone) until it is updated or assigned again.
func (a *API) removeAgentRouter(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	// openstacksdk sends {"router_id"|"network_id": …} with this DELETE
	// and upstream ignores it: so do we.
	agentID, rid := r.PathValue("id"), r.PathValue("rid")
	_, err := a.st.Update(c, func(v *store.View, t *store.Txn) error {
		_, ag, err := lookupAgent(v, c, agentID)
		if err != nil {
			return err
		}
		re, err := a.lookup(v, c, routerDef, rid)
		if err != nil {
			return err
		}
		rr, err := obj[*model.Router](re)
		if err != nil {
			return err
		}
		return a.ctl.UnassignRouter(v, t, ag, re, rr)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) addAgentNetwork(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	agentID := r.PathValue("id")
	var nid string
	if c.admin {
		var err error
		if nid, err = readIDBody(r, "network_id"); err != nil {
			return err
		}
	}
	_, err := a.st.Update(c, func(v *store.View, t *store.Txn) error {
		_, ag, err := lookupAgent(v, c, agentID)
		if err != nil {
			return err
		}
		ne, err := a.lookup(v, c, networkDef, nid)
		if err != nil {
			return err
		}
		return a.ctl.AssignNetwork(v, t, ag, ne.ID)
	})
	if err != nil {
		return err
	}
	writeNull(w, http.StatusCreated)
	return nil
}

func (a *API) removeAgentNetwork(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	// openstacksdk sends {"router_id"|"network_id": …} with this DELETE
	// and upstream ignores it: so do we.
	agentID, nid := r.PathValue("id"), r.PathValue("nid")
	_, err := a.st.Update(c, func(v *store.View, t *store.Txn) error {
		_, ag, err := lookupAgent(v, c, agentID)
		if err != nil {
			return err
		}
		return a.ctl.UnassignNetwork(v, t, ag, nid)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listBoundTo answers GET /agents/{id}/l3-routers and …/dhcp-networks:
// the resources (def) whose binding of kind names the agent, in creation
// order.
func (a *API) listBoundTo(kind string, def *resourceDef) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
		var err error
		var bodies [][]byte
		a.st.View(func(v *store.View) {
			var ag *model.Agent
			if _, ag, err = lookupAgent(v, c, r.PathValue("id")); err != nil {
				return
			}
			for _, be := range sortedByCreation(v.Index(kind, hostview.ByAgent, ag.ID)) {
				if e, ok := v.Get(def.kind, be.ID); ok {
					bodies = append(bodies, def.render(v, c, e, nil))
				}
			}
		})
		if err != nil {
			return err
		}
		writeCollection(w, def.collection, bodies, nil)
		return nil
	}
}

// listAgentsOf answers GET /routers/{id}/l3-agents and
// /networks/{id}/dhcp-agents: the agents the binding of kind names for
// a resource of def the caller may see (admin only, 403 otherwise).
func (a *API) listAgentsOf(kind string, def *resourceDef, rule string, extra func(v *store.View, id, agentID string) map[string]any) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
		var err error
		var bodies [][]byte
		a.st.View(func(v *store.View) {
			var e *store.Entry
			if e, err = a.lookup(v, c, def, r.PathValue("id")); err != nil {
				return
			}
			if !c.admin {
				err = policyDenied(rule)
				return
			}
			bodies = a.renderAgentList(v, bindingAgents(v, kind, e.ID), func(agentID string) map[string]any { return extra(v, e.ID, agentID) })
		})
		if err != nil {
			return err
		}
		writeCollection(w, agentDef.collection, bodies, nil)
		return nil
	}
}
