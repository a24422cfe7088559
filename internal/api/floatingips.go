package api

import (
	"encoding/json"
	"net/netip"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

var fipDef = &resourceDef{
	kind: model.KindFIP, singular: "floatingip", collection: "floatingips", path: "floatingips", tags: true,
	attrs: standardAttrs(map[string]attr{
		"floating_network_id": {typ: 's', post: true, required: true},
		"floating_ip_address": {typ: 's', post: true},
		"subnet_id":           {typ: 'o', post: true},
		"port_id":             {typ: 's', post: true, put: true},
		"fixed_ip_address":    {typ: 's', post: true, put: true},
		"router_id":           {typ: 's'},
		"status":              {typ: 's'},
		"port_details":        {typ: 'o'},
		"port_forwardings":    {typ: 'o'},
		"tags":                {typ: 'o', post: true, nosort: true},
	}),
	internal: []string{"neutrino:fip_port_id"},
	decode:   decoderOf[model.FloatingIP](),
	notFound: func(id string) *Error { return notFound("FloatingIPNotFound", "Floating IP %s could not be found", id) },
	visible:  func(v *store.View, c *reqCtx, e *store.Entry) bool { return c.admin || std(e).ProjectID == c.project },
	extra:    fipPortDetails,
	deps: func(v *store.View, e *store.Entry) []*store.Entry {
		if f, ok := store.As[*model.FloatingIP](e); ok && f.PortID != nil {
			if pe, ok := v.Get(model.KindPort, *f.PortID); ok {
				return []*store.Entry{pe}
			}
		}
		return nil
	},
	create: createFIP,
	update: updateFIP,
	delete: deleteFIP,
}

func init() { register(fipDef) }

// fipPortDetails renders fip-port-details from the associated port.
func fipPortDetails(v *store.View, e *store.Entry) map[string]any {
	f, ok := store.As[*model.FloatingIP](e)
	if !ok || f.PortID == nil {
		return map[string]any{"port_details": nil}
	}
	_, p, ok := store.GetAs[*model.Port](v, model.KindPort, *f.PortID)
	if !ok {
		return map[string]any{"port_details": nil}
	}
	return map[string]any{"port_details": map[string]any{
		"name": p.Name, "network_id": p.NetworkID, "mac_address": p.MACAddress, "admin_state_up": p.AdminStateUp,
		"status": p.Status, "device_id": p.DeviceID, "device_owner": p.DeviceOwner,
	}}
}

type fipReq struct {
	FloatingNetworkID string           `json:"floating_network_id"`
	FloatingIPAddress *string          `json:"floating_ip_address"`
	SubnetID          *string          `json:"subnet_id"`
	PortID            optional[string] `json:"port_id"`
	FixedIPAddress    optional[string] `json:"fixed_ip_address"`
	Description       *string          `json:"description"`
	ProjectID         string           `json:"project_id"`
	TenantID          string           `json:"tenant_id"`
	Tags              []string         `json:"tags"`
}

func createFIP(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req fipReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := checkTags(req.Tags); err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	ne, err := a.lookup(v, c, networkDef, req.FloatingNetworkID)
	if err != nil {
		return "", err
	}
	n, err := obj[*model.Network](ne)
	if err != nil {
		return "", err
	}
	if !n.External {
		return "", badResource("floatingip", "Network %s is not a valid external network.", n.ID)
	}
	var hasV4 bool
	for _, s := range hostview.SubnetsOf(v, n) {
		hasV4 = hasV4 || s.IPVersion == 4
	}
	if !hasV4 {
		return "", badResource("floatingip", "Network %s does not contain any IPv4 subnet.", n.ID)
	}
	if req.FloatingIPAddress != nil && !c.admin {
		return "", policyDenied("create_floatingip:floating_ip_address")
	}
	if err := a.checkQuota(v, t, project, model.KindFIP, 1); err != nil {
		return "", err
	}
	f := &model.FloatingIP{Standard: newStandard(a, project, req.Description, req.Tags), FloatingNetworkID: n.ID, Status: "DOWN", PortForwardings: []any{}}
	p, err := a.newServicePort(v, t, n, "", model.OwnerFloatingIP, f.ID)
	if err != nil {
		return "", err
	}
	want := fixedIPReq{}
	if req.SubnetID != nil {
		want.SubnetID = *req.SubnetID
	}
	if req.FloatingIPAddress != nil {
		want.IPAddress = *req.FloatingIPAddress
	}
	var reqIPs []fixedIPReq
	if want.SubnetID != "" || want.IPAddress != "" {
		reqIPs = []fixedIPReq{want}
	} else {
		// Only IPv4: a floating IP is one IPv4 address.
		for _, s := range hostview.SubnetsOf(v, n) {
			if s.IPVersion == 4 && s.AllowsOwner(model.OwnerFloatingIP) {
				if a.hasFree(v, t, s) {
					reqIPs = []fixedIPReq{{SubnetID: s.ID}}
					break
				}
			}
		}
		if reqIPs == nil {
			return "", newErr(400, "ExternalIpAddressExhausted", "Unable to find any IP address on external network %s.", n.ID)
		}
	}
	ips, err := a.allocateIPs(v, t, c, n, p, reqIPs, nil, true)
	if err != nil {
		if e, ok := err.(*Error); ok && e.Type == "IpAddressGenerationFailure" {
			return "", newErr(400, "ExternalIpAddressExhausted", "Unable to find any IP address on external network %s.", n.ID)
		}
		return "", err
	}
	if len(ips) != 1 || !ips[0].Addr().Is4() {
		return "", badResource("floatingip", "a floating IP must be one IPv4 address.")
	}
	p.FixedIPs = ips
	f.FloatingIPAddress = ips[0].IPAddress
	f.FIPPortID = p.ID
	if req.FixedIPAddress.Set && !req.FixedIPAddress.Null && !(req.PortID.Set && !req.PortID.Null) {
		return "", badResource("floatingip", "fixed_ip_address cannot be specified without a port_id.")
	}
	if req.PortID.Set && !req.PortID.Null {
		if err := a.associateFIP(v, t, c, f, req.PortID.V, req.FixedIPAddress); err != nil {
			return "", err
		}
		reassociate(t, &model.FloatingIP{}, f)
	}
	t.Create(model.KindPort, p.ID, mustJSON(p))
	t.Create(model.KindFIP, f.ID, mustJSON(f))
	return f.ID, nil
}

// hasFree reports whether a subnet has a free address (the allocator's
// own walk, which formats no address it passes).
func (a *API) hasFree(v *store.View, t *store.Txn, s *model.Subnet) bool {
	al := &ipAllocator{v: v, t: t, lowest: true}
	_, ok := al.pick(s)
	return ok
}

// associateFIP binds the floating IP to a port's fixed IP through a
// router that connects the port's subnet to the floating network.
func (a *API) associateFIP(v *store.View, t *store.Txn, c *reqCtx, f *model.FloatingIP, portID string, fixed optional[string]) error {
	pe, ok := v.Get(model.KindPort, portID)
	if !ok || !portVisible(v, c, pe) {
		return notFound("PortNotFound", "Port %s could not be found.", portID)
	}
	p, err := obj[*model.Port](pe)
	if err != nil {
		return err
	}
	if !c.admin && p.ProjectID != f.ProjectID {
		return badResource("floatingip", "Cannot process floating IP association with Port %s, since that port is owned by a different project", p.ID)
	}
	// Upstream refuses DHCP ports only (is_fip_serviced): any other port,
	// a router interface among them, may carry a floating IP when a
	// router connects its subnet to the floating network.
	if p.DeviceOwner == model.OwnerDHCP {
		return badResource("floatingip", "Port %s is unable to be assigned a floating IP", p.ID)
	}
	var chosen *model.FixedIP
	if fixed.Set && !fixed.Null {
		addr, err := netip.ParseAddr(fixed.V)
		if err != nil || !addr.Is4() {
			return badResource("floatingip", "fixed_ip_address %s must be an IPv4 address.", fixed.V)
		}
		for i := range p.FixedIPs {
			if p.FixedIPs[i].IPAddress == addr.String() {
				chosen = &p.FixedIPs[i]
			}
		}
		if chosen == nil {
			return badResource("floatingip", "Port %s does not have fixed ip %s.", p.ID, fixed.V)
		}
	} else {
		var v4 []*model.FixedIP
		for i := range p.FixedIPs {
			if p.FixedIPs[i].Addr().Is4() {
				v4 = append(v4, &p.FixedIPs[i])
			}
		}
		switch len(v4) {
		case 0:
			return badResource("floatingip", "Port %s does not have any IPv4 address.", p.ID)
		case 1:
			chosen = v4[0]
		default:
			return badResource("floatingip", "Port %s has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP.", p.ID)
		}
	}
	routerID, err := a.routerForFIP(v, t, chosen.SubnetID, f.FloatingNetworkID, p.ID)
	if err != nil {
		return err
	}
	var taken string
	for _, fe := range v.Index(model.KindFIP, hostview.ByPort, p.ID) {
		o, ok := store.As[*model.FloatingIP](fe)
		if ok && o.ID != f.ID && o.FixedIPAddress != nil && *o.FixedIPAddress == chosen.IPAddress && o.FloatingNetworkID == f.FloatingNetworkID {
			taken = o.ID
			break
		}
	}
	// An earlier item of the same bulk create is not in the view, but
	// holds the association's claim in this transaction.
	if taken != "" || t.Claimed(fixedClaimOf(f.FloatingNetworkID, p.ID, chosen.IPAddress)) {
		return conflict("FloatingIPPortAlreadyAssociated", "Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.", f.FloatingIPAddress, f.ID, p.ID, chosen.IPAddress, f.FloatingNetworkID)
	}
	t.Require(model.KindPort, pe)
	pid, fip := p.ID, chosen.IPAddress
	f.PortID, f.FixedIPAddress, f.RouterID = &pid, &fip, &routerID
	return nil
}

// routerForFIP finds the router that has an interface on the subnet and a
// gateway on the floating network, preferring the one holding the
// subnet's gateway IP (upstream's rule).
func (a *API) routerForFIP(v *store.View, t *store.Txn, subnetID, extNetID, portID string) (string, error) {
	se, ok := v.Get(model.KindSubnet, subnetID)
	if !ok {
		return "", notFound("SubnetNotFound", "Subnet %s could not be found.", subnetID)
	}
	s, err := obj[*model.Subnet](se)
	if err != nil {
		return "", err
	}
	var first, preferred string
	var firstRev int64
	// Only the router interfaces on the subnet matter: the port index by
	// subnet finds them without scanning the cloud's ports.
	for _, pe := range v.Index(model.KindPort, hostview.BySubnet, s.ID) {
		p, ok := store.As[*model.Port](pe)
		if !ok || p.DeviceOwner != model.OwnerRouterInterface && p.DeviceOwner != model.OwnerRouterInterfaceD && p.DeviceOwner != model.OwnerHARouterInterface {
			continue
		}
		re, r, ok := store.GetAs[*model.Router](v, model.KindRouter, p.DeviceID)
		if !ok || r.ExternalGatewayInfo == nil || r.ExternalGatewayInfo.NetworkID != extNetID {
			continue
		}
		for _, ip := range p.FixedIPs {
			if ip.SubnetID != s.ID {
				continue
			}
			t.Require(model.KindRouter, re)
			if s.GatewayIP != nil && ip.IPAddress == *s.GatewayIP {
				preferred = r.ID
			}
			if first == "" || pe.CreateRev < firstRev {
				first, firstRev = r.ID, pe.CreateRev
			}
		}
	}
	if preferred != "" {
		return preferred, nil
	}
	if first != "" {
		return first, nil
	}
	return "", notFound("ExternalGatewayForFloatingIPNotFound", "External network %s is not reachable from subnet %s.  Therefore, cannot associate Port %s with a Floating IP.", extNetID, subnetID, portID)
}

// fixedClaim names the claim that makes one fixed IP carry at most one
// floating IP per external network, even under concurrent associations.
func fixedClaim(f *model.FloatingIP) (group, member string, ok bool) {
	if f.PortID == nil || f.FixedIPAddress == nil {
		return "", "", false
	}
	group, member = fixedClaimOf(f.FloatingNetworkID, *f.PortID, *f.FixedIPAddress)
	return group, member, true
}

// fixedClaimOf is the claim of a port's fixed IP by a floating IP of an
// external network: one per fixed IP and network.
func fixedClaimOf(netID, portID, ip string) (group, member string) {
	return claims.FIPFixed(netID), claims.FIPFixedMember(ip, portID)
}

// reassociate moves the claims from old's association to f's.
func reassociate(t *store.Txn, old, f *model.FloatingIP) {
	og, om, had := fixedClaim(old)
	ng, nm, has := fixedClaim(f)
	if had && has && og == ng && om == nm {
		return
	}
	if had {
		t.Release(og, om)
	}
	if has {
		t.Claim(ng, nm, f.ID)
	}
}

func disassociate(t *store.Txn, f *model.FloatingIP) {
	old := *f
	f.PortID, f.FixedIPAddress, f.RouterID = nil, nil, nil
	reassociate(t, &old, f)
}

func updateFIP(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req fipReq
	if err := decode(body, &req); err != nil {
		return err
	}
	if isEmptyObject(body) {
		// Upstream: port_id was once a floating IP's only attribute, so
		// an empty update still means "disassociate".
		req.PortID = optional[string]{Set: true, Null: true}
	}
	curF, err := obj[*model.FloatingIP](e)
	if err != nil {
		return err
	}
	f := *curF
	if req.Description != nil {
		f.Description = *req.Description
	}
	if req.PortID.Set {
		old := f
		f.PortID, f.FixedIPAddress, f.RouterID = nil, nil, nil
		if !req.PortID.Null {
			if err := a.associateFIP(v, t, c, &f, req.PortID.V, req.FixedIPAddress); err != nil {
				return err
			}
		}
		reassociate(t, &old, &f)
		if f.PortID == nil || old.PortID == nil || *old.PortID != *f.PortID {
			f.Status = "DOWN"
		}
	} else if req.FixedIPAddress.Set {
		return badResource("floatingip", "fixed_ip_address cannot be specified without a port_id.")
	}
	bump(a, &f.Standard)
	t.Replace(model.KindFIP, e, mustJSON(&f))
	return nil
}

func deleteFIP(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	curF, err := obj[*model.FloatingIP](e)
	if err != nil {
		return err
	}
	f := *curF
	disassociate(t, &f)
	if pe, ok := v.Get(model.KindPort, f.FIPPortID); ok {
		deletePortTxn(t, pe)
	}
	t.Delete(model.KindFIP, e)
	return nil
}

// fixedAddrIn reports whether the floating IP is associated to an
// address in prefix.
func fixedAddrIn(f *model.FloatingIP, prefix netip.Prefix) bool {
	a, ok := f.FixedAddr()
	return ok && prefix.Contains(a)
}

// isEmptyObject reports whether body is the JSON object {}.
func isEmptyObject(body json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(body, &m) == nil && m != nil && len(m) == 0
}
