package api

import (
	"encoding/json"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Address scopes (address-scope extension). Upstream gives them no
// standard attributes: no description, revision, timestamps or tags.
var addressScopeDef = &resourceDef{
	kind: model.KindAddressScope, singular: "address_scope", collection: "address_scopes", path: "address-scopes",
	attrs: map[string]attr{
		"id":         {typ: 's'},
		"project_id": {typ: 's', post: true},
		"tenant_id":  {typ: 's', post: true},
		"name":       {typ: 's', post: true, put: true},
		"shared":     {typ: 'b', post: true, put: true, adminSet: true, def: false},
		"ip_version": {typ: 'i', post: true, required: true},
	},
	decode: decoderOf[model.AddressScope](),
	notFound: func(id string) *Error {
		return notFound("AddressScopeNotFound", "Address scope %s could not be found.", id)
	},
	visible: func(v *store.View, c *reqCtx, e *store.Entry) bool {
		s, ok := store.As[*model.AddressScope](e)
		return ok && (c.admin || s.ProjectID == c.project || s.Shared || rbacShared(v, c, model.KindAddressScope, s.ID))
	},
	create: createAddressScope,
	update: updateAddressScope,
	delete: deleteAddressScope,
}

func init() { register(addressScopeDef) }

type addressScopeReq struct {
	Name      *string   `json:"name"`
	Shared    *flexBool `json:"shared"`
	IPVersion *flexInt  `json:"ip_version"`
	ProjectID string    `json:"project_id"`
	TenantID  string    `json:"tenant_id"`
}

func createAddressScope(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req addressScopeReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := checkString("name", req.Name, 255); err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	version := 0
	if req.IPVersion != nil {
		version = int(*req.IPVersion)
	}
	if version != 4 && version != 6 {
		return "", badRequest("Invalid input for ip_version. Reason: %d is not in [4, 6].", version)
	}
	s := &model.AddressScope{ID: uuid.NewString(), ProjectID: project, TenantID: project, IPVersion: version, Shared: boolOr(req.Shared, false)}
	if req.Name != nil {
		s.Name = *req.Name
	}
	t.Create(model.KindAddressScope, s.ID, mustJSON(s))
	if s.Shared {
		attachWildcard(t, model.KindAddressScope, s.ID, project)
	}
	return s.ID, nil
}

func updateAddressScope(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req addressScopeReq
	if err := decode(body, &req); err != nil {
		return err
	}
	if err := checkString("name", req.Name, 255); err != nil {
		return err
	}
	// Upstream's policy: only admins give "shared" in an update, whatever
	// its value.
	if req.Shared != nil && !c.admin {
		return policyDenied("update_address_scope:shared")
	}
	cur, err := obj[*model.AddressScope](e)
	if err != nil {
		return err
	}
	s := *cur
	if req.Name != nil {
		s.Name = *req.Name
	}
	if req.Shared != nil {
		if s.Shared && !bool(*req.Shared) {
			return newErr(400, "AddressScopeUpdateError", "Unable to update address scope %s : Shared address scope can't be unshared.", s.ID)
		}
		if !s.Shared && bool(*req.Shared) {
			attachWildcard(t, model.KindAddressScope, s.ID, s.ProjectID)
		}
		s.Shared = bool(*req.Shared)
	}
	t.Replace(model.KindAddressScope, e, mustJSON(&s))
	return nil
}

func deleteAddressScope(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	if len(poolsInScope(v, e.ID)) > 0 {
		return conflict("AddressScopeInUse", "Unable to complete operation on address scope %s. There are one or more subnet pools in use on the address scope.", e.ID)
	}
	// A pool joining the scope meanwhile serializes on the same key
	// (subnetpools.go checkScopeAssociation).
	t.Serialize("address-scope/" + e.ID)
	deleteRBACOf(v, t, model.KindAddressScope, e.ID)
	t.Delete(model.KindAddressScope, e)
	return nil
}

// poolsInScope returns the subnet pools bound to an address scope.
func poolsInScope(v *store.View, scopeID string) []*model.SubnetPool {
	var out []*model.SubnetPool
	v.Each(model.KindSubnetPool, func(e *store.Entry) bool {
		if p, ok := store.As[*model.SubnetPool](e); ok && p.AddressScopeID != nil && *p.AddressScopeID == scopeID {
			out = append(out, p)
		}
		return true
	})
	return out
}
