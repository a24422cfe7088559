package api

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

var sgDef = &resourceDef{
	kind: model.KindSG, singular: "security_group", collection: "security_groups", path: "security-groups", tags: true,
	attrs: standardAttrs(map[string]attr{
		"name":                 {typ: 's', post: true, put: true},
		"stateful":             {typ: 'b', post: true, put: true},
		"shared":               {typ: 'b'},
		"security_group_rules": {typ: 'o'},
		"tags":                 {typ: 'o', post: true, nosort: true},
	}),
	internal: []string{"neutrino:default"},
	decode:   decoderOf[model.SecurityGroup](),
	notFound: func(id string) *Error {
		return notFound("SecurityGroupNotFound", "Security group %s does not exist", id)
	},
	visible: func(v *store.View, c *reqCtx, e *store.Entry) bool {
		return c.admin || std(e).ProjectID == c.project || rbacShared(v, c, model.KindSG, e.ID)
	},
	extra:      sgRules,
	deps:       func(v *store.View, e *store.Entry) []*store.Entry { return rulesOf(v, e.ID) },
	beforeRead: func(a *API, c *reqCtx) error { return a.ensureDefaultSGNow(c) },
	create:     createSG,
	update:     updateSG,
	delete:     deleteSG,
}

var sgRuleDef = &resourceDef{
	kind: model.KindSGRule, singular: "security_group_rule", collection: "security_group_rules", path: "security-group-rules",
	attrs: standardAttrs(map[string]attr{
		"security_group_id":       {typ: 's', post: true, required: true},
		"direction":               {typ: 's', post: true, required: true},
		"ethertype":               {typ: 's', post: true},
		"protocol":                {typ: 's', post: true},
		"port_range_min":          {typ: 'i', post: true},
		"port_range_max":          {typ: 'i', post: true},
		"remote_ip_prefix":        {typ: 's', post: true},
		"normalized_cidr":         {typ: 's'},
		"remote_group_id":         {typ: 's', post: true},
		"remote_address_group_id": {typ: 's', post: true},
		"belongs_to_default_sg":   {typ: 'b'},
	}),
	decode: decoderOf[model.SecurityGroupRule](),
	notFound: func(id string) *Error {
		return notFound("SecurityGroupRuleNotFound", "Security group rule %s does not exist", id)
	},
	visible:    sgRuleVisible,
	beforeRead: func(a *API, c *reqCtx) error { return a.ensureDefaultSGNow(c) },
	create:     createSGRule,
	delete:     deleteSGRule,
}

func init() {
	register(sgDef)
	register(sgRuleDef)
}

func sgRuleVisible(v *store.View, c *reqCtx, e *store.Entry) bool {
	if c.admin || std(e).ProjectID == c.project {
		return true
	}
	r, ok := store.As[*model.SecurityGroupRule](e)
	if !ok {
		return false
	}
	_, sg, ok := store.GetAs[*model.SecurityGroup](v, model.KindSG, r.SecurityGroupID)
	return ok && sg.ProjectID == c.project
}

// sgRules embeds a group's rules, as upstream renders them.
func sgRules(v *store.View, e *store.Entry) map[string]any {
	rules := rulesOf(v, e.ID)
	out := make([]json.RawMessage, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.Raw)
	}
	return map[string]any{"security_group_rules": out}
}

// rulesOf returns a group's rules in creation order (id breaks ties:
// a bulk create makes rules of one revision), through the store's index
// of rules by group.
func rulesOf(v *store.View, sgID string) []*store.Entry {
	var out []*store.Entry
	if v.HasIndex(model.KindSGRule, hostview.ByGroup) {
		for _, re := range v.Index(model.KindSGRule, hostview.ByGroup, sgID) {
			out = append(out, re)
		}
	} else {
		v.Each(model.KindSGRule, func(re *store.Entry) bool {
			if r, ok := store.As[*model.SecurityGroupRule](re); ok && r.SecurityGroupID == sgID {
				out = append(out, re)
			}
			return true
		})
	}
	slices.SortFunc(out, byCreation)
	return out
}

// byCreation orders entries as lists do by default.
func byCreation(a, b *store.Entry) int {
	if a.CreateRev != b.CreateRev {
		return cmp.Compare(a.CreateRev, b.CreateRev)
	}
	return strings.Compare(a.ID, b.ID)
}

// defaultSGFor returns the project's default group, creating it in t if
// it does not exist yet.
func (a *API) defaultSGFor(v *store.View, t *store.Txn, project string) (string, error) {
	if id, ok := v.Claim(claims.DefaultSG, project); ok {
		if e, ok := v.Get(model.KindSG, id); ok {
			t.Require(model.KindSG, e)
		}
		return id, nil
	}
	if id, ok := pendingSG(t)[project]; ok {
		return id, nil
	}
	now := model.Stamp(a.now())
	sg := &model.SecurityGroup{
		Standard: model.Standard{ID: uuid.NewString(), ProjectID: project, TenantID: project, Description: "Default security group", RevisionNumber: 1, CreatedAt: now, UpdatedAt: now, Tags: []string{}},
		Name:     "default", Stateful: true, Default: true,
	}
	t.Claim(claims.DefaultSG, project, sg.ID)
	for _, r := range defaultRules(sg, true) {
		t.Create(model.KindSGRule, r.ID, mustJSON(r))
	}
	t.Create(model.KindSG, sg.ID, mustJSON(sg))
	pendingSG(t)[project] = sg.ID
	return sg.ID, nil
}

// pendingKey is this file's private key into Txn.Scratch.
type pendingKey struct{}

// pendingSG is the default groups this transaction creates, by project:
// a bulk create of several resources of one project must share one new
// default group.
func pendingSG(t *store.Txn) map[string]string {
	return t.Scratch(pendingKey{}, func() any { return map[string]string{} }).(map[string]string)
}

func (a *API) ensureDefaultSG(v *store.View, t *store.Txn, project string) error {
	_, err := a.defaultSGFor(v, t, project)
	return err
}

// ensureDefaultSGNow creates the caller's default group when it is
// missing (upstream does this lazily on listing groups and rules).
func (a *API) ensureDefaultSGNow(c *reqCtx) error {
	if c.project == "" {
		return nil
	}
	missing := false
	a.st.View(func(v *store.View) { _, ok := v.Claim(claims.DefaultSG, c.project); missing = !ok })
	if !missing {
		return nil
	}
	_, err := a.st.Update(c, func(v *store.View, t *store.Txn) error {
		if _, ok := v.Claim(claims.DefaultSG, c.project); ok {
			return nil
		}
		return a.ensureDefaultSG(v, t, c.project)
	})
	return err
}

// defaultRules are upstream's initial templates: egress anywhere (v4 and
// v6) for every group, plus ingress from members of the default group.
func defaultRules(sg *model.SecurityGroup, isDefault bool) []*model.SecurityGroupRule {
	var out []*model.SecurityGroupRule
	mk := func(dir, eth string, remoteSelf bool) {
		r := &model.SecurityGroupRule{
			Standard:           model.Standard{ID: uuid.NewString(), ProjectID: sg.ProjectID, TenantID: sg.ProjectID, RevisionNumber: 1, CreatedAt: sg.CreatedAt, UpdatedAt: sg.CreatedAt, Tags: []string{}},
			SecurityGroupID:    sg.ID,
			Direction:          dir,
			EtherType:          eth,
			BelongsToDefaultSG: isDefault,
		}
		if remoteSelf {
			id := sg.ID
			r.RemoteGroupID = &id
		}
		out = append(out, r)
	}
	mk("egress", "IPv4", false)
	mk("egress", "IPv6", false)
	if isDefault {
		mk("ingress", "IPv4", true)
		mk("ingress", "IPv6", true)
	}
	return out
}

type sgReq struct {
	Name        *string   `json:"name"`
	Stateful    *flexBool `json:"stateful"`
	Description *string   `json:"description"`
	ProjectID   string    `json:"project_id"`
	TenantID    string    `json:"tenant_id"`
	Tags        []string  `json:"tags"`
}

func createSG(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req sgReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := checkString("name", req.Name, 255); err != nil {
		return "", err
	}
	if err := checkTags(req.Tags); err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	// Upstream checks the quota before its plugin creates the project's
	// default group: that group never counts against the request.
	uncounted := 0
	if _, pending := pendingSG(t)[project]; pending {
		uncounted = 1 // created by an earlier item of this bulk
	}
	if err := a.checkQuotaUncounted(v, t, project, model.KindSG, 1, uncounted); err != nil {
		return "", err
	}
	if err := a.ensureDefaultSG(v, t, project); err != nil {
		return "", err
	}
	if req.Name != nil && *req.Name == "default" {
		return "", conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	sg := &model.SecurityGroup{Standard: newStandard(a, project, req.Description, req.Tags), Stateful: boolOr(req.Stateful, true)}
	if req.Name != nil {
		sg.Name = *req.Name
	}
	rules := defaultRules(sg, false)
	if err := a.checkQuota(v, t, project, model.KindSGRule, len(rules)); err != nil {
		return "", err
	}
	for _, r := range rules {
		t.Create(model.KindSGRule, r.ID, mustJSON(r))
	}
	t.Create(model.KindSG, sg.ID, mustJSON(sg))
	return sg.ID, nil
}

func updateSG(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req sgReq
	sg, err := updating[model.SecurityGroup](e, body, &req, func() error { return checkString("name", req.Name, 255) })
	if err != nil {
		return err
	}
	if req.Name != nil && *req.Name != sg.Name {
		if sg.Default {
			return conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
		}
		if *req.Name == "default" {
			return conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
		}
		sg.Name = *req.Name
	}
	if req.Description != nil {
		sg.Description = *req.Description
	}
	if req.Stateful != nil && bool(*req.Stateful) != sg.Stateful {
		if owner := sgUser(v, sg.ID); owner != "" {
			return conflict("SecurityGroupInUse", "Security Group %s in use.", sg.ID)
		}
		sg.Stateful = bool(*req.Stateful)
	}
	bump(a, &sg.Standard)
	t.Replace(model.KindSG, e, mustJSON(&sg))
	return nil
}

// sgUser returns a port using the group, or "".
func sgUser(v *store.View, sgID string) string {
	if v.HasIndex(model.KindPort, hostview.ByGroup) {
		for id := range v.Index(model.KindPort, hostview.ByGroup, sgID) {
			return id
		}
		return ""
	}
	found := ""
	v.Each(model.KindPort, func(pe *store.Entry) bool {
		if p, ok := store.As[*model.Port](pe); ok && slices.Contains(p.SecurityGroups, sgID) {
			found = pe.ID
			return false
		}
		return true
	})
	return found
}

func deleteSG(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	sg, err := obj[*model.SecurityGroup](e)
	if err != nil {
		return err
	}
	if sg.Default && !c.admin {
		return conflict("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
	}
	if sgUser(v, sg.ID) != "" {
		return conflict("SecurityGroupInUse", "Security Group %s in use.", sg.ID)
	}
	for _, re := range rulesOf(v, sg.ID) {
		t.Delete(model.KindSGRule, re)
	}
	deleteRBACOf(v, t, model.KindSG, sg.ID)
	if sg.Default {
		t.Release(claims.DefaultSG, sg.ProjectID)
	}
	t.Delete(model.KindSG, e)
	return nil
}
