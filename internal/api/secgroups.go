package api

import (
	"cmp"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
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
	if err := decode(body, &req); err != nil {
		return err
	}
	if err := checkString("name", req.Name, 255); err != nil {
		return err
	}
	curSg, err := obj[*model.SecurityGroup](e)
	if err != nil {
		return err
	}
	sg := *curSg
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

type sgRuleReq struct {
	SecurityGroupID      string            `json:"security_group_id"`
	Direction            string            `json:"direction"`
	EtherType            *string           `json:"ethertype"`
	Protocol             optional[any]     `json:"protocol"`
	PortRangeMin         optional[flexInt] `json:"port_range_min"`
	PortRangeMax         optional[flexInt] `json:"port_range_max"`
	RemoteIPPrefix       optional[string]  `json:"remote_ip_prefix"`
	RemoteGroupID        optional[string]  `json:"remote_group_id"`
	RemoteAddressGroupID optional[string]  `json:"remote_address_group_id"`
	Description          *string           `json:"description"`
	ProjectID            string            `json:"project_id"`
	TenantID             string            `json:"tenant_id"`
}

var protocolNumbers = map[string]int{
	"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "icmpv6": 58, "igmp": 2,
	"ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
	"ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}

// ipv6OnlyProtocols are refused in IPv4 rules, by name or number
// (upstream's _validate_ethertype_and_protocol).
var ipv6OnlyProtocols = []string{"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route", "41", "44", "58", "59", "60", "43"}

// portProtocols take port ranges; icmpProtocols take type/code.
var portProtocols = []string{"tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136"}
var icmpProtocols = []string{"icmp", "icmpv6", "ipv6-icmp", "1", "58"}

func normalizeProtocol(o optional[any]) (*string, error) {
	if !o.Set || o.Null {
		return nil, nil
	}
	var s string
	switch x := o.V.(type) {
	case string:
		s = strings.ToLower(strings.TrimSpace(x))
	case float64:
		s = strconv.Itoa(int(x))
	default:
		return nil, invalidProtocol(o.V)
	}
	if s == "" || s == "any" {
		return nil, nil
	}
	if _, ok := protocolNumbers[s]; ok {
		return &s, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 255 {
		return nil, invalidProtocol(s)
	}
	return &s, nil
}

func invalidProtocol(p any) error {
	names := sortedKeys(protocolNumbers)
	return newErr(400, "SecurityGroupRuleInvalidProtocol", "Security group rule protocol %v not supported. Only protocol values [None, %s] and integer representations [0 to 255] are supported.", p, strings.Join(names, ", "))
}

func createSGRule(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req sgRuleReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	sge, err := a.lookup(v, c, sgDef, req.SecurityGroupID)
	if err != nil {
		return "", err
	}
	if !c.admin && std(sge).ProjectID != c.project {
		// Shared through RBAC, a group's rules stay its owner's.
		return "", sgDef.notFound(sge.ID)
	}
	// The group as this request leaves it (a bulk create changes it once
	// per rule, written once).
	viewed := sge
	sge, _ = t.Get(v, model.KindSG, sge.ID)
	sg, err := obj[*model.SecurityGroup](sge)
	if err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	if req.ProjectID == "" && req.TenantID == "" {
		project = sg.ProjectID
	}
	r := &model.SecurityGroupRule{
		Standard:           newStandard(a, project, req.Description, nil),
		SecurityGroupID:    sg.ID,
		BelongsToDefaultSG: sg.Default,
	}
	switch req.Direction {
	case "ingress", "egress":
		r.Direction = req.Direction
	default:
		return "", invalidInput("'%s' is not in ['ingress', 'egress']", req.Direction)
	}
	r.EtherType = "IPv4"
	if req.EtherType != nil {
		switch strings.ToLower(*req.EtherType) {
		case "ipv4":
		case "ipv6":
			r.EtherType = "IPv6"
		default:
			return "", newErr(400, "SecurityGroupRuleInvalidEtherType", "Security group rule for ethertype '%s' not supported. Allowed values are ['IPv4', 'IPv6'].", *req.EtherType)
		}
	}
	if r.Protocol, err = normalizeProtocol(req.Protocol); err != nil {
		return "", err
	}
	if r.Protocol != nil && r.EtherType == "IPv4" && slices.Contains(ipv6OnlyProtocols, *r.Protocol) {
		return "", newErr(400, "SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype %s for protocol %s.", r.EtherType, *r.Protocol)
	}
	if req.PortRangeMin.Set && !req.PortRangeMin.Null {
		n := int(req.PortRangeMin.V)
		r.PortRangeMin = &n
	}
	if req.PortRangeMax.Set && !req.PortRangeMax.Null {
		n := int(req.PortRangeMax.V)
		r.PortRangeMax = &n
	}
	if err := validateRulePorts(r); err != nil {
		return "", err
	}
	if err := oneRemote(req); err != nil {
		return "", err
	}
	if req.RemoteIPPrefix.Set && !req.RemoteIPPrefix.Null {
		if err := setRemoteIPPrefix(r, req.RemoteIPPrefix.V); err != nil {
			return "", err
		}
	}
	if req.RemoteGroupID.Set && !req.RemoteGroupID.Null {
		rg, ok := v.Get(model.KindSG, req.RemoteGroupID.V)
		if !ok || !sgDef.visible(v, c, rg) {
			return "", notFound("SecurityGroupNotFound", "Security group %s does not exist", req.RemoteGroupID.V)
		}
		id := rg.ID
		r.RemoteGroupID = &id
	}
	if req.RemoteAddressGroupID.Set && !req.RemoteAddressGroupID.Null {
		// Upstream (check_address_group) looks the group up as the rule's
		// project: its own, or shared with it through RBAC.
		ag, ok := v.Get(model.KindAddressGroup, req.RemoteAddressGroupID.V)
		if !ok || !addressGroupDef.visible(v, &reqCtx{Context: c, admin: false, project: project}, ag) {
			return "", notFound("AddressGroupNotFound", "Address group %s could not be found.", req.RemoteAddressGroupID.V)
		}
		t.Require(model.KindAddressGroup, ag)
		// A policy removal that would take the group away serializes
		// with this use (rbacindex.go boundProjects).
		t.Serialize("address-group/" + ag.ID)
		id := ag.ID
		r.RemoteAddressGroupID = &id
	}
	bulk := bulkRules(t)
	if err := bulk.admit(r); err != nil {
		return "", err
	}
	for _, re := range rulesOf(v, sg.ID) {
		if o, ok := store.As[*model.SecurityGroupRule](re); ok && sameRule(o, r) {
			return "", conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", re.ID)
		}
	}
	if err := a.checkQuota(v, t, project, model.KindSGRule, 1); err != nil {
		return "", err
	}
	bulk.rules = append(bulk.rules, r)
	ng := *sg
	if sge == viewed {
		bump(a, &ng.Standard)
	}
	t.Replace(model.KindSG, sge, mustJSON(&ng))
	t.Create(model.KindSGRule, r.ID, mustJSON(r))
	return r.ID, nil
}

// oneRemote refuses a rule with more than one of remote_ip_prefix,
// remote_group_id and remote_address_group_id (upstream's
// _validate_multiple_remote_entites).
func oneRemote(req sgRuleReq) error {
	n := 0
	for _, o := range []optional[string]{req.RemoteIPPrefix, req.RemoteGroupID, req.RemoteAddressGroupID} {
		if o.Set && !o.Null && o.V != "" {
			n++
		}
	}
	if n > 1 {
		return invalidInputType("SecurityGroupMultipleRemoteEntites", "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.")
	}
	return nil
}

// setRemoteIPPrefix sets the rule's remote prefix (an address is a host
// prefix) and its normalized CIDR.
func setRemoteIPPrefix(r *model.SecurityGroupRule, raw string) error {
	pfx, err := netip.ParsePrefix(raw)
	if err != nil {
		addr, aerr := netip.ParseAddr(raw)
		if aerr != nil {
			return invalidInput("'%s' is not a valid IP subnet", raw)
		}
		pfx = netip.PrefixFrom(addr, addr.BitLen())
	}
	if (pfx.Addr().Is4()) != (r.EtherType == "IPv4") {
		return newErr(400, "SecurityGroupRuleParameterConflict", "Conflicting value ethertype %s for CIDR %s", r.EtherType, raw)
	}
	given := pfx.String()
	norm := pfx.Masked().String()
	r.RemoteIPPrefix, r.NormalizedCIDR = &given, &norm
	return nil
}

// ruleBulk is what the earlier items of a security group rule create
// left in the transaction: upstream's native bulk takes rules of one
// group and one project only, and refuses the same rule twice in one
// request.
type ruleBulk struct {
	rules []*model.SecurityGroupRule
}

// admit checks one more rule of the request against the earlier ones.
func (b *ruleBulk) admit(r *model.SecurityGroupRule) error {
	if len(b.rules) > 0 {
		if b.rules[0].SecurityGroupID != r.SecurityGroupID {
			return newErr(400, "SecurityGroupNotSingleGroupRules", "Only allowed to update rules for one security profile at a time")
		}
		if b.rules[0].ProjectID != r.ProjectID {
			return newErr(400, "SecurityGroupRulesNotSingleProject", "Multiple project_ids in bulk security group rule create not allowed")
		}
	}
	for _, o := range b.rules {
		if sameRule(o, r) {
			return conflict("DuplicateSecurityGroupRuleInPost", "Duplicate Security Group Rule in POST.")
		}
	}
	return nil
}

type ruleBulkKey struct{}

func bulkRules(t *store.Txn) *ruleBulk {
	return t.Scratch(ruleBulkKey{}, func() any { return &ruleBulk{} }).(*ruleBulk)
}

func validateRulePorts(r *model.SecurityGroupRule) error {
	min, max := r.PortRangeMin, r.PortRangeMax
	if min == nil && max == nil {
		return nil
	}
	if r.Protocol == nil {
		return newErr(400, "SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.")
	}
	p := *r.Protocol
	switch {
	case slices.Contains(portProtocols, p):
		if min == nil || max == nil || *min > *max {
			return newErr(400, "SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
		}
		for _, n := range []int{*min, *max} {
			if n < 1 || n > 65535 {
				return newErr(400, "SecurityGroupInvalidPortValue", "Invalid value for port %d.", n)
			}
		}
	case slices.Contains(icmpProtocols, p):
		if min == nil && max != nil {
			return newErr(400, "SecurityGroupMissingIcmpType", "ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", *max)
		}
		for name, n := range map[string]*int{"type": min, "code": max} {
			if n != nil && (*n < 0 || *n > 255) {
				return newErr(400, "SecurityGroupInvalidIcmpValue", "Invalid value for ICMP %s (port-range-min/max): %d. It must be 0 to 255.", name, *n)
			}
		}
	default:
		return newErr(400, "SecurityGroupInvalidProtocolForPortRange", "Invalid protocol %s for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.", p)
	}
	return nil
}

func sameRule(a, b *model.SecurityGroupRule) bool {
	eqS := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqI := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Direction == b.Direction && a.EtherType == b.EtherType && eqS(a.Protocol, b.Protocol) &&
		eqI(a.PortRangeMin, b.PortRangeMin) && eqI(a.PortRangeMax, b.PortRangeMax) &&
		eqS(a.NormalizedCIDR, b.NormalizedCIDR) && eqS(a.RemoteGroupID, b.RemoteGroupID) &&
		eqS(a.RemoteAddressGroupID, b.RemoteAddressGroupID)
}

func deleteSGRule(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	r, err := obj[*model.SecurityGroupRule](e)
	if err != nil {
		return err
	}
	if sge, ok := v.Get(model.KindSG, r.SecurityGroupID); ok {
		curNg, err := obj[*model.SecurityGroup](sge)
		if err != nil {
			return err
		}
		ng := *curNg
		bump(a, &ng.Standard)
		t.Replace(model.KindSG, sge, mustJSON(&ng))
	}
	t.Delete(model.KindSGRule, e)
	return nil
}
