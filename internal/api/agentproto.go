package api

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// The agent protocol (docs/agent-protocol.md): agents authenticate with
// a credential holding the "service" role; tenant tokens are refused.

func (a *API) agentRoutes(m *http.ServeMux) {
	m.HandleFunc("POST "+syncproto.PathReport, a.wrap(a.agentOnly(a.agentReport)))
	m.HandleFunc("POST "+syncproto.PathStatus, a.wrap(a.agentOnly(a.agentStatus)))
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

// dvrBaseMAC is upstream's dvr_base_mac default; it must differ from
// base_mac so that host MACs never collide with port MACs.
const dvrBaseMAC = "fa:16:3f:00:00:00"

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
	for _, as := range req.Agents {
		switch as.AgentType {
		case model.AgentTypeL3, model.AgentTypeDHCP, model.AgentTypeMetadata, model.AgentTypeL2:
		default:
			return badRequest("Unknown agent_type %q", as.AgentType)
		}
	}
	now := a.now()
	stamp := now.UTC().Format(model.AgentTimeFormat)
	var resp syncproto.ReportResponse
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		resp = syncproto.ReportResponse{}
		needDVRMAC := false
		for _, as := range req.Agents {
			if m, _ := as.Configurations["agent_mode"].(string); m == model.ModeDVR || m == model.ModeDVRSNAT || m == model.ModeDVRNoExternal {
				needDVRMAC = true
			}
			if on, _ := as.Configurations["enable_distributed_routing"].(bool); on {
				needDVRMAC = true
			}
			var cur *store.Entry
			for _, ae := range v.Index(model.KindAgent, hostview.ByHost, req.Host) {
				if ae.Obj.(*model.Agent).AgentType == as.AgentType {
					cur = ae
				}
			}
			var ag model.Agent
			if cur == nil {
				ag = model.Agent{ID: uuid.NewString(), AgentType: as.AgentType, Host: req.Host, AdminStateUp: true, CreatedAt: stamp, StartedAt: stamp}
				t.Claim("agent", as.AgentType+"@"+req.Host, ag.ID)
			} else {
				ag = *cur.Obj.(*model.Agent)
				if !a.alive(v, ag.ID) {
					resp.Revived = resp.Revived || ag.HeartbeatTimestamp != ""
				}
			}
			changed := cur == nil || req.StartFlag || ag.Binary != as.Binary || ag.Topic != as.Topic || !jsonEqual(ag.Configurations, as.Configurations) || azOf(ag) != as.AvailabilityZone
			if changed {
				ag.Binary, ag.Topic, ag.Configurations = as.Binary, as.Topic, as.Configurations
				if ag.Configurations == nil {
					ag.Configurations = map[string]any{}
				}
				if as.AvailabilityZone != "" {
					az := as.AvailabilityZone
					ag.AvailabilityZone = &az
				}
				if req.StartFlag {
					ag.StartedAt = stamp
				}
				ag.HeartbeatTimestamp = stamp
				if ag.ResourceVersions == nil {
					ag.ResourceVersions = map[string]any{}
				}
				if cur == nil {
					t.Create(model.KindAgent, ag.ID, mustJSON(&ag))
				} else {
					t.Replace(model.KindAgent, cur, mustJSON(&ag))
				}
			}
			t.PutValue(heartbeatKey(ag.ID), []byte(strconv.FormatInt(now.Unix(), 10)), false)
			resp.Agents = append(resp.Agents, syncproto.AgentInfo{ID: ag.ID, AgentType: ag.AgentType, AdminStateUp: ag.AdminStateUp})
		}
		if needDVRMAC {
			if _, ok := v.Get(model.KindDVRMAC, req.Host); !ok {
				mac, err := a.newDVRMAC(v)
				if err != nil {
					return err
				}
				t.Claim("dvrmac", mac, req.Host)
				t.Create(model.KindDVRMAC, req.Host, mustJSON(&model.DVRMAC{Host: req.Host, MACAddress: mac}))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func azOf(ag model.Agent) string {
	if ag.AvailabilityZone == nil {
		return ""
	}
	return *ag.AvailabilityZone
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func (a *API) newDVRMAC(v *store.View) (string, error) {
	for range 32 {
		mac, err := ipam.GenerateMAC(dvrBaseMAC, rand.IntN)
		if err != nil {
			return "", err
		}
		if _, used := v.Claim("dvrmac", mac); !used {
			return mac, nil
		}
	}
	return "", newErr(500, "MacAddressGenerationFailure", "Unable to generate a unique DVR MAC address.")
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
	// A host reports all its ports at once after a (re)start; one
	// transaction for thousands of them would exceed etcd's request size
	// (1.5 MiB) or an external cluster's --max-txn-ops (default 128), so
	// the changes go in transactions of statusBatch objects. Statuses
	// are idempotent: a batch that fails is re-sent by the agent.
	type change struct{ kind, id, status string }
	var changes []change
	for _, k := range []struct {
		kind string
		m    map[string]string
	}{{model.KindPort, req.Ports}, {model.KindFIP, req.FloatingIPs}, {model.KindRouter, req.Routers}} {
		for id, st := range k.m {
			changes = append(changes, change{k.kind, id, st})
		}
	}
	for len(changes) > 0 {
		batch := changes[:min(len(changes), statusBatch)]
		changes = changes[len(batch):]
		_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
			for _, ch := range batch {
				e, ok := v.Get(ch.kind, ch.id)
				if !ok {
					continue
				}
				if rev, judged := req.Seen[ch.id]; judged && rev != e.ModRev {
					continue // about an older version of the object
				}
				switch o := e.Obj.(type) {
				case *model.Port:
					p := *o
					if _, failed := req.BindingFailed[ch.id]; failed && p.VIFType != model.VIFTypeBindingFailed {
						// The host cannot plug it: binding failed (and the
						// status below is written even if unchanged).
						p.VIFType, p.VIFDetails, p.Status = model.VIFTypeBindingFailed, map[string]any{}, ""
					}
					setStatus(a, t, ch.kind, e, &p, &p.Status, &p.Standard, ch.status)
				case *model.FloatingIP:
					f := *o
					setStatus(a, t, ch.kind, e, &f, &f.Status, &f.Standard, ch.status)
				case *model.Router:
					rr := *o
					setStatus(a, t, ch.kind, e, &rr, &rr.Status, &rr.Standard, ch.status)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setStatus plans a status change of a copy (obj) of a stored resource
// whose status and standard attributes are given; an unchanged status
// writes nothing.
func setStatus(a *API, t *store.Txn, kind string, e *store.Entry, obj any, status *string, std *model.Standard, want string) {
	if *status == want {
		return
	}
	*status = want
	bump(a, std)
	t.Replace(kind, e, mustJSON(obj))
}

// statusBatch bounds the objects one status transaction changes.
const statusBatch = 100

// bookmarkInterval is how often an idle stream still says where it is,
// so a resuming agent's revision stays recent and dead connections show.
const bookmarkInterval = 10 * time.Second

// agentWatch streams a host's view: first what changed since the
// agent's revision (or everything), then every change as it happens.
func (a *API) agentWatch(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	host := r.PathValue("host")
	var known map[syncproto.Key]int64
	reset := true
	if s := r.URL.Query().Get("revision"); s != "" && s != "0" {
		since, err := strconv.ParseInt(s, 10, 64)
		if err != nil || since < 0 {
			return badRequest("revision must be a non-negative integer")
		}
		err = a.st.ViewAt(c, since, func(v *store.View) { known = hostview.Revs(hostview.Compute(v, host)) })
		switch {
		case err == nil:
			reset = false
		case errors.Is(err, store.ErrCompacted):
			known = nil
		default:
			return err
		}
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	bookmark := time.NewTicker(bookmarkInterval)
	defer bookmark.Stop()
	first, lastRev := true, int64(0)
	// reads is what the last computation of the view read: a change that
	// touches none of it cannot change the view, so the stream skips the
	// recompute (with many streams, most changes concern few hosts).
	reads := store.NewReadSet()
	for {
		var ev syncproto.Event
		var changed <-chan struct{}
		a.st.View(func(v *store.View) {
			ev.Revision, ev.Reset = v.Rev(), reset
			changed = v.Changed()
			if !reset && !v.Affects(reads) {
				return
			}
			cur := hostview.Compute(v.Recording(reads), host)
			if reset {
				known = nil
			}
			ev.Upserts, ev.Deletes = hostview.Diff(known, cur)
			known = hostview.Revs(cur)
		})
		if first || len(ev.Upserts)+len(ev.Deletes) > 0 {
			if err := enc.Encode(&ev); err != nil {
				return nil // the agent went away
			}
			if flusher != nil {
				flusher.Flush()
			}
			first, reset, lastRev = false, false, ev.Revision
		}
		select {
		case <-changed:
		case <-bookmark.C:
			if ev.Revision != lastRev {
				if err := enc.Encode(&syncproto.Event{Revision: ev.Revision}); err != nil {
					return nil
				}
				if flusher != nil {
					flusher.Flush()
				}
				lastRev = ev.Revision
			}
		case <-r.Context().Done():
			return nil
		}
	}
}
