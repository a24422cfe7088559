package api

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"

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
	"subnetpool": model.KindSubnetPool, "rbac_policy": model.KindRBAC,
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
	return a.checkQuotaUncounted(v, t, project, kind, n, 0)
}

// checkQuotaUncounted is checkQuota leaving out of the usage "uncounted"
// resources that this transaction creates or will create on the side
// (the project's default security group).
func (a *API) checkQuotaUncounted(v *store.View, t *store.Txn, project, kind string, n, uncounted int) error {
	name := kind
	limit, ok := a.limits(v, project)[name]
	if !ok || limit < 0 {
		return nil
	}
	used := usage(v, project, kind) + t.Created(kind) - uncounted
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
	set, checkLimit, err := parseQuotaUpdate(req)
	if err != nil {
		return err
	}
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		if checkLimit {
			if err := checkQuotaAboveUsage(v, project, set); err != nil {
				return err
			}
		}
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

// maxQuota is upstream's DB_INTEGER_MAX_VALUE, the largest limit.
const maxQuota = math.MaxInt32

// parseQuotaUpdate reads a quota update: limits from -1 (unlimited) to
// maxQuota, plus upstream's flags "check_limit" (refuse a limit below
// the current usage) and "force" (do not check, which wins).
func parseQuotaUpdate(req map[string]json.RawMessage) (set map[string]int, checkLimit bool, err error) {
	set = map[string]int{}
	var force bool
	for k, raw := range req {
		if k == "force" || k == "check_limit" {
			var b flexBool
			if err := json.Unmarshal(raw, &b); err != nil {
				return nil, false, badRequest("Invalid input for %s. Reason: '%s' is not a valid boolean value.", k, string(raw))
			}
			force = force || k == "force" && bool(b)
			checkLimit = checkLimit || k == "check_limit" && bool(b)
			continue
		}
		if _, ok := quotaResources[k]; !ok {
			return nil, false, badRequest("Unrecognized attribute(s) '%s'", k)
		}
		var n flexInt
		if err := json.Unmarshal(raw, &n); err != nil || n < -1 || n > maxQuota {
			return nil, false, badRequest("Invalid input for %s. Reason: '%s' is not in range -1 through %d.", k, strings.Trim(string(raw), `"`), maxQuota)
		}
		set[k] = int(n)
	}
	return set, checkLimit && !force, nil
}

func checkQuotaAboveUsage(v *store.View, project string, set map[string]int) error {
	for _, k := range sortedKeys(set) {
		if limit := set[k]; limit >= 0 {
			if used := usage(v, project, quotaResources[k]); used > limit {
				return badRequest("Quota limit %d for %s must be greater than or equal to already used %d", limit, k, used)
			}
		}
	}
	return nil
}
