package api

import (
	"net/http"
	"strconv"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// The agent protocol (docs/agent-protocol.md): agents authenticate with
// a credential holding the "service" role; tenant tokens are refused.

func (a *API) agentRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+syncproto.PathReport, a.wrap(a.agentOnly(a.agentReport)))
	m.HandleFunc("POST "+syncproto.PathStatus, a.wrap(a.agentOnly(a.agentStatus)))
	m.HandleFunc("POST "+syncproto.PathHAClaim, a.wrap(a.agentOnly(a.agentHAClaim)))
	m.HandleFunc("GET "+syncproto.PathHosts+"{host}/watch", a.wrap(a.agentOnly(a.agentWatch)))
}

// isAgent reports whether the caller is an agent credential: the service
// role without being a project member or admin.
func isAgent(c *reqCtx) bool {
	return c.id.HasRole("service") && !c.admin && !c.id.HasRole("member")
}

func (a *API) agentOnly(fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
		if !c.admin && !c.id.HasRole("service") {
			return policyDenied("agent_protocol")
		}
		return fn(w, r, c)
	}
}

// maxReportInterval bounds a reported heartbeat pace (seconds): a day.
const maxReportInterval = 86400

func (a *API) agentReport(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	var req syncproto.ReportRequest
	if err := decode(b, &req); err != nil {
		return err
	}
	if req.Host == "" || len(req.Host) > 255 || len(req.Agents) == 0 {
		return badRequest("A report needs a host and at least one agent")
	}
	if !(req.ReportInterval >= 0 && req.ReportInterval <= maxReportInterval) {
		return badRequest("report_interval must be between 0 and %d seconds", maxReportInterval)
	}
	for _, as := range req.Agents {
		switch as.AgentType {
		case model.AgentTypeL3, model.AgentTypeDHCP, model.AgentTypeMetadata, model.AgentTypeL2:
		default:
			return badRequest("Unknown agent_type %q", as.AgentType)
		}
	}
	resp, err := a.ctl.Report(c, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// agentStatus records what agents report about the data plane.
func (a *API) agentStatus(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	var req syncproto.StatusReport
	if err := decode(b, &req); err != nil {
		return err
	}
	valid := map[string]bool{"ACTIVE": true, "DOWN": true, "BUILD": true, "ERROR": true}
	for _, m := range []map[string]string{req.Ports, req.FloatingIPs, req.Routers} {
		for id, st := range m {
			if !valid[st] {
				return badRequest("Invalid status %q for %s", st, id)
			}
		}
	}
	if err := a.ctl.RecordStatus(c, req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// agentWatch streams a host's view as newline-delimited JSON events.
func (a *API) agentWatch(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	var since int64
	if s := r.URL.Query().Get("revision"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return badRequest("revision must be a non-negative integer")
		}
		since = n
	}
	stream, err := a.ctl.OpenStream(c, r.PathValue("host"), since)
	if err != nil {
		return err
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// One event, one line built once for every stream sending it
	// (a.lines), one flush: one write system call per event.
	stream.Run(r.Context(), func(ev *syncproto.Event) error {
		if err := a.lines.WriteLine(w, ev); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	return nil
}

// agentHAClaim is a standby's claim of an HA router (docs/ha.md): the
// claimant must be an L3 agent of the reporting host.
func (a *API) agentHAClaim(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	var req syncproto.HAClaim
	if err := decode(b, &req); err != nil {
		return err
	}
	if req.RouterID == "" || req.AgentID == "" {
		return badRequest("A claim needs a router_id and an agent_id")
	}
	var owner *model.Agent
	a.st.View(func(v *store.View) { _, owner, _ = store.GetAs[*model.Agent](v, model.KindAgent, req.AgentID) })
	if owner == nil || owner.Host != req.Host || owner.AgentType != model.AgentTypeL3 {
		return agentNotFound(req.AgentID)
	}
	active, granted, err := a.ctl.ClaimHA(c, req.RouterID, req.AgentID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, syncproto.HAClaimResult{ActiveAgentID: active, Granted: granted})
	return nil
}
