package api

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// subnetPoolAction serves the subnetpool-prefix-ops extension:
// PUT .../add_prefixes and .../remove_prefixes with {"prefixes": [...]},
// answered with the pool's prefixes. Adding is an update of the prefixes
// (same checks); removing refuses prefixes subnets use.
func (a *API) subnetPoolAction(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	id, action := r.PathValue("id"), r.PathValue("action")
	top, err := actionBody(r, action, "add_prefixes", "remove_prefixes")
	if err != nil {
		return err
	}
	var items []any
	if raw, ok := top["prefixes"]; !ok || json.Unmarshal(raw, &items) != nil {
		return badRequest("Failed to parse request. Required attribute 'prefixes' not specified")
	}
	given, err := validateCIDRList("prefixes", items)
	if err != nil {
		return err
	}
	var out []string
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		e, err := a.lookup(v, c, subnetPoolDef, id)
		if err != nil {
			return err
		}
		if err := mayModify(c, subnetPoolDef, e, "update"); err != nil {
			return err
		}
		cur, err := obj[*model.SubnetPool](e)
		if err != nil {
			return err
		}
		if len(given) == 0 {
			out = cur.Prefixes
			return nil
		}
		if action == "add_prefixes" {
			all := make([]any, 0, len(cur.Prefixes)+len(given))
			for _, s := range append(append([]string{}, cur.Prefixes...), given...) {
				all = append(all, s)
			}
			body, _ := json.Marshal(map[string]any{"prefixes": all})
			if err := updateSubnetPool(a, v, t, c, e, body); err != nil {
				return err
			}
			ne, _ := t.Get(v, model.KindSubnetPool, e.ID)
			np, err := obj[*model.SubnetPool](ne)
			out = np.Prefixes
			return err
		}
		p := *cur
		out, err = removePrefixes(v, &p, given)
		if err != nil || slices.Equal(out, cur.Prefixes) {
			return err
		}
		p.Prefixes = out
		bump(a, &p.Standard)
		t.Serialize("subnetpool-alloc/" + p.ID)
		t.Replace(model.KindSubnetPool, e, mustJSON(&p))
		return nil
	})
	if err != nil {
		return err
	}
	if out == nil {
		out = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"prefixes": out})
	return nil
}

// removePrefixes is the pool's prefixes without the removed ones; a
// removed prefix a subnet of the pool uses is refused.
func removePrefixes(v *store.View, p *model.SubnetPool, given []string) ([]string, error) {
	all, removed := parsePrefixes(p.Prefixes), parsePrefixes(given)
	if !ipam.Intersects(all, removed) {
		return p.Prefixes, nil
	}
	var used []string
	for _, s := range subnetsOfPool(v, p.ID) {
		used = append(used, s.CIDR)
	}
	if ipam.Intersects(parsePrefixes(used), removed) {
		return nil, newErr(400, "IllegalSubnetPoolPrefixUpdate", "Illegal update to prefixes: One or more the prefixes to be removed is in use by a subnet.")
	}
	return prefixStrings(ipam.Subtract(all, removed)), nil
}

// actionBody checks that action is one of a resource's PUT actions
// (404 otherwise, as for an unknown path) and reads the request's JSON
// object.
func actionBody(r *http.Request, action string, actions ...string) (map[string]json.RawMessage, error) {
	if !slices.Contains(actions, action) {
		return nil, errResourceNotFound
	}
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return parseObject(b)
}
