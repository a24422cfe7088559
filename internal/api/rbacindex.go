package api

import (
	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// rbacObjectKinds maps RBAC object types to the store kinds they share.
var rbacObjectKinds = map[string]string{
	"network":        model.KindNetwork,
	"address_group":  model.KindAddressGroup,
	"address_scope":  model.KindAddressScope,
	"subnetpool":     model.KindSubnetPool,
	"security_group": model.KindSG,
}

func init() {
	register(&resourceDef{kind: model.KindRBAC, decode: decoderOf[model.RBACPolicy]()})
}

// rbacObjectType is the RBAC object type of a store kind ("" if none).
func rbacObjectType(kind string) string {
	for t, k := range rbacObjectKinds {
		if k == kind {
			return t
		}
	}
	return ""
}

// rbacPolicies returns the policies on one object.
func rbacPolicies(v *store.View, kind, id string) []*model.RBACPolicy {
	typ := rbacObjectType(kind)
	var out []*model.RBACPolicy
	v.Each(model.KindRBAC, func(e *store.Entry) bool {
		if p, ok := store.As[*model.RBACPolicy](e); ok && p.ObjectType == typ && p.ObjectID == id {
			out = append(out, p)
		}
		return true
	})
	return out
}

// rbacGrants reports whether a policy gives the caller's project the
// action on the object.
func rbacGrants(v *store.View, c *reqCtx, kind, id, action string) bool {
	if c.project == "" {
		return false
	}
	typ := rbacObjectType(kind)
	for _, p := range rbacPolicies(v, kind, id) {
		if p.Grants(typ, id, action, c.project) {
			return true
		}
	}
	return false
}

// rbacShared reports whether the object is shared with the caller.
func rbacShared(v *store.View, c *reqCtx, kind, id string) bool {
	return rbacGrants(v, c, kind, id, model.RBACShared)
}

// attachWildcard shares an object created or updated with shared=True
// with every project, as upstream's attach_rbac does.
func attachWildcard(t *store.Txn, kind, id, project string) {
	p := &model.RBACPolicy{ID: uuid.NewString(), ProjectID: project, TenantID: project, ObjectType: rbacObjectType(kind),
		ObjectID: id, Action: model.RBACShared, TargetTenant: model.RBACWildcard}
	t.Create(model.KindRBAC, p.ID, mustJSON(p))
}

// deleteRBACOf removes the policies of an object being deleted.
func deleteRBACOf(v *store.View, t *store.Txn, kind, id string) {
	typ := rbacObjectType(kind)
	v.Each(model.KindRBAC, func(e *store.Entry) bool {
		if p, ok := store.As[*model.RBACPolicy](e); ok && p.ObjectType == typ && p.ObjectID == id {
			t.Delete(model.KindRBAC, e)
		}
		return true
	})
}
