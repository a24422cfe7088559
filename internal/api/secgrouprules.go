package api

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Security group rules: protocol names and numbers, port ranges, remote
// prefixes and groups, upstream's bulk rules, create and delete.

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
	viewed, sge, sg, err := a.ruleGroup(v, t, c, req.SecurityGroupID)
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
	r, err := ruleOf(a, sg, project, req)
	if err != nil {
		return "", err
	}
	if err := setRuleRemotes(v, t, c, r, req); err != nil {
		return "", err
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

// ruleGroup finds the security group a new rule goes into: viewed is the
// group as the view has it, sge as this request leaves it so far (a bulk
// create changes it once per rule, written once).
func (a *API) ruleGroup(v *store.View, t *store.Txn, c *reqCtx, id string) (viewed, sge *store.Entry, sg *model.SecurityGroup, err error) {
	viewed, err = a.lookup(v, c, sgDef, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if !c.admin && std(viewed).ProjectID != c.project {
		// Shared through RBAC, a group's rules stay its owner's.
		return nil, nil, nil, sgDef.notFound(viewed.ID)
	}
	sge, _ = t.Get(v, model.KindSG, viewed.ID)
	sg, err = obj[*model.SecurityGroup](sge)
	return viewed, sge, sg, err
}

// ruleOf is the rule a request asks for in sg, but for its remote end:
// direction, ethertype, protocol and ports checked.
func ruleOf(a *API, sg *model.SecurityGroup, project string, req sgRuleReq) (*model.SecurityGroupRule, error) {
	r := &model.SecurityGroupRule{
		Standard:           newStandard(a, project, req.Description, nil),
		SecurityGroupID:    sg.ID,
		BelongsToDefaultSG: sg.Default,
	}
	switch req.Direction {
	case "ingress", "egress":
		r.Direction = req.Direction
	default:
		return nil, invalidInput("'%s' is not in ['ingress', 'egress']", req.Direction)
	}
	r.EtherType = "IPv4"
	if req.EtherType != nil {
		switch strings.ToLower(*req.EtherType) {
		case "ipv4":
		case "ipv6":
			r.EtherType = "IPv6"
		default:
			return nil, newErr(400, "SecurityGroupRuleInvalidEtherType", "Security group rule for ethertype '%s' not supported. Allowed values are ['IPv4', 'IPv6'].", *req.EtherType)
		}
	}
	var err error
	if r.Protocol, err = normalizeProtocol(req.Protocol); err != nil {
		return nil, err
	}
	if r.Protocol != nil && r.EtherType == "IPv4" && slices.Contains(ipv6OnlyProtocols, *r.Protocol) {
		return nil, newErr(400, "SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype %s for protocol %s.", r.EtherType, *r.Protocol)
	}
	r.PortRangeMin, r.PortRangeMax = intOrNil(req.PortRangeMin), intOrNil(req.PortRangeMax)
	if err := validateRulePorts(r); err != nil {
		return nil, err
	}
	return r, nil
}

// intOrNil is a port range bound as the rule stores it.
func intOrNil(o optional[flexInt]) *int {
	if !o.Set || o.Null {
		return nil
	}
	n := int(o.V)
	return &n
}

// setRuleRemotes checks and sets the rule's remote end: at most one of
// an IP prefix, a security group the caller sees and an address group
// the rule's project sees.
func setRuleRemotes(v *store.View, t *store.Txn, c *reqCtx, r *model.SecurityGroupRule, req sgRuleReq) error {
	if err := oneRemote(req); err != nil {
		return err
	}
	if req.RemoteIPPrefix.Set && !req.RemoteIPPrefix.Null {
		if err := setRemoteIPPrefix(r, req.RemoteIPPrefix.V); err != nil {
			return err
		}
	}
	if req.RemoteGroupID.Set && !req.RemoteGroupID.Null {
		rg, ok := v.Get(model.KindSG, req.RemoteGroupID.V)
		if !ok || !sgDef.visible(v, c, rg) {
			return notFound("SecurityGroupNotFound", "Security group %s does not exist", req.RemoteGroupID.V)
		}
		id := rg.ID
		r.RemoteGroupID = &id
	}
	if req.RemoteAddressGroupID.Set && !req.RemoteAddressGroupID.Null {
		// Upstream (check_address_group) looks the group up as the rule's
		// project: its own, or shared with it through RBAC.
		ag, ok := v.Get(model.KindAddressGroup, req.RemoteAddressGroupID.V)
		if !ok || !addressGroupDef.visible(v, &reqCtx{Context: c, admin: false, project: r.ProjectID}, ag) {
			return notFound("AddressGroupNotFound", "Address group %s could not be found.", req.RemoteAddressGroupID.V)
		}
		t.Require(model.KindAddressGroup, ag)
		// A policy removal that would take the group away serializes
		// with this use (rbacindex.go boundProjects).
		t.Serialize("address-group/" + ag.ID)
		id := ag.ID
		r.RemoteAddressGroupID = &id
	}
	return nil
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
