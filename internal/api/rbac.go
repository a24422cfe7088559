package api

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// RBAC policies (rbac-policies, rbac-address-scope, rbac-subnetpool,
// rbac-address-group, rbac-security-groups): an object's owner (or an admin) shares it with
// one project or all ("*"). Upstream gives policies no standard
// attributes; only their maker (and admins) sees them.
var rbacDef = &resourceDef{
	kind: model.KindRBAC, singular: "rbac_policy", collection: "rbac_policies", path: "rbac-policies",
	attrs: map[string]attr{
		"id":            {typ: 's'},
		"project_id":    {typ: 's', post: true},
		"tenant_id":     {typ: 's', post: true},
		"object_type":   {typ: 's', post: true, required: true},
		"object_id":     {typ: 's', post: true, required: true},
		"action":        {typ: 's', post: true, required: true},
		"target_tenant": {typ: 's', post: true, put: true, required: true},
	},
	decode: decoderOf[model.RBACPolicy](),
	notFound: func(id string) *Error {
		return notFound("RbacPolicyNotFound", "RBAC policy of type unknown with ID %s not found", id)
	},
	visible: func(v *store.View, c *reqCtx, e *store.Entry) bool { return c.admin || std(e).ProjectID == c.project },
	create:  createRBAC,
	update:  updateRBAC,
	delete:  deleteRBAC,
}

func init() { register(rbacDef) }

type rbacReq struct {
	ObjectType   *string `json:"object_type"`
	ObjectID     *string `json:"object_id"`
	Action       *string `json:"action"`
	TargetTenant *string `json:"target_tenant"`
	ProjectID    string  `json:"project_id"`
	TenantID     string  `json:"tenant_id"`
}

// checkTarget validates target_tenant (a string of at most 255).
func checkTarget(s *string) error {
	if s == nil {
		return badRequest("Invalid input for target_tenant. Reason: 'None' is not a valid string.")
	}
	if len(*s) > 255 {
		return badRequest("Invalid input for target_tenant. Reason: '%s' exceeds maximum length of 255.", *s)
	}
	return nil
}

func createRBAC(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req rbacReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := checkTarget(req.TargetTenant); err != nil {
		return "", err
	}
	typ, objID, action := deref(req.ObjectType), deref(req.ObjectID), deref(req.Action)
	kind, ok := rbacObjectKinds[typ]
	if !ok {
		return "", badRequest("Invalid input for object_type. Reason: '%s' is not in %s.", typ, pyList(sortedKeys(rbacObjectKinds)))
	}
	if action != model.RBACShared && action != model.RBACExternal {
		return "", badRequest("Invalid input for action. Reason: '%s' is not in ['access_as_external', 'access_as_shared'].", action)
	}
	if action == model.RBACExternal && kind != model.KindNetwork {
		return "", newErr(400, "InvalidActionForType", "Invalid action '%s' for object type '%s'. Valid actions: ['access_as_shared']", action, typ)
	}
	if *req.TargetTenant == model.RBACWildcard && !c.admin {
		return "", policyDenied("create_rbac_policy:target_tenant")
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	oe, err := rbacObject(v, t, c, kind, objID)
	if err != nil {
		return "", err
	}
	if err := checkPoolScopeReach(v, kind, oe, *req.TargetTenant); err != nil {
		return "", err
	}
	pol := &model.RBACPolicy{ID: uuid.NewString(), ProjectID: project, TenantID: project, ObjectType: typ, ObjectID: objID, Action: action, TargetTenant: *req.TargetTenant}
	// Policy changes on one object serialize: two racing duplicates
	// cannot both pass the check below.
	t.Serialize("rbac/" + typ + "/" + objID)
	cur := objectPolicies(v, t, typ, objID)
	for _, o := range cur {
		if o.Action == pol.Action && o.TargetTenant == pol.TargetTenant {
			return "", conflict("DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
		}
	}
	if err := a.checkQuota(v, t, project, model.KindRBAC, 1); err != nil {
		return "", err
	}
	t.Create(model.KindRBAC, pol.ID, mustJSON(pol))
	pendingPolicies(t)[pol.ID] = pol
	return pol.ID, a.syncShared(v, t, kind, oe, append(cur, pol))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// rbacObject finds the object a policy is about: missing is the kind's
// 404; a project may only manage policies on objects it owns (upstream's
// InvalidInput "Only admins can manipulate policies on objects they do
// not own").
func rbacObject(v *store.View, t *store.Txn, c *reqCtx, kind, id string) (*store.Entry, error) {
	oe, ok := t.Get(v, kind, id)
	if !ok {
		return nil, resources[kind].notFound(id)
	}
	if !c.admin && std(oe).ProjectID != c.project {
		return nil, invalidInput("Only admins can manipulate policies on objects they do not own")
	}
	return oe, nil
}

// pendingPoliciesKey is this file's key into Txn.Scratch: the policies a
// bulk create made so far (not in the view yet).
type pendingPoliciesKey struct{}

func pendingPolicies(t *store.Txn) map[string]*model.RBACPolicy {
	return t.Scratch(pendingPoliciesKey{}, func() any { return map[string]*model.RBACPolicy{} }).(map[string]*model.RBACPolicy)
}

// objectPolicies returns the policies on an object, with those created
// earlier in this transaction.
func objectPolicies(v *store.View, t *store.Txn, typ, id string) []*model.RBACPolicy {
	var out []*model.RBACPolicy
	v.Each(model.KindRBAC, func(e *store.Entry) bool {
		if p, ok := store.As[*model.RBACPolicy](e); ok && p.ObjectType == typ && p.ObjectID == id {
			out = append(out, p)
		}
		return true
	})
	for _, p := range pendingPolicies(t) {
		if p.ObjectType == typ && p.ObjectID == id {
			out = append(out, p)
		}
	}
	return out
}

func updateRBAC(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req rbacReq
	if err := decode(body, &req); err != nil {
		return err
	}
	if err := checkTarget(req.TargetTenant); err != nil {
		return err
	}
	cur, err := obj[*model.RBACPolicy](e)
	if err != nil {
		return err
	}
	if *req.TargetTenant == cur.TargetTenant {
		return nil
	}
	if *req.TargetTenant == model.RBACWildcard && !c.admin {
		return policyDenied("update_rbac_policy:target_tenant")
	}
	kind := rbacObjectKinds[cur.ObjectType]
	oe, err := rbacObject(v, t, c, kind, cur.ObjectID)
	if err != nil {
		return err
	}
	if err := checkPoolScopeReach(v, kind, oe, *req.TargetTenant); err != nil {
		return err
	}
	t.Serialize("rbac/" + cur.ObjectType + "/" + cur.ObjectID)
	p := *cur
	p.TargetTenant = *req.TargetTenant
	after := replacePolicy(objectPolicies(v, t, cur.ObjectType, cur.ObjectID), cur.ID, &p)
	for _, o := range after {
		if o.ID != p.ID && o.Action == p.Action && o.TargetTenant == p.TargetTenant {
			return conflict("DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
		}
	}
	if p.TargetTenant != model.RBACWildcard {
		// Narrowing the policy removes the old target's access.
		if err := checkRemoval(v, t, kind, oe, cur, after); err != nil {
			return err
		}
	}
	t.Replace(model.KindRBAC, e, mustJSON(&p))
	return a.syncShared(v, t, kind, oe, after)
}

func replacePolicy(ps []*model.RBACPolicy, id string, with *model.RBACPolicy) []*model.RBACPolicy {
	out := slices.DeleteFunc(slices.Clone(ps), func(p *model.RBACPolicy) bool { return p.ID == id })
	if with != nil {
		out = append(out, with)
	}
	return out
}

func deleteRBAC(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	cur, err := obj[*model.RBACPolicy](e)
	if err != nil {
		return err
	}
	kind := rbacObjectKinds[cur.ObjectType]
	oe, ok := t.Get(v, kind, cur.ObjectID)
	if !ok {
		t.Delete(model.KindRBAC, e)
		return nil
	}
	t.Serialize("rbac/" + cur.ObjectType + "/" + cur.ObjectID)
	after := replacePolicy(objectPolicies(v, t, cur.ObjectType, cur.ObjectID), cur.ID, nil)
	if err := checkRemoval(v, t, kind, oe, cur, after); err != nil {
		return err
	}
	t.Delete(model.KindRBAC, e)
	return a.syncShared(v, t, kind, oe, after)
}

// checkRemoval is upstream's _validate_rbac_policy_delete: a project
// that uses the object (bound to it) must keep access through another
// policy; removing a project's own object's self-share is always fine.
func checkRemoval(v *store.View, t *store.Txn, kind string, oe *store.Entry, gone *model.RBACPolicy, after []*model.RBACPolicy) error {
	owner := std(oe).ProjectID
	if gone.TargetTenant == owner {
		return nil
	}
	if kind == model.KindNetwork && gone.Action == model.RBACExternal && gone.TargetTenant == model.RBACWildcard {
		if n, ok := store.As[*model.Network](oe); ok && n.IsDefault {
			return conflict("RbacPolicyInUse", "RBAC policy on object %s cannot be removed because other objects depend on it.\nDetails: Default external networks must be shared to everyone.", oe.ID)
		}
	}
	covered := func(project string) bool {
		for _, p := range after {
			if p.Action == gone.Action && (p.TargetTenant == model.RBACWildcard || p.TargetTenant == project) {
				return true
			}
		}
		return false
	}
	for _, b := range boundProjects(v, t, kind, oe.ID, gone.Action) {
		if b == owner || (gone.TargetTenant != model.RBACWildcard && b != gone.TargetTenant) {
			continue
		}
		if !covered(b) {
			return conflict("RbacPolicyInUse", "RBAC policy on object %s cannot be removed because other objects depend on it.\nDetails: project_id=%s", oe.ID, gone.TargetTenant)
		}
	}
	return nil
}

// syncShared records an object's policies on it: a network's target
// lists and flags (its revision bumps, as upstream's), the shared flag
// of scopes and pools.
func (a *API) syncShared(v *store.View, t *store.Txn, kind string, oe *store.Entry, ps []*model.RBACPolicy) error {
	targets := func(action string) []string {
		var out []string
		for _, p := range ps {
			if p.Action == action && !slices.Contains(out, p.TargetTenant) {
				out = append(out, p.TargetTenant)
			}
		}
		slices.Sort(out)
		return out
	}
	if kind == model.KindNetwork {
		if cur, ok := store.As[*model.Network](oe); ok {
			ps = legacyWildcards(t, cur, ps)
		}
	}
	shared := slices.Contains(targets(model.RBACShared), model.RBACWildcard)
	switch kind {
	case model.KindNetwork:
		cur, err := obj[*model.Network](oe)
		if err != nil {
			return err
		}
		n := *cur
		n.SharedWith, n.ExternalTo = targets(model.RBACShared), targets(model.RBACExternal)
		n.Shared, n.External = shared, len(n.ExternalTo) > 0
		bump(a, &n.Standard)
		t.Replace(model.KindNetwork, oe, mustJSON(&n))
	case model.KindSubnetPool:
		cur, err := obj[*model.SubnetPool](oe)
		if err != nil || cur.Shared == shared {
			return err
		}
		p := *cur
		p.Shared = shared
		bump(a, &p.Standard)
		t.Replace(model.KindSubnetPool, oe, mustJSON(&p))
	case model.KindSG:
		cur, err := obj[*model.SecurityGroup](oe)
		if err != nil || cur.Shared == shared {
			return err
		}
		g := *cur
		g.Shared = shared
		bump(a, &g.Standard)
		t.Replace(model.KindSG, oe, mustJSON(&g))
	case model.KindAddressScope:
		cur, err := obj[*model.AddressScope](oe)
		if err != nil || cur.Shared == shared {
			return err
		}
		s := *cur
		s.Shared = shared
		t.Replace(model.KindAddressScope, oe, mustJSON(&s))
	}
	return nil
}

// checkPoolScopeReach refuses sharing a subnet pool with a project that
// cannot use the pool's address scope (upstream's subnetpool RBAC
// validation).
func checkPoolScopeReach(v *store.View, kind string, oe *store.Entry, target string) error {
	if kind != model.KindSubnetPool {
		return nil
	}
	p, ok := store.As[*model.SubnetPool](oe)
	if !ok || p.AddressScopeID == nil {
		return nil
	}
	_, s, ok := store.GetAs[*model.AddressScope](v, model.KindAddressScope, *p.AddressScopeID)
	if !ok || s.Shared || s.ProjectID == target {
		return nil
	}
	for _, o := range rbacPolicies(v, model.KindAddressScope, s.ID) {
		if o.Action == model.RBACShared && (o.TargetTenant == model.RBACWildcard || o.TargetTenant == target) {
			return nil
		}
	}
	return invalidInput("Subnetpool %s is associated with address scope %s, which is not shared with project %s", p.ID, s.ID, target)
}

// legacyWildcards gives a network stored before RBAC policies existed
// (shared or external with no target list) the wildcard policies its
// flags stood for, the first time a policy on it changes, so that the
// change does not silently unshare it.
func legacyWildcards(t *store.Txn, n *model.Network, ps []*model.RBACPolicy) []*model.RBACPolicy {
	for _, l := range []struct {
		flag    bool
		targets []string
		action  string
	}{{n.Shared, n.SharedWith, model.RBACShared}, {n.External, n.ExternalTo, model.RBACExternal}} {
		if !l.flag || len(l.targets) > 0 || slices.ContainsFunc(ps, func(p *model.RBACPolicy) bool {
			return p.Action == l.action && p.TargetTenant == model.RBACWildcard
		}) {
			continue
		}
		p := &model.RBACPolicy{ID: uuid.NewString(), ProjectID: n.ProjectID, TenantID: n.ProjectID, ObjectType: "network",
			ObjectID: n.ID, Action: l.action, TargetTenant: model.RBACWildcard}
		t.Create(model.KindRBAC, p.ID, mustJSON(p))
		ps = append(ps, p)
	}
	return ps
}
