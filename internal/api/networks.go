package api

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

var networkDef = &resourceDef{
	kind: model.KindNetwork, singular: "network", collection: "networks", path: "networks", tags: true,
	attrs: standardAttrs(map[string]attr{
		"name":                      {typ: 's', post: true, put: true},
		"admin_state_up":            {typ: 'b', post: true, put: true},
		"status":                    {typ: 's'},
		"subnets":                   {typ: 'l', nosort: true},
		"shared":                    {typ: 'b', post: true, put: true, adminSet: true, def: false},
		"router:external":           {typ: 'b', post: true, put: true, adminSet: true, def: false},
		"provider:network_type":     {typ: 's', post: true, adminSet: true},
		"provider:physical_network": {typ: 's', post: true, adminSet: true},
		"provider:segmentation_id":  {typ: 'i', post: true, adminSet: true},
		"mtu":                       {typ: 'i', post: true, put: true},
		"port_security_enabled":     {typ: 'b', post: true, put: true},
		"availability_zone_hints":   {typ: 'o', post: true},
		"availability_zones":        {typ: 'o'},
		"ipv4_address_scope":        {typ: 's'},
		"ipv6_address_scope":        {typ: 's'},
		"l2_adjacency":              {typ: 'b'},
		"is_default":                {typ: 'b', post: true, put: true, adminSet: true, def: false},
		"tags":                      {typ: 'o', post: true, nosort: true},
	}),
	hidden:   []string{"provider:network_type", "provider:physical_network", "provider:segmentation_id"},
	internal: []string{"neutrino:shared_with", "neutrino:external_to"},
	decode:   decoderOf[model.Network](),
	notFound: func(id string) *Error { return notFound("NetworkNotFound", "Network %s could not be found.", id) },
	visible: func(v *store.View, c *reqCtx, e *store.Entry) bool {
		n, ok := store.As[*model.Network](e)
		return ok && networkVisible(c, n)
	},
	callerAttrs: networkCallerAttrs,
	extra:       boundZones(model.KindDHCPBinding),
	deps:        bindingDeps(model.KindDHCPBinding),
	create:      createNetwork,
	update:      updateNetwork,
	delete:      deleteNetwork,
}

func init() { register(networkDef) }

// networkVisible: owners and admins see a network, and the projects it
// is shared with or external to (RBAC policies, rbac.go).
func networkVisible(c *reqCtx, n *model.Network) bool {
	return c.admin || n.ProjectID == c.project || n.SharedTo(c.project) || n.ExternalFor(c.project)
}

// networkCallerAttrs: "shared" says whether the network is shared with
// the caller's project, by a wildcard or by a policy targeting it, as
// upstream's _is_network_shared (so the target of an access_as_shared
// policy sees shared: true and the owner does not).
func networkCallerAttrs(c *reqCtx, e *store.Entry) map[string]any {
	n, ok := store.As[*model.Network](e)
	if !ok || n.Shared || c.project == "" || !slices.Contains(n.SharedWith, c.project) {
		return nil
	}
	return map[string]any{"shared": true}
}

type networkReq struct {
	Name                  *string           `json:"name"`
	AdminStateUp          *flexBool         `json:"admin_state_up"`
	Shared                *flexBool         `json:"shared"`
	External              *flexBool         `json:"router:external"`
	NetworkType           *string           `json:"provider:network_type"`
	PhysicalNetwork       optional[string]  `json:"provider:physical_network"`
	SegmentationID        optional[flexInt] `json:"provider:segmentation_id"`
	PortSecurityEnabled   *flexBool         `json:"port_security_enabled"`
	AvailabilityZoneHints []string          `json:"availability_zone_hints"`
	IsDefault             *flexBool         `json:"is_default"`
	MTU                   *flexInt          `json:"mtu"`
	Description           *string           `json:"description"`
	ProjectID             string            `json:"project_id"`
	TenantID              string            `json:"tenant_id"`
	Tags                  []string          `json:"tags"`
}

func (r *networkReq) validate() error {
	if err := checkString("name", r.Name, 255); err != nil {
		return err
	}
	if err := checkString("description", r.Description, 255); err != nil {
		return err
	}
	return checkTags(r.Tags)
}

func checkString(name string, s *string, max int) error {
	if s != nil && len(*s) > max {
		return invalidInput("'%s' exceeds maximum length of %d", *s, max)
	}
	return nil
}

func boolOr(b *flexBool, def bool) bool {
	if b == nil {
		return def
	}
	return bool(*b)
}

func newStandard(a *API, project string, description *string, tags []string) model.Standard {
	now := model.Stamp(a.now())
	s := model.Standard{ID: uuid.NewString(), ProjectID: project, TenantID: project, RevisionNumber: 1, CreatedAt: now, UpdatedAt: now, Tags: []string{}}
	if description != nil {
		s.Description = *description
	}
	if tags != nil {
		s.Tags = dedupTags(tags)
	}
	return s
}

// bump records a change of a stored resource: revision and updated_at.
func bump(a *API, s *model.Standard) {
	s.RevisionNumber++
	s.UpdatedAt = model.Stamp(a.now())
}

func mustJSON(v any) []byte { return model.MustJSON(v) }

func createNetwork(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req networkReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := req.validate(); err != nil {
		return "", err
	}
	if err := a.checkZoneHints(v, "network", req.AvailabilityZoneHints); err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	if err := a.checkQuota(v, t, project, model.KindNetwork, 1); err != nil {
		return "", err
	}
	n := &model.Network{
		Standard:              newStandard(a, project, req.Description, req.Tags),
		AdminStateUp:          boolOr(req.AdminStateUp, true),
		Status:                "ACTIVE",
		Subnets:               []string{},
		Shared:                boolOr(req.Shared, false),
		External:              boolOr(req.External, false),
		PortSecurityEnabled:   boolOr(req.PortSecurityEnabled, true),
		AvailabilityZoneHints: req.AvailabilityZoneHints,
		AvailabilityZones:     []string{},
		L2Adjacency:           true,
		IsDefault:             boolOr(req.IsDefault, false),
	}
	if n.AvailabilityZoneHints == nil {
		n.AvailabilityZoneHints = []string{}
	}
	if req.Name != nil {
		n.Name = *req.Name
	}
	seg, err := a.segments.requested(req)
	if err != nil {
		return "", err
	}
	if seg == nil {
		seg, err = a.segments.allocateTenant(v, t)
	} else {
		seg, err = a.segments.claimProvider(v, t, *seg)
	}
	if err != nil {
		return "", err
	}
	if seg.NetworkType != "local" {
		t.Claim(seg.group(), seg.member(), n.ID)
	}
	n.NetworkType = seg.NetworkType
	if seg.PhysicalNetwork != "" {
		p := seg.PhysicalNetwork
		n.PhysicalNetwork = &p
	}
	if seg.SegmentationID != 0 {
		id := seg.SegmentationID
		n.SegmentationID = &id
	}
	n.MTU = a.segments.mtu(seg.NetworkType)
	if req.MTU != nil {
		if err := a.checkMTU(v, n, int(*req.MTU)); err != nil {
			return "", err
		}
		n.MTU = int(*req.MTU)
	}
	if err := a.ensureDefaultSG(v, t, project); err != nil {
		return "", err
	}
	// Upstream keeps shared and router:external as wildcard RBAC
	// policies.
	if n.Shared {
		attachPolicy(t, model.KindNetwork, n.ID, project, model.RBACShared)
		n.SharedWith = []string{model.RBACWildcard}
	}
	if n.External {
		attachPolicy(t, model.KindNetwork, n.ID, project, model.RBACExternal)
		n.ExternalTo = []string{model.RBACWildcard}
	}
	t.Create(model.KindNetwork, n.ID, mustJSON(n))
	return n.ID, nil
}

func updateNetwork(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req networkReq
	n, err := updating[model.Network](e, body, &req, req.validate)
	if err != nil {
		return err
	}
	if req.Name != nil {
		n.Name = *req.Name
	}
	if req.Description != nil {
		n.Description = *req.Description
	}
	if req.AdminStateUp != nil {
		n.AdminStateUp = bool(*req.AdminStateUp)
	}
	if req.PortSecurityEnabled != nil {
		n.PortSecurityEnabled = bool(*req.PortSecurityEnabled)
	}
	if req.IsDefault != nil {
		n.IsDefault = bool(*req.IsDefault)
	}
	if req.MTU != nil {
		if err := a.checkMTU(v, &n, int(*req.MTU)); err != nil {
			return err
		}
		n.MTU = int(*req.MTU)
	}
	if req.External != nil && bool(*req.External) != n.External {
		// Upstream: becoming external adds the wildcard
		// access_as_external policy; ceasing to be drops them all.
		n.External = bool(*req.External)
		n.ExternalTo = nil
		if n.External {
			attachPolicy(t, model.KindNetwork, n.ID, n.ProjectID, model.RBACExternal)
			n.ExternalTo = []string{model.RBACWildcard}
		} else {
			detachPolicies(v, t, model.KindNetwork, n.ID, model.RBACExternal, "")
		}
	}
	if req.Shared != nil && bool(*req.Shared) != n.Shared {
		if n.Shared {
			// Unsharing is refused while other projects use the network.
			var other bool
			v.Each(model.KindPort, func(pe *store.Entry) bool {
				p, ok := store.As[*model.Port](pe)
				if !ok {
					return true
				}
				if p.NetworkID == n.ID && p.ProjectID != n.ProjectID && !model.AutoDeletedOwner(p.DeviceOwner) && !slices.Contains(n.SharedWith, p.ProjectID) {
					other = true
					return false
				}
				return true
			})
			if other {
				return conflict("InvalidSharedSetting", "Unable to reconfigure sharing settings for network %s. Multiple tenants are using it.", n.ID)
			}
			t.NoNewClaims(claims.MAC(n.ID))
			detachPolicies(v, t, model.KindNetwork, n.ID, model.RBACShared, model.RBACWildcard)
			n.SharedWith = slices.DeleteFunc(slices.Clone(n.SharedWith), func(p string) bool { return p == model.RBACWildcard })
		} else {
			attachPolicy(t, model.KindNetwork, n.ID, n.ProjectID, model.RBACShared)
			n.SharedWith = append(slices.Clone(n.SharedWith), model.RBACWildcard)
		}
		n.Shared = bool(*req.Shared)
	}
	bump(a, &n.Standard)
	t.Replace(model.KindNetwork, e, mustJSON(&n))
	return nil
}

// portsOfNetwork lists a network's ports.
func portsOfNetwork(v *store.View, netID string) []*store.Entry {
	var out []*store.Entry
	v.Each(model.KindPort, func(pe *store.Entry) bool {
		if p, ok := store.As[*model.Port](pe); ok && p.NetworkID == netID {
			out = append(out, pe)
		}
		return true
	})
	return out
}

func deleteNetwork(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	n, err := obj[*model.Network](e)
	if err != nil {
		return err
	}
	ports := portsOfNetwork(v, n.ID)
	for _, pe := range ports {
		p, ok := store.As[*model.Port](pe)
		if ok && model.AutoDeletedOwner(p.DeviceOwner) {
			continue
		}
		if ok && p.DeviceOwner == model.OwnerFloatingIP {
			// Upstream deletes the network's unassociated floating
			// IPs with it (delete_disassociated_floatingips); an
			// associated one keeps the network in use.
			if fe, ok := unassociatedFIPOf(v, p); ok {
				t.Delete(model.KindFIP, fe)
				continue
			}
		}
		return conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network.", n.ID)
	}
	// A port created after our read would be orphaned: guard on the
	// network's MAC claims, which every port takes.
	t.NoNewClaims(claims.MAC(n.ID))
	for _, pe := range ports {
		deletePortTxn(t, pe)
	}
	for _, sid := range n.Subnets {
		if se, ok := v.Get(model.KindSubnet, sid); ok {
			t.Delete(model.KindSubnet, se)
			t.NoNewClaims(claims.IP(sid))
		}
	}
	if seg := segmentOf(n); seg.NetworkType != "local" {
		t.Release(seg.group(), seg.member())
	}
	deleteRBACOf(v, t, model.KindNetwork, n.ID)
	releaseHANetworkClaim(v, t, n.ID)
	t.Delete(model.KindNetwork, e)
	return nil
}

// unassociatedFIPOf returns the floating IP a floating IP port belongs
// to, when that floating IP is associated with no port.
func unassociatedFIPOf(v *store.View, p *model.Port) (*store.Entry, bool) {
	fe, f, ok := store.GetAs[*model.FloatingIP](v, model.KindFIP, p.DeviceID)
	if !ok || f.PortID != nil || f.FIPPortID != p.ID {
		return nil, false
	}
	return fe, true
}

func checkTags(tags []string) error {
	if len(tags) > 50 {
		return invalidInput("too many tags (at most 50)")
	}
	for _, tg := range tags {
		if tg == "" || len(tg) > 255 || containsComma(tg) {
			return invalidInput("'%s' is not a valid tag", tg)
		}
	}
	return nil
}

func containsComma(s string) bool { return slices.Contains([]byte(s), ',') }

func dedupTags(tags []string) []string {
	out := []string{}
	for _, tg := range tags {
		if !slices.Contains(out, tg) {
			out = append(out, tg)
		}
	}
	return out
}

// Bounds of a network's MTU (net-mtu-writable): IPv4's minimum datagram
// size, and IPv6's minimum link MTU for networks with IPv6 subnets.
const (
	ipv4MinMTU = 68
	ipv6MinMTU = 1280
)

// checkMTU validates a requested MTU for n: at least 68 (1280 with IPv6
// subnets), at most what its segment type leaves of the physical MTU.
func (a *API) checkMTU(v *store.View, n *model.Network, mtu int) error {
	if max := a.segments.mtu(n.NetworkType); mtu > max {
		return invalidInput("Requested MTU is too big, maximum is %d", max)
	}
	if mtu < ipv4MinMTU {
		return invalidInput("Requested MTU %d is less than the minimum %d", mtu, ipv4MinMTU)
	}
	if mtu >= ipv6MinMTU {
		return nil
	}
	for _, sid := range n.Subnets {
		if e, ok := v.Get(model.KindSubnet, sid); ok {
			if s, ok := store.As[*model.Subnet](e); ok && s.IPVersion == 6 {
				return invalidInput("Requested MTU %d is less than the minimum IPv6 MTU %d of network %s's IPv6 subnets", mtu, ipv6MinMTU, n.ID)
			}
		}
	}
	return nil
}
