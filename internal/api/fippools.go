package api

import (
	"net/http"
	"slices"
	"sort"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// listFIPPools serves GET /v2.0/floatingip-pools (floatingip-pools): the
// subnets floating IPs can be allocated from — IPv4 subnets of external
// networks without service types or with network:floatingip among them.
// Like upstream, every project sees every pool, even when the subnet
// itself is hidden from it, since anyone may allocate from it.
func (a *API) listFIPPools(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	out := []map[string]string{}
	a.st.View(func(v *store.View) {
		v.Each(model.KindSubnet, func(e *store.Entry) bool {
			s, ok := store.As[*model.Subnet](e)
			if !ok || s.IPVersion != 4 {
				return true
			}
			if len(s.ServiceTypes) > 0 && !slices.Contains(s.ServiceTypes, model.OwnerFloatingIP) {
				return true
			}
			ne, ok := v.Get(model.KindNetwork, s.NetworkID)
			if !ok {
				return true
			}
			if n, ok := store.As[*model.Network](ne); !ok || !n.External {
				return true
			}
			pool := map[string]string{
				"subnet_id": s.ID, "subnet_name": s.Name, "cidr": s.CIDR, "network_id": s.NetworkID,
				"project_id": s.ProjectID, "tenant_id": s.ProjectID,
			}
			for k, want := range r.URL.Query() { // equality filters on its fields
				if got, ok := pool[k]; ok && !containsStr(want, got) {
					return true
				}
			}
			out = append(out, pool)
			return true
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i]["subnet_id"] < out[j]["subnet_id"] })
	writeJSON(w, http.StatusOK, map[string]any{"floatingip_pools": out})
	return nil
}
