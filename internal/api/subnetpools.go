package api

import (
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Subnet pools (subnet_allocation, default-subnetpools, address-scope),
// with upstream's SubnetPoolReader validation and SubnetAllocator
// allocation (subnetalloc.go).
var subnetPoolDef = &resourceDef{
	kind: model.KindSubnetPool, singular: "subnetpool", collection: "subnetpools", path: "subnetpools", tags: true,
	attrs: standardAttrs(map[string]attr{
		"name":              {typ: 's', post: true, put: true, required: true},
		"prefixes":          {typ: 'o', post: true, put: true, required: true, nosort: true},
		"default_quota":     {typ: 'i', post: true, put: true},
		"ip_version":        {typ: 'i'},
		"default_prefixlen": {typ: 's', post: true, put: true},
		"min_prefixlen":     {typ: 'i', post: true, put: true},
		"max_prefixlen":     {typ: 'i', post: true, put: true},
		"is_default":        {typ: 'b', post: true, put: true, adminSet: true, def: false},
		"shared":            {typ: 'b', post: true, adminSet: true, def: false},
		"address_scope_id":  {typ: 's', post: true, put: true},
		"tags":              {typ: 'o', post: true, nosort: true},
	}),
	decode: decoderOf[model.SubnetPool](),
	notFound: func(id string) *Error {
		return notFound("SubnetPoolNotFound", "Subnet pool %s could not be found.", id)
	},
	visible: func(v *store.View, c *reqCtx, e *store.Entry) bool {
		p, ok := store.As[*model.SubnetPool](e)
		return ok && subnetPoolVisible(v, c, p)
	},
	create: createSubnetPool,
	update: updateSubnetPool,
	delete: deleteSubnetPool,
}

func init() { register(subnetPoolDef) }

func subnetPoolVisible(v *store.View, c *reqCtx, p *model.SubnetPool) bool {
	return c.admin || p.ProjectID == c.project || p.Shared || rbacShared(v, c, model.KindSubnetPool, p.ID)
}

type subnetPoolReq struct {
	Name             *string           `json:"name"`
	Prefixes         optional[[]any]   `json:"prefixes"`
	DefaultQuota     optional[flexInt] `json:"default_quota"`
	DefaultPrefixLen *flexInt          `json:"default_prefixlen"`
	MinPrefixLen     *flexInt          `json:"min_prefixlen"`
	MaxPrefixLen     *flexInt          `json:"max_prefixlen"`
	IsDefault        *flexBool         `json:"is_default"`
	Shared           *flexBool         `json:"shared"`
	AddressScopeID   optional[string]  `json:"address_scope_id"`
	Description      *string           `json:"description"`
	ProjectID        string            `json:"project_id"`
	TenantID         string            `json:"tenant_id"`
	Tags             []string          `json:"tags"`
}

func (r *subnetPoolReq) validate() error {
	if r.Name != nil && *r.Name == "" {
		return badRequest("Invalid input for name. Reason: '' Blank strings are not permitted.")
	}
	if err := checkString("name", r.Name, 255); err != nil {
		return err
	}
	if err := checkString("description", r.Description, 255); err != nil {
		return err
	}
	for name, n := range map[string]*flexInt{"default_prefixlen": r.DefaultPrefixLen, "min_prefixlen": r.MinPrefixLen, "max_prefixlen": r.MaxPrefixLen} {
		if n != nil && *n < 0 {
			return badRequest("Invalid input for %s. Reason: '%d' should be non-negative.", name, int(*n))
		}
	}
	if r.DefaultQuota.Set && !r.DefaultQuota.Null && r.DefaultQuota.V < 0 {
		return badRequest("Invalid input for default_quota. Reason: '%d' should be non-negative.", int(r.DefaultQuota.V))
	}
	return checkTags(r.Tags)
}

// poolPrefixes validates given prefixes (type:subnet_list) and returns
// them compacted, with their IP version.
func poolPrefixes(items []any) ([]string, int, error) {
	given, err := validateCIDRList("prefixes", items)
	if err != nil {
		return nil, 0, err
	}
	if len(given) == 0 {
		return nil, 0, newErr(400, "EmptySubnetPoolPrefixList", "Empty subnet pool prefix list.")
	}
	version := 0
	var ps []netip.Prefix
	for _, s := range given {
		p := netip.MustParsePrefix(s)
		v := ipam.Version(p.Addr())
		if version != 0 && v != version {
			return nil, 0, newErr(400, "PrefixVersionMismatch", "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")
		}
		version = v
		ps = append(ps, p)
	}
	return prefixStrings(ipam.Compact(ps)), version, nil
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func parsePrefixes(ss []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// checkPrefixBounds is upstream's SubnetPoolHelper validation.
func checkPrefixBounds(p *model.SubnetPool) error {
	bits := 32
	if p.IPVersion == 6 {
		bits = 128
	}
	bad := func(typ string, n int, base string, bn int) error {
		return newErr(400, "IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: %s=%d, %s=%d.", typ, n, base, bn)
	}
	lo, hi, def := int(p.MinPrefixLen), int(p.MaxPrefixLen), int(p.DefaultPrefixLen)
	switch {
	case lo > hi:
		return bad("min_prefixlen", lo, "max_prefixlen", hi)
	case hi > bits:
		return bad("max_prefixlen", hi, "ip_version_max", bits)
	case def < lo:
		return bad("default_prefixlen", def, "min_prefixlen", lo)
	case def > hi:
		return bad("default_prefixlen", def, "max_prefixlen", hi)
	}
	return nil
}

func createSubnetPool(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req subnetPoolReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := req.validate(); err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	prefixes, version, err := poolPrefixes(req.Prefixes.V)
	if err != nil {
		return "", err
	}
	if err := a.checkQuota(v, t, project, model.KindSubnetPool, 1); err != nil {
		return "", err
	}
	p := &model.SubnetPool{Standard: newStandard(a, project, req.Description, req.Tags), Prefixes: prefixes, IPVersion: version,
		IsDefault: boolOr(req.IsDefault, false), Shared: boolOr(req.Shared, false)}
	p.Name = *req.Name
	p.MinPrefixLen, p.MaxPrefixLen = 8, 32
	if version == 6 {
		p.MinPrefixLen, p.MaxPrefixLen = 64, 128
	}
	if req.MinPrefixLen != nil {
		p.MinPrefixLen = model.PrefixLen(*req.MinPrefixLen)
	}
	if req.MaxPrefixLen != nil {
		p.MaxPrefixLen = model.PrefixLen(*req.MaxPrefixLen)
	}
	p.DefaultPrefixLen = p.MinPrefixLen
	if req.DefaultPrefixLen != nil {
		p.DefaultPrefixLen = model.PrefixLen(*req.DefaultPrefixLen)
	}
	if req.DefaultQuota.Set && !req.DefaultQuota.Null {
		q := int(req.DefaultQuota.V)
		p.DefaultQuota = &q
	}
	if err := checkPrefixBounds(p); err != nil {
		return "", err
	}
	if p.IsDefault {
		if err := checkNoDefaultPool(v, t, p); err != nil {
			return "", err
		}
	}
	if req.AddressScopeID.Set && !req.AddressScopeID.Null {
		id := req.AddressScopeID.V
		p.AddressScopeID = &id
		if err := checkScopeAssociation(v, t, c, p); err != nil {
			return "", err
		}
	}
	t.Create(model.KindSubnetPool, p.ID, mustJSON(p))
	if p.Shared {
		attachWildcard(t, model.KindSubnetPool, p.ID, project)
	}
	return p.ID, nil
}

// checkNoDefaultPool refuses a second default pool of one IP version.
func checkNoDefaultPool(v *store.View, t *store.Txn, p *model.SubnetPool) error {
	taken := false
	v.Each(model.KindSubnetPool, func(e *store.Entry) bool {
		if o, ok := store.As[*model.SubnetPool](e); ok && o.ID != p.ID && o.IsDefault && o.IPVersion == p.IPVersion {
			taken = true
		}
		return !taken
	})
	if taken {
		return invalidInput("A default subnetpool for this IP family has already been set. Only one default may exist per IP family")
	}
	// Two requests racing to become the default serialize here.
	t.Serialize("default-subnetpool/" + itoa(p.IPVersion))
	return nil
}

// checkScopeAssociation is upstream's _validate_address_scope_id: the
// scope must be one the caller may use, of the pool's IP version, and
// the pools of a scope never share an address.
func checkScopeAssociation(v *store.View, t *store.Txn, c *reqCtx, p *model.SubnetPool) error {
	id := *p.AddressScopeID
	if _, err := uuid.Parse(id); err != nil {
		return badRequest("Invalid input for address_scope_id. Reason: '%s' is not a valid UUID.", id)
	}
	se, err := lookupAs(v, c, addressScopeDef, id)
	if err != nil {
		return err
	}
	scope, err := obj[*model.AddressScope](se)
	if err != nil {
		return err
	}
	t.Require(model.KindAddressScope, se)
	if scope.IPVersion != p.IPVersion {
		return newErr(400, "IllegalSubnetPoolIpVersionAssociationToAddressScope", "Illegal subnetpool association: subnetpool %s cannot associate with address scope %s because subnetpool ip_version is not %d.", p.ID, id, scope.IPVersion)
	}
	if err := checkScopeNetworkAffinity(v, p); err != nil {
		return err
	}
	mine := parsePrefixes(p.Prefixes)
	for _, o := range poolsInScope(v, id) {
		if o.ID != p.ID && ipam.Intersects(mine, parsePrefixes(o.Prefixes)) {
			return conflict("AddressScopePrefixConflict", "Failed to associate address scope: subnetpools within an address scope must have unique prefixes.")
		}
	}
	// Concurrent associations to one scope serialize, so that two pools
	// with overlapping prefixes cannot both join it.
	t.Serialize("address-scope/" + id)
	return nil
}

// lookupAs is lookup for a reference given in a request body.
func lookupAs(v *store.View, c *reqCtx, d *resourceDef, id string) (*store.Entry, error) {
	e, ok := v.Get(d.kind, id)
	if !ok || !d.visible(v, c, e) {
		return nil, d.notFound(id)
	}
	return e, nil
}

// checkScopeNetworkAffinity refuses re-scoping a pool whose subnets share
// a network with subnets of the same family not from the pool (upstream's
// NetworkAddressScopeAffinityError).
func checkScopeNetworkAffinity(v *store.View, p *model.SubnetPool) error {
	nets := map[string]bool{}
	for _, s := range subnetsOfPool(v, p.ID) {
		nets[s.NetworkID] = true
	}
	bad := false
	v.Each(model.KindSubnet, func(e *store.Entry) bool {
		s, ok := store.As[*model.Subnet](e)
		if ok && nets[s.NetworkID] && s.IPVersion == p.IPVersion && (s.SubnetPoolID == nil || *s.SubnetPoolID != p.ID) {
			bad = true
		}
		return !bad
	})
	if bad {
		return newErr(400, "NetworkAddressScopeAffinityError", "Subnets of the same address family hosted on the same network must all participate in the same address scope.")
	}
	return nil
}

func subnetsOfPool(v *store.View, poolID string) []*model.Subnet {
	var out []*model.Subnet
	v.Each(model.KindSubnet, func(e *store.Entry) bool {
		if s, ok := store.As[*model.Subnet](e); ok && s.SubnetPoolID != nil && *s.SubnetPoolID == poolID {
			out = append(out, s)
		}
		return true
	})
	return out
}

func updateSubnetPool(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req subnetPoolReq
	if err := decode(body, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	cur, err := obj[*model.SubnetPool](e)
	if err != nil {
		return err
	}
	p := *cur
	if cur.AddressScopeID != nil && !c.admin {
		// _check_subnetpool_update_allowed: a pool in a scope of another
		// project (shared with it) is frozen for its owner.
		if se, ok := v.Get(model.KindAddressScope, *cur.AddressScopeID); ok && std(se).ProjectID != c.project {
			return newErr(400, "IllegalSubnetPoolUpdate", "Illegal subnetpool update : subnetpool %s cannot be updated when associated with shared address scope %s.", p.ID, *cur.AddressScopeID)
		}
	}
	if err := applyPoolUpdate(&p, req); err != nil {
		return err
	}
	if p.IsDefault && !cur.IsDefault {
		if err := checkNoDefaultPool(v, t, &p); err != nil {
			return err
		}
	}
	if p.AddressScopeID != nil {
		if err := checkScopeAssociation(v, t, c, &p); err != nil {
			return err
		}
	}
	bump(a, &p.Standard)
	t.Replace(model.KindSubnetPool, e, mustJSON(&p))
	if !sameScope(cur.AddressScopeID, p.AddressScopeID) {
		return a.rescopeNetworks(v, t, &p)
	}
	return nil
}

func sameScope(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// applyPoolUpdate merges an update into the pool: prefixes may only grow
// (IllegalSubnetPoolPrefixUpdate), bounds are checked again as a whole.
func applyPoolUpdate(p *model.SubnetPool, req subnetPoolReq) error {
	if req.Name != nil {
		p.Name = *req.Name
	}
	if req.Description != nil {
		p.Description = *req.Description
	}
	if req.Prefixes.Set {
		prefixes, version, err := poolPrefixes(req.Prefixes.V)
		if err != nil {
			return err
		}
		if version != p.IPVersion {
			return newErr(400, "PrefixVersionMismatch", "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")
		}
		if !ipam.Covers(parsePrefixes(prefixes), parsePrefixes(p.Prefixes)) {
			return newErr(400, "IllegalSubnetPoolPrefixUpdate", "Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.")
		}
		p.Prefixes = prefixes
	}
	for _, f := range []struct {
		n   *flexInt
		dst *model.PrefixLen
	}{{req.MinPrefixLen, &p.MinPrefixLen}, {req.MaxPrefixLen, &p.MaxPrefixLen}, {req.DefaultPrefixLen, &p.DefaultPrefixLen}} {
		if f.n != nil {
			*f.dst = model.PrefixLen(*f.n)
		}
	}
	if req.DefaultQuota.Set {
		p.DefaultQuota = nil
		if !req.DefaultQuota.Null {
			q := int(req.DefaultQuota.V)
			p.DefaultQuota = &q
		}
	}
	if req.IsDefault != nil {
		p.IsDefault = bool(*req.IsDefault)
	}
	if req.AddressScopeID.Set {
		p.AddressScopeID = nil
		if !req.AddressScopeID.Null && req.AddressScopeID.V != "" {
			id := req.AddressScopeID.V
			p.AddressScopeID = &id
		}
	}
	return checkPrefixBounds(p)
}

func deleteSubnetPool(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	if len(subnetsOfPool(v, e.ID)) > 0 {
		return newErr(400, "SubnetPoolDeleteError", "Unable to delete subnet pool: Subnet pool has existing allocations.")
	}
	// Allocations serialize with this delete (subnetalloc.go): one
	// committed after the view was taken makes this attempt re-plan.
	t.Serialize("subnetpool-alloc/" + e.ID)
	deleteRBACOf(v, t, model.KindSubnetPool, e.ID)
	t.Delete(model.KindSubnetPool, e)
	return nil
}

// validateCIDRList is upstream's type:subnet_list: CIDRs with their
// prefix length written, no duplicates.
func validateCIDRList(attr string, items []any) ([]string, error) {
	var out []string
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, badRequest("Invalid input for %s. Reason: '%v' is not a valid IP subnet.", attr, it)
		}
		if _, err := netip.ParsePrefix(s); err != nil || !strings.Contains(s, "/") {
			return nil, badRequest("Invalid input for %s. Reason: '%s' is not a valid IP subnet.", attr, s)
		}
		for _, prev := range items[:i] {
			if prev == it {
				return nil, badRequest("Invalid input for %s. Reason: Duplicate items in the list: '%s'.", attr, s)
			}
		}
		out = append(out, s)
	}
	return out, nil
}
