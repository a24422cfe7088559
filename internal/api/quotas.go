package api

import (
	"encoding/json"
	"net/http"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Quotas are stored per project only where they differ from the defaults
// of the configuration (upstream's DbQuotaDriver behaves the same).
var quotaDef = &resourceDef{kind: model.KindQuota, decode: decoderOf[model.Quota]()}

func init() { register(quotaDef) }

// quotaResources maps quota names to the resource kinds they count.
var quotaResources = map[string]string{
	"network": model.KindNetwork, "subnet": model.KindSubnet, "port": model.KindPort,
	"router": model.KindRouter, "floatingip": model.KindFIP,
	"security_group": model.KindSG, "security_group_rule": model.KindSGRule,
	"subnetpool": "", "rbac_policy": "",
}

func (a *API) limits(v *store.View, project string) map[string]int {
	out := map[string]int{}
	for k, n := range a.cfg.Quotas {
		out[k] = n
	}
	if _, q, ok := store.GetAs[*model.Quota](v, model.KindQuota, project); ok {
		for k, n := range q.Limits {
			out[k] = n
		}
	}
	return out
}

// usage is how many resources of kind the project has. The store keeps
// these counts with its cache (every stored resource is a store.Owned by
// its project), so a create does not scan all ports of all projects.
func usage(v *store.View, project, kind string) int {
	if kind == "" {
		return 0
	}
	return v.CountOwned(kind, project)
}

// checkQuota refuses a create that would take the project over its limit.
// Usage is counted from the view plus what this transaction creates.
func (a *API) checkQuota(v *store.View, t *store.Txn, project, kind string, n int) error {
	name := kind
	limit, ok := a.limits(v, project)[name]
	if !ok || limit < 0 {
		return nil
	}
	used := usage(v, project, kind) + t.Created(kind)
	if used+n > limit {
		return conflict("OverQuota", "Quota exceeded for resources: ['%s'].", name)
	}
	if limit-used <= quotaGuardSlack {
		// Near the limit, creates of one project and kind serialize on a
		// guard key, so that two racing creates cannot both take the last
		// unit: the loser re-plans and sees the winner's resource. Far
		// from the limit they run in parallel.
		t.Serialize("quota-guard/" + project + "/" + kind)
	}
	return nil
}

// quotaGuardSlack is how close to its limit a project must be for its
// creates to serialize: wider than any realistic number of creates of one
// project committed between a view and its transaction.
const quotaGuardSlack = 64

func (a *API) quotaTarget(c *reqCtx, project string) error {
	if !c.admin && project != c.project {
		return policyDenied("get_quota")
	}
	return nil
}

func (a *API) listQuotas(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if !c.admin {
		return policyDenied("get_quota")
	}
	out := []map[string]any{}
	a.st.View(func(v *store.View) {
		v.Each(model.KindQuota, func(e *store.Entry) bool {
			q := map[string]any{"project_id": e.ID, "tenant_id": e.ID}
			for k, n := range a.limits(v, e.ID) {
				q[k] = n
			}
			out = append(out, q)
			return true
		})
	})
	writeJSON(w, http.StatusOK, map[string]any{"quotas": out})
	return nil
}

func (a *API) showQuota(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	project := r.PathValue("project")
	if err := a.quotaTarget(c, project); err != nil {
		return err
	}
	var l map[string]int
	a.st.View(func(v *store.View) { l = a.limits(v, project) })
	writeJSON(w, http.StatusOK, map[string]any{"quota": l})
	return nil
}

func (a *API) showDefaultQuota(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if err := a.quotaTarget(c, r.PathValue("project")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"quota": a.cfg.Quotas})
	return nil
}

func (a *API) showQuotaDetails(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	project := r.PathValue("project")
	if err := a.quotaTarget(c, project); err != nil {
		return err
	}
	out := map[string]any{}
	a.st.View(func(v *store.View) {
		for k, n := range a.limits(v, project) {
			out[k] = map[string]int{"limit": n, "used": usage(v, project, quotaResources[k]), "reserved": 0}
		}
	})
	writeJSON(w, http.StatusOK, map[string]any{"quota": out})
	return nil
}

func (a *API) updateQuota(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if !c.admin {
		return policyDenied("update_quota")
	}
	project := r.PathValue("project")
	item, err := readMember(r, "quota")
	if err != nil {
		return err
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(item, &req); err != nil {
		return badRequest("Malformed request body")
	}
	set := map[string]int{}
	for k, raw := range req {
		if _, ok := quotaResources[k]; !ok {
			return badRequest("Unrecognized attribute(s) '%s'", k)
		}
		var n flexInt
		if err := json.Unmarshal(raw, &n); err != nil || n < -1 {
			return invalidInput("'%s' is not a valid quota value for %s", string(raw), k)
		}
		set[k] = int(n)
	}
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		q := &model.Quota{ProjectID: project, Limits: map[string]int{}}
		prev, prevQ, exists := store.GetAs[*model.Quota](v, model.KindQuota, project)
		if exists {
			for k, n := range prevQ.Limits {
				q.Limits[k] = n
			}
		}
		for k, n := range set {
			q.Limits[k] = n
		}
		if exists {
			t.Replace(model.KindQuota, prev, mustJSON(q))
		} else {
			t.Create(model.KindQuota, project, mustJSON(q))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return a.showQuota(w, r, c)
}

func (a *API) deleteQuota(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if !c.admin {
		return policyDenied("delete_quota")
	}
	project := r.PathValue("project")
	_, err := a.st.Update(c, func(v *store.View, t *store.Txn) error {
		if prev, ok := v.Get(model.KindQuota, project); ok {
			t.Delete(model.KindQuota, prev)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
