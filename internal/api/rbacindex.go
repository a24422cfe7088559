package api

import (
	"slices"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// rbacObjectKinds maps RBAC object types to the store kinds they share
// (no QoS policies: no qos extension).
var rbacObjectKinds = map[string]string{
	"network":        model.KindNetwork,
	"address_group":  model.KindAddressGroup,
	"address_scope":  model.KindAddressScope,
	"subnetpool":     model.KindSubnetPool,
	"security_group": model.KindSG,
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
	attachPolicy(t, kind, id, project, model.RBACShared)
}

// attachPolicy adds a wildcard policy of action on the object.
func attachPolicy(t *store.Txn, kind, id, project, action string) {
	p := &model.RBACPolicy{ID: uuid.NewString(), ProjectID: project, TenantID: project, ObjectType: rbacObjectType(kind),
		ObjectID: id, Action: action, TargetTenant: model.RBACWildcard}
	t.Create(model.KindRBAC, p.ID, mustJSON(p))
	pendingPolicies(t)[p.ID] = p
}

// detachPolicies removes the object's policies of action with target
// (any target when target is "").
func detachPolicies(v *store.View, t *store.Txn, kind, id, action, target string) {
	typ := rbacObjectType(kind)
	v.Each(model.KindRBAC, func(e *store.Entry) bool {
		if p, ok := store.As[*model.RBACPolicy](e); ok && p.ObjectType == typ && p.ObjectID == id && p.Action == action && (target == "" || p.TargetTenant == target) {
			t.Delete(model.KindRBAC, e)
		}
		return true
	})
}

// boundProjects are the projects using an object through its policies
// of action (upstream's get_bound_project_ids), guarding the write
// against a new use committed meanwhile.
func boundProjects(v *store.View, t *store.Txn, kind, id, action string) []string {
	var out []string
	add := func(p string) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	switch kind {
	case model.KindNetwork:
		// Ports, router gateways and floating IPs all take a MAC claim
		// on the network.
		t.NoNewClaims(claims.MAC(id))
		if action == model.RBACExternal {
			v.Each(model.KindRouter, func(e *store.Entry) bool {
				if r, ok := store.As[*model.Router](e); ok && r.ExternalGatewayInfo != nil && r.ExternalGatewayInfo.NetworkID == id {
					add(r.ProjectID)
				}
				return true
			})
			v.Each(model.KindFIP, func(e *store.Entry) bool {
				if f, ok := store.As[*model.FloatingIP](e); ok && f.FloatingNetworkID == id {
					add(f.ProjectID)
				}
				return true
			})
			return out
		}
		for _, pe := range portsOfNetwork(v, id) {
			if p, ok := store.As[*model.Port](pe); ok && !model.AutoDeletedOwner(p.DeviceOwner) {
				add(p.ProjectID)
			}
		}
	case model.KindSG:
		t.Serialize("security-group/" + id)
		v.Each(model.KindPort, func(e *store.Entry) bool {
			if p, ok := store.As[*model.Port](e); ok && slices.Contains(p.SecurityGroups, id) {
				add(p.ProjectID)
			}
			return true
		})
	case model.KindAddressGroup:
		t.Serialize("address-group/" + id)
		v.Each(model.KindSGRule, func(e *store.Entry) bool {
			if r, ok := store.As[*model.SecurityGroupRule](e); ok && r.RemoteAddressGroupID != nil && *r.RemoteAddressGroupID == id {
				add(r.ProjectID)
			}
			return true
		})
	case model.KindAddressScope:
		t.Serialize("address-scope/" + id)
		for _, p := range poolsInScope(v, id) {
			add(p.ProjectID)
		}
	case model.KindSubnetPool:
		t.Serialize("subnetpool-alloc/" + id)
		for _, s := range subnetsOfPool(v, id) {
			add(s.ProjectID)
		}
	}
	return out
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
