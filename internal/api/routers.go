package api

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/control"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// badResource is upstream's n_exc.BadRequest(resource=..., msg=...): 400
// with NeutronError type "BadRequest" (not the API layer's
// HTTPBadRequest).
func badResource(resource, format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, "BadRequest", "Bad "+resource+" request: "+format, args...)
}

// maxRoutes is upstream's max_routes (per router).
const maxRoutes = 30

var routerDef = &resourceDef{
	kind: model.KindRouter, singular: "router", collection: "routers", path: "routers", tags: true,
	attrs: standardAttrs(map[string]attr{
		"name":                    {typ: 's', post: true, put: true},
		"admin_state_up":          {typ: 'b', post: true, put: true},
		"status":                  {typ: 's'},
		"external_gateway_info":   {typ: 'o', post: true, put: true},
		"routes":                  {typ: 'o', put: true},
		"distributed":             {typ: 'b', post: true, put: true, adminSet: true},
		"ha":                      {typ: 'b', post: true, put: true, adminSet: true},
		"availability_zone_hints": {typ: 'o', post: true},
		"availability_zones":      {typ: 'o'},
		"flavor_id":               {typ: 's', post: true},
		"tags":                    {typ: 'o', post: true, nosort: true},
	}),
	hidden:   []string{"distributed", "ha"},
	internal: []string{"neutrino:gw_port_id"},
	decode:   decoderOf[model.Router](),
	notFound: func(id string) *Error { return notFound("RouterNotFound", "Router %s could not be found", id) },
	visible:  func(v *store.View, c *reqCtx, e *store.Entry) bool { return c.admin || std(e).ProjectID == c.project },
	create:   createRouter,
	update:   updateRouter,
	delete:   deleteRouter,
}

func init() { register(routerDef) }

type gatewayReq struct {
	NetworkID        string       `json:"network_id"`
	EnableSNAT       *flexBool    `json:"enable_snat"`
	ExternalFixedIPs []fixedIPReq `json:"external_fixed_ips"`
	raw              map[string]json.RawMessage
}

type routerReq struct {
	Name                  *string                   `json:"name"`
	AdminStateUp          *flexBool                 `json:"admin_state_up"`
	ExternalGatewayInfo   optional[json.RawMessage] `json:"external_gateway_info"`
	Routes                optional[[]model.Route]   `json:"routes"`
	Distributed           *flexBool                 `json:"distributed"`
	HA                    *flexBool                 `json:"ha"`
	AvailabilityZoneHints []string                  `json:"availability_zone_hints"`
	FlavorID              optional[string]          `json:"flavor_id"`
	Description           *string                   `json:"description"`
	ProjectID             string                    `json:"project_id"`
	TenantID              string                    `json:"tenant_id"`
	Tags                  []string                  `json:"tags"`
}

// gateway parses external_gateway_info: nil means "clear" ({} or null).
func (r *routerReq) gateway(c *reqCtx, action string) (*gatewayReq, error) {
	o := r.ExternalGatewayInfo
	if o.Null {
		return nil, nil
	}
	var g gatewayReq
	if err := decode(o.V, &g.raw); err != nil {
		return nil, err
	}
	if len(g.raw) == 0 {
		return nil, nil
	}
	for k := range g.raw {
		if k != "network_id" && k != "enable_snat" && k != "external_fixed_ips" {
			return nil, badRequest("Unrecognized attribute(s) '%s'", k)
		}
	}
	if err := decode(o.V, &g); err != nil {
		return nil, err
	}
	if g.NetworkID == "" {
		return nil, invalidInput("Invalid input for external_gateway_info. Reason: network_id is required")
	}
	if !c.admin {
		if g.EnableSNAT != nil {
			return nil, policyDenied(action + "_router:external_gateway_info:enable_snat")
		}
		if g.ExternalFixedIPs != nil {
			return nil, policyDenied(action + "_router:external_gateway_info:external_fixed_ips")
		}
	}
	return &g, nil
}

func createRouter(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req routerReq
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
	if err := a.checkQuota(v, t, project, model.KindRouter, 1); err != nil {
		return "", err
	}
	if req.FlavorID.Set && !req.FlavorID.Null {
		return "", notFound("FlavorNotFound", "Flavor %s could not be found.", req.FlavorID.V)
	}
	r := &model.Router{
		Standard:              newStandard(a, project, req.Description, req.Tags),
		AdminStateUp:          boolOr(req.AdminStateUp, true),
		Status:                "ACTIVE",
		Routes:                []model.Route{},
		Distributed:           boolOr(req.Distributed, a.cfg.RouterDistributed),
		HA:                    boolOr(req.HA, false),
		AvailabilityZoneHints: req.AvailabilityZoneHints,
		AvailabilityZones:     []string{},
	}
	if r.AvailabilityZoneHints == nil {
		r.AvailabilityZoneHints = []string{}
	}
	if req.Name != nil {
		r.Name = *req.Name
	}
	if r.HA {
		return "", badRequest("L3 HA routers are not supported by this server")
	}
	rt := newRouterTxn(a, v, t, c, r)
	rt.place()
	if req.ExternalGatewayInfo.Set {
		g, err := req.gateway(c, "create")
		if err != nil {
			return "", err
		}
		if g != nil {
			if err := rt.setGateway(g); err != nil {
				return "", err
			}
		}
	}
	t.Create(model.KindRouter, r.ID, mustJSON(r))
	return r.ID, nil
}

func updateRouter(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req routerReq
	if err := decode(body, &req); err != nil {
		return err
	}
	if err := checkString("name", req.Name, 255); err != nil {
		return err
	}
	r := *e.Obj.(*model.Router)
	wasUp := r.AdminStateUp
	if req.Name != nil {
		r.Name = *req.Name
	}
	if req.Description != nil {
		r.Description = *req.Description
	}
	if req.AdminStateUp != nil {
		r.AdminStateUp = bool(*req.AdminStateUp)
	}
	rt := newRouterTxn(a, v, t, c, &r)
	if req.HA != nil && bool(*req.HA) != r.HA {
		return badRequest("L3 HA routers are not supported by this server")
	}
	if req.Distributed != nil && bool(*req.Distributed) != r.Distributed {
		// Upstream refuses while the router is up before or after the
		// request (400 BadRequest, not a conflict).
		if wasUp || r.AdminStateUp {
			return badResource("router", "Cannot change the 'distributed' attribute of active routers. Please set router admin_state_up to False prior to upgrade.")
		}
		// Where the router may live depends on the flag: place it first.
		r.Distributed = bool(*req.Distributed)
		rt.place()
		if err := rt.setDistributed(bool(*req.Distributed)); err != nil {
			return err
		}
	} else {
		rt.place()
	}
	if req.ExternalGatewayInfo.Set {
		g, err := req.gateway(c, "update")
		if err != nil {
			return err
		}
		if g == nil {
			if err := rt.clearGateway(); err != nil {
				return err
			}
		} else if err := rt.setGateway(g); err != nil {
			return err
		}
	}
	if req.Routes.Set {
		routes := req.Routes.V
		if req.Routes.Null || routes == nil {
			routes = []model.Route{}
		}
		if err := rt.setRoutes(routes); err != nil {
			return err
		}
	} else if req.ExternalGatewayInfo.Set {
		if err := rt.validateRoutes(r.Routes); err != nil {
			return err
		}
	}
	bump(a, &r.Standard)
	t.Replace(model.KindRouter, e, mustJSON(&r))
	return nil
}

func deleteRouter(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	r := e.Obj.(*model.Router)
	rt := newRouterTxn(a, v, t, c, r)
	var ids []string
	for _, pe := range rt.interfaces() {
		ids = append(ids, pe.ID)
	}
	if len(ids) > 0 {
		return conflict("RouterInUse", "Router %s still has ports", r.ID)
	}
	if err := rt.clearGateway(); err != nil {
		return err
	}
	if be, ok := v.Get(model.KindL3Binding, r.ID); ok {
		t.Delete(model.KindL3Binding, be)
	}
	t.Delete(model.KindRouter, e)
	return nil
}

// routerTxn plans changes to one router and the ports it owns.
type routerTxn struct {
	a *API
	v *store.View
	t *store.Txn
	c *reqCtx
	r *model.Router
	// host is where the router's centralized ports live (its L3 agent's
	// host), decided by place before any port is made: new ports are
	// bound there at once, so l2population and the agent see them in
	// the same change instead of after the controller binds them.
	host string
}

// place schedules the router (once per transaction) and records its host.
func (rt *routerTxn) place() {
	rt.host = rt.a.ctl.PlaceRouter(rt.v, rt.t, rt.r, false)
}

// bind binds a new or adopted centralized router port to the router's
// host (a distributed router's interfaces live on every host: unbound).
func (rt *routerTxn) bind(p *model.Port) {
	if rt.host == "" || !control.RouterPortOwner(p.DeviceOwner) {
		return
	}
	p.HostID = rt.host
	control.BindPort(p)
}

func newRouterTxn(a *API, v *store.View, t *store.Txn, c *reqCtx, r *model.Router) *routerTxn {
	return &routerTxn{a: a, v: v, t: t, c: c, r: r}
}

// routerPorts returns the ports owned by the router with one of owners.
func (rt *routerTxn) routerPorts(owners ...string) []*store.Entry {
	var out []*store.Entry
	rt.v.Each(model.KindPort, func(pe *store.Entry) bool {
		p := pe.Obj.(*model.Port)
		if p.DeviceID == rt.r.ID && slices.Contains(owners, p.DeviceOwner) {
			out = append(out, pe)
		}
		return true
	})
	slices.SortFunc(out, func(a, b *store.Entry) int { return int(a.CreateRev - b.CreateRev) })
	return out
}

func (rt *routerTxn) interfaces() []*store.Entry {
	return rt.routerPorts(model.OwnerRouterInterface, model.OwnerRouterInterfaceD, model.OwnerHARouterInterface)
}

func (rt *routerTxn) interfaceOwner() string {
	if rt.r.Distributed {
		return model.OwnerRouterInterfaceD
	}
	return model.OwnerRouterInterface
}

// attachedSubnets are the subnets of the router's interfaces.
func (rt *routerTxn) attachedSubnets() []*model.Subnet {
	var out []*model.Subnet
	for _, pe := range rt.interfaces() {
		for _, ip := range pe.Obj.(*model.Port).FixedIPs {
			if se, ok := rt.v.Get(model.KindSubnet, ip.SubnetID); ok {
				out = append(out, se.Obj.(*model.Subnet))
			}
		}
	}
	return out
}

// gatewaySubnets are all subnets of the router's external network.
func (rt *routerTxn) gatewaySubnets() []*model.Subnet {
	if rt.r.ExternalGatewayInfo == nil {
		return nil
	}
	ne, ok := rt.v.Get(model.KindNetwork, rt.r.ExternalGatewayInfo.NetworkID)
	if !ok {
		return nil
	}
	return hostview.SubnetsOf(rt.v, ne.Obj.(*model.Network))
}

// checkOverlap refuses a subnet whose CIDR overlaps one already connected
// to the router (interfaces and the gateway network).
func checkOverlap(s *model.Subnet, connected []*model.Subnet) error {
	p := s.Prefix()
	for _, o := range connected {
		if o.ID != s.ID && o.Prefix().Overlaps(p) {
			return badResource("router", "Cidr %s of subnet %s overlaps with cidr %s of subnet %s.", s.CIDR, s.ID, o.CIDR, o.ID)
		}
	}
	return nil
}

// newServicePort builds a port owned by the router (or a floating IP):
// no project of its own for gateway/SNAT/FIP ports, no security groups.
func (a *API) newServicePort(v *store.View, t *store.Txn, n *model.Network, project, owner, deviceID string) (*model.Port, error) {
	p := &model.Port{
		Standard:            newStandard(a, project, nil, nil),
		NetworkID:           n.ID,
		AdminStateUp:        true,
		Status:              "DOWN",
		DeviceID:            deviceID,
		DeviceOwner:         owner,
		FixedIPs:            []model.FixedIP{},
		SecurityGroups:      []string{},
		AllowedAddressPairs: []model.AddressPair{},
		ExtraDHCPOpts:       []model.DHCPOpt{},
		VNICType:            "normal",
		VIFType:             "unbound",
		VIFDetails:          map[string]any{},
		Profile:             map[string]any{},
		IPAllocation:        "immediate",
	}
	if owner == model.OwnerFloatingIP {
		p.Status = "N/A"
	}
	mac, err := a.generateMAC(v, t, n.ID)
	if err != nil {
		return nil, err
	}
	p.MACAddress = mac
	t.Claim(claims.MAC(n.ID), mac, p.ID)
	return p, nil
}

func (rt *routerTxn) setGateway(g *gatewayReq) error {
	a, v, t, r := rt.a, rt.v, rt.t, rt.r
	ne, ok := v.Get(model.KindNetwork, g.NetworkID)
	if !ok || !networkVisible(rt.c, ne.Obj.(*model.Network)) {
		return notFound("NetworkNotFound", "Network %s could not be found.", g.NetworkID)
	}
	n := ne.Obj.(*model.Network)
	if !n.External {
		return badResource("router", "Network %s is not an external network.", n.ID)
	}
	enableSNAT := true
	if r.ExternalGatewayInfo != nil && r.ExternalGatewayInfo.NetworkID == n.ID {
		enableSNAT = r.ExternalGatewayInfo.EnableSNAT
	}
	if g.EnableSNAT != nil {
		enableSNAT = bool(*g.EnableSNAT)
	}
	same := r.ExternalGatewayInfo != nil && r.ExternalGatewayInfo.NetworkID == n.ID
	if same && g.ExternalFixedIPs == nil {
		gi := *r.ExternalGatewayInfo
		gi.EnableSNAT = enableSNAT
		r.ExternalGatewayInfo = &gi
		return nil
	}
	if !same {
		if err := rt.clearGateway(); err != nil {
			return err
		}
	}
	for _, s := range hostview.SubnetsOf(v, n) {
		if err := checkOverlap(s, rt.attachedSubnets()); err != nil {
			return err
		}
	}
	for _, ip := range g.ExternalFixedIPs {
		for _, s := range hostview.SubnetsOf(v, n) {
			if s.GatewayIP != nil && ip.IPAddress == *s.GatewayIP {
				return badResource("router", "IP address %s is the gateway IP of subnet %s and cannot be used.", ip.IPAddress, s.ID)
			}
		}
	}
	var pe *store.Entry
	var p *model.Port
	if same {
		// Only the addresses change: re-allocate on the existing port.
		pe, _ = v.Get(model.KindPort, r.GatewayPortID)
	}
	if pe != nil {
		cp := *pe.Obj.(*model.Port)
		p = &cp
	} else {
		var err error
		if p, err = a.newServicePort(v, t, n, "", model.OwnerRouterGateway, r.ID); err != nil {
			return err
		}
		rt.bind(p)
	}
	var reqIPs []fixedIPReq
	if g.ExternalFixedIPs != nil {
		reqIPs = g.ExternalFixedIPs
	}
	var keep []model.FixedIP
	if pe != nil {
		keep = p.FixedIPs
	}
	ips, err := a.allocateIPs(v, t, rt.c, n, p, reqIPs, keep, true)
	if err != nil {
		return err
	}
	if len(ips) == 0 {
		return badResource("router", "No IPs available for external network %s.", n.ID)
	}
	for _, old := range keep {
		if !slices.Contains(ips, old) {
			t.Release(claims.IP(old.SubnetID), old.IPAddress)
		}
	}
	p.FixedIPs = ips
	if pe != nil {
		bump(a, &p.Standard)
		t.Replace(model.KindPort, pe, mustJSON(p))
	} else {
		t.Create(model.KindPort, p.ID, mustJSON(p))
	}
	r.GatewayPortID = p.ID
	r.ExternalGatewayInfo = &model.GatewayInfo{NetworkID: n.ID, EnableSNAT: enableSNAT, ExternalFixedIPs: ips}
	if r.Distributed && !same {
		for _, ie := range rt.interfaces() {
			if err := rt.addSNATPort(ie.Obj.(*model.Port)); err != nil {
				return err
			}
		}
	}
	return nil
}

// clearGateway removes the gateway port (and DVR SNAT ports); refused
// while floating IPs need the gateway.
func (rt *routerTxn) clearGateway() error {
	r := rt.r
	if r.ExternalGatewayInfo == nil {
		return nil
	}
	var fip string
	for _, fe := range rt.v.Index(model.KindFIP, hostview.ByRouter, r.ID) {
		fip = fe.ID
		rt.t.Require(model.KindFIP, fe)
		break
	}
	if fip != "" {
		return conflict("RouterExternalGatewayInUseByFloatingIp", "Gateway cannot be updated for router %s, since a gateway to external network %s is required by one or more floating IPs.", r.ID, r.ExternalGatewayInfo.NetworkID)
	}
	// A floating IP associated concurrently would be left without its
	// gateway: depend on no new association (FIP updates bump nothing
	// here, so guard on every FIP we read being unchanged and on no new
	// FIP port on the external network).
	rt.t.NoNewClaims(claims.MAC(r.ExternalGatewayInfo.NetworkID))
	if pe, ok := rt.v.Get(model.KindPort, r.GatewayPortID); ok {
		deletePortTxn(rt.t, pe)
	}
	for _, pe := range rt.routerPorts(model.OwnerRouterSNAT) {
		deletePortTxn(rt.t, pe)
	}
	r.ExternalGatewayInfo = nil
	r.GatewayPortID = ""
	return nil
}

// addSNATPort gives a distributed router with a gateway its centralized
// SNAT port on the interface's IPv4 subnet.
func (rt *routerTxn) addSNATPort(iface *model.Port) error {
	for _, ip := range iface.FixedIPs {
		se, ok := rt.v.Get(model.KindSubnet, ip.SubnetID)
		if !ok || se.Obj.(*model.Subnet).IPVersion != 4 {
			continue
		}
		ne, ok := rt.v.Get(model.KindNetwork, iface.NetworkID)
		if !ok {
			continue
		}
		n := ne.Obj.(*model.Network)
		p, err := rt.a.newServicePort(rt.v, rt.t, n, "", model.OwnerRouterSNAT, rt.r.ID)
		if err != nil {
			return err
		}
		rt.bind(p)
		ips, err := rt.a.allocateIPs(rt.v, rt.t, rt.c, n, p, []fixedIPReq{{SubnetID: ip.SubnetID}}, nil, true)
		if err != nil {
			return err
		}
		p.FixedIPs = ips
		rt.t.Create(model.KindPort, p.ID, mustJSON(p))
	}
	return nil
}

func (rt *routerTxn) snatPortsOn(subnetID string) []*store.Entry {
	var out []*store.Entry
	for _, pe := range rt.routerPorts(model.OwnerRouterSNAT) {
		for _, ip := range pe.Obj.(*model.Port).FixedIPs {
			if ip.SubnetID == subnetID {
				out = append(out, pe)
				break
			}
		}
	}
	return out
}

// setDistributed migrates a (down) router between legacy and DVR: the
// interface ports change owner and SNAT ports appear or go.
func (rt *routerTxn) setDistributed(d bool) error {
	rt.r.Distributed = d
	owner := rt.interfaceOwner()
	for _, pe := range rt.interfaces() {
		p := *pe.Obj.(*model.Port)
		p.DeviceOwner = owner
		bump(rt.a, &p.Standard)
		rt.t.Replace(model.KindPort, pe, mustJSON(&p))
		if d && rt.r.ExternalGatewayInfo != nil {
			if err := rt.addSNATPort(&p); err != nil {
				return err
			}
		}
	}
	if !d {
		for _, pe := range rt.routerPorts(model.OwnerRouterSNAT) {
			deletePortTxn(rt.t, pe)
		}
	}
	return nil
}

// connectedPrefixes are the router's on-link CIDRs and its own addresses.
func (rt *routerTxn) connected() ([]netip.Prefix, []netip.Addr) {
	var prefixes []netip.Prefix
	var own []netip.Addr
	for _, s := range append(rt.attachedSubnets(), rt.gatewaySubnets()...) {
		prefixes = append(prefixes, s.Prefix())
	}
	for _, pe := range rt.interfaces() {
		for _, ip := range pe.Obj.(*model.Port).FixedIPs {
			own = append(own, ip.Addr())
		}
	}
	if rt.r.ExternalGatewayInfo != nil {
		for _, ip := range rt.r.ExternalGatewayInfo.ExternalFixedIPs {
			own = append(own, ip.Addr())
		}
	}
	return prefixes, own
}

func (rt *routerTxn) validateRoutes(routes []model.Route) error {
	if len(routes) > maxRoutes {
		return newErr(http.StatusBadRequest, "RoutesExhausted", "Unable to complete operation for %s. The number of routes exceeds the maximum %d.", rt.r.ID, maxRoutes)
	}
	prefixes, own := rt.connected()
	for _, r := range routes {
		if _, err := netip.ParsePrefix(r.Destination); err != nil {
			return newErr(http.StatusBadRequest, "InvalidRoutes", "Invalid format for routes: %v, '%s' is not a valid IP subnet", routes, r.Destination)
		}
		hop, err := netip.ParseAddr(r.NextHop)
		if err != nil {
			return newErr(http.StatusBadRequest, "InvalidRoutes", "Invalid format for routes: %v, '%s' is not a valid IP address", routes, r.NextHop)
		}
		if slices.Contains(own, hop) {
			return newErr(http.StatusBadRequest, "InvalidRoutes", "Invalid format for routes: %v, the nexthop is used by router", routes)
		}
		onLink := false
		for _, p := range prefixes {
			onLink = onLink || p.Contains(hop)
		}
		if !onLink {
			return newErr(http.StatusBadRequest, "InvalidRoutes", "Invalid format for routes: %v, the nexthop is not connected with router", routes)
		}
	}
	return nil
}

func normalizeRoutes(routes []model.Route) []model.Route {
	out := []model.Route{}
	for _, r := range routes {
		if p, err := netip.ParsePrefix(r.Destination); err == nil {
			r.Destination = p.Masked().String()
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func (rt *routerTxn) setRoutes(routes []model.Route) error {
	if err := rt.validateRoutes(routes); err != nil {
		return err
	}
	rt.r.Routes = normalizeRoutes(routes)
	return nil
}

// Router interface and extra-route actions.

type interfaceReq struct {
	SubnetID string `json:"subnet_id"`
	PortID   string `json:"port_id"`
}

func (a *API) routerAction(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	id, action := r.PathValue("id"), r.PathValue("action")
	switch action {
	case "add_router_interface", "remove_router_interface":
		b, err := readBody(r)
		if err != nil {
			return err
		}
		var req interfaceReq
		top, err := parseObject(b)
		if err != nil {
			return err
		}
		for k := range top {
			if k != "subnet_id" && k != "port_id" {
				return badRequest("Unrecognized attribute(s) '%s'", k)
			}
		}
		if err := decode(b, &req); err != nil {
			return err
		}
		if req.SubnetID == "" && req.PortID == "" {
			return badResource("router", "Either subnet_id or port_id must be specified.")
		}
		if action == "add_router_interface" && req.SubnetID != "" && req.PortID != "" {
			return badResource("router", "Cannot specify both subnet-id and port-id.")
		}
		var info map[string]any
		_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
			e, err := a.lookup(v, c, routerDef, id)
			if err != nil {
				return err
			}
			if err := mayModify(c, routerDef, e, action); err != nil {
				return err
			}
			rr := *e.Obj.(*model.Router)
			rt := newRouterTxn(a, v, t, c, &rr)
			rt.place()
			if action == "add_router_interface" {
				info, err = rt.addInterface(req)
			} else {
				info, err = rt.removeInterface(req)
			}
			if err != nil {
				return err
			}
			bump(a, &rr.Standard)
			t.Replace(model.KindRouter, e, mustJSON(&rr))
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, info)
		return nil
	case "add_extraroutes", "remove_extraroutes":
		item, err := readMember(r, "router")
		if err != nil {
			return err
		}
		var req struct {
			Routes *[]model.Route `json:"routes"`
		}
		if err := decode(item, &req); err != nil {
			return err
		}
		if req.Routes == nil {
			return badRequest("Bad router request: routes is required")
		}
		_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
			e, err := a.lookup(v, c, routerDef, id)
			if err != nil {
				return err
			}
			if err := mayModify(c, routerDef, e, action); err != nil {
				return err
			}
			rr := *e.Obj.(*model.Router)
			rt := newRouterTxn(a, v, t, c, &rr)
			routes := slices.Clone(rr.Routes)
			given := normalizeRoutes(*req.Routes)
			if action == "add_extraroutes" {
				if err := rt.validateRoutes(given); err != nil {
					return err
				}
				routes = normalizeRoutes(append(routes, given...))
			} else {
				routes = slices.DeleteFunc(routes, func(x model.Route) bool { return slices.Contains(given, x) })
			}
			if err := rt.setRoutes(routes); err != nil {
				return err
			}
			bump(a, &rr.Standard)
			t.Replace(model.KindRouter, e, mustJSON(&rr))
			return nil
		})
		if err != nil {
			return err
		}
		return a.showByID(w, c, routerDef, id)
	}
	return errResourceNotFound
}

// showByID renders one resource for the caller.
func (a *API) showByID(w http.ResponseWriter, c *reqCtx, d *resourceDef, id string) error {
	var body []byte
	var err error
	a.st.View(func(v *store.View) {
		var e *store.Entry
		if e, err = a.lookup(v, c, d, id); err == nil {
			body = d.render(v, c, e, nil)
		}
	})
	if err != nil {
		return err
	}
	writeMember(w, http.StatusOK, d.singular, body)
	return nil
}

func interfaceInfo(r *model.Router, p *model.Port) map[string]any {
	var subnets []string
	for _, ip := range p.FixedIPs {
		subnets = append(subnets, ip.SubnetID)
	}
	info := map[string]any{"id": r.ID, "tenant_id": r.ProjectID, "project_id": r.ProjectID, "port_id": p.ID,
		"network_id": p.NetworkID, "subnet_ids": subnets, "tags": p.Tags}
	if len(subnets) > 0 {
		info["subnet_id"] = subnets[0]
	}
	return info
}

func (rt *routerTxn) addInterface(req interfaceReq) (map[string]any, error) {
	a, v, t, c, r := rt.a, rt.v, rt.t, rt.c, rt.r
	connected := append(rt.attachedSubnets(), rt.gatewaySubnets()...)
	if req.PortID != "" {
		pe, err := a.lookup(v, c, portDef, req.PortID)
		if err != nil {
			return nil, err
		}
		p := *pe.Obj.(*model.Port)
		if p.DeviceID != "" {
			return nil, conflict("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.", p.ID, p.NetworkID, p.DeviceID)
		}
		if len(p.FixedIPs) == 0 {
			return nil, badResource("router", "Router port must have at least one fixed IP.")
		}
		v4 := 0
		for _, ip := range p.FixedIPs {
			se, ok := v.Get(model.KindSubnet, ip.SubnetID)
			if !ok {
				continue
			}
			s := se.Obj.(*model.Subnet)
			if s.IPVersion == 4 {
				v4++
			}
			for _, o := range rt.attachedSubnets() {
				if o.ID == s.ID {
					return nil, badResource("router", "Router already has a port on subnet %s.", s.ID)
				}
			}
			if err := checkOverlap(s, connected); err != nil {
				return nil, err
			}
		}
		if v4 > 1 {
			return nil, badResource("router", "Cannot have multiple IPv4 subnets on router port.")
		}
		if v4 < len(p.FixedIPs) {
			if ie := rt.v6PortOn(p.NetworkID, p.ID); ie != nil {
				return nil, badResource("router", "Cannot have multiple router ports with the same network id if both contain IPv6 subnets. Existing port %s has IPv6 subnet(s) and network id %s.", ie.ID, p.NetworkID)
			}
		}
		p.DeviceID, p.DeviceOwner = r.ID, rt.interfaceOwner()
		p.SecurityGroups = []string{}
		rt.bind(&p)
		bump(a, &p.Standard)
		t.Replace(model.KindPort, pe, mustJSON(&p))
		if r.Distributed && r.ExternalGatewayInfo != nil {
			if err := rt.addSNATPort(&p); err != nil {
				return nil, err
			}
		}
		return interfaceInfo(r, &p), nil
	}
	se, err := a.lookup(v, c, subnetDef, req.SubnetID)
	if err != nil {
		return nil, err
	}
	s := se.Obj.(*model.Subnet)
	ne, ok := v.Get(model.KindNetwork, s.NetworkID)
	if !ok {
		return nil, notFound("NetworkNotFound", "Network %s could not be found.", s.NetworkID)
	}
	n := ne.Obj.(*model.Network)
	if !c.admin && s.ProjectID != r.ProjectID && n.ProjectID != r.ProjectID {
		return nil, policyDenied("add_router_interface")
	}
	if s.GatewayIP == nil {
		return nil, badResource("router", "Subnet for router interface must have a gateway IP.")
	}
	for _, o := range rt.attachedSubnets() {
		if o.ID == s.ID {
			return nil, badResource("router", "Router already has a port on subnet %s.", s.ID)
		}
	}
	if err := checkOverlap(s, connected); err != nil {
		return nil, err
	}
	if s.IPVersion == 6 {
		// Upstream keeps one IPv6 router port per network: a further IPv6
		// subnet becomes another address of that port.
		if ie := rt.v6PortOn(n.ID, ""); ie != nil {
			q := *ie.Obj.(*model.Port)
			ips, err := a.allocateIPs(v, t, c, n, &q, []fixedIPReq{{SubnetID: s.ID, IPAddress: *s.GatewayIP}}, nil, true)
			if err != nil {
				return nil, err
			}
			q.FixedIPs = append(slices.Clone(q.FixedIPs), ips...)
			bump(a, &q.Standard)
			t.Replace(model.KindPort, ie, mustJSON(&q))
			info := interfaceInfo(r, &q)
			info["subnet_id"] = s.ID
			return info, nil
		}
	}
	p, err := a.newServicePort(v, t, n, r.ProjectID, rt.interfaceOwner(), r.ID)
	if err != nil {
		return nil, err
	}
	rt.bind(p)
	ips, err := a.allocateIPs(v, t, c, n, p, []fixedIPReq{{SubnetID: s.ID, IPAddress: *s.GatewayIP}}, nil, true)
	if err != nil {
		return nil, err
	}
	p.FixedIPs = ips
	t.Create(model.KindPort, p.ID, mustJSON(p))
	if r.Distributed && r.ExternalGatewayInfo != nil {
		if err := rt.addSNATPort(p); err != nil {
			return nil, err
		}
	}
	return interfaceInfo(r, p), nil
}

// v6PortOn returns the router's interface port on the network that has
// an IPv6 address (other than the port except).
func (rt *routerTxn) v6PortOn(networkID, except string) *store.Entry {
	for _, ie := range rt.interfaces() {
		q := ie.Obj.(*model.Port)
		if q.NetworkID != networkID || q.ID == except {
			continue
		}
		for _, ip := range q.FixedIPs {
			if ip.Addr().Is6() {
				return ie
			}
		}
	}
	return nil
}

func (rt *routerTxn) removeInterface(req interfaceReq) (map[string]any, error) {
	v, t, r := rt.v, rt.t, rt.r
	var target *store.Entry
	var subnets []string
	for _, pe := range rt.interfaces() {
		p := pe.Obj.(*model.Port)
		if req.PortID != "" && p.ID != req.PortID {
			continue
		}
		for _, ip := range p.FixedIPs {
			if req.SubnetID == "" || ip.SubnetID == req.SubnetID {
				target = pe
				subnets = append(subnets, ip.SubnetID)
			}
		}
		if target != nil {
			break
		}
	}
	if target == nil {
		if req.PortID != "" {
			return nil, notFound("RouterInterfaceNotFound", "Router %s does not have an interface with id %s", r.ID, req.PortID)
		}
		return nil, notFound("RouterInterfaceNotFoundForSubnet", "Router %s has no interface on subnet %s", r.ID, req.SubnetID)
	}
	p := target.Obj.(*model.Port)
	for _, sid := range subnets {
		se, ok := v.Get(model.KindSubnet, sid)
		if !ok {
			continue
		}
		prefix := se.Obj.(*model.Subnet).Prefix()
		var inUse bool
		for _, fe := range v.Index(model.KindFIP, hostview.ByRouter, r.ID) {
			if f, ok := fe.Obj.(*model.FloatingIP); ok && fixedAddrIn(f, prefix) {
				inUse = true
				break
			}
		}
		if inUse {
			return nil, conflict("RouterInterfaceInUseByFloatingIP", "Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more floating IPs.", sid, r.ID)
		}
		for _, route := range r.Routes {
			if prefix.Contains(route.NextHopAddr()) {
				return nil, conflict("RouterInterfaceInUseByRoute", "Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more routes.", sid, r.ID)
			}
		}
		for _, sp := range rt.snatPortsOn(sid) {
			deletePortTxn(t, sp)
		}
	}
	// A floating IP associated to a port on this subnet meanwhile would
	// lose its path: depend on no FIP changing under us.
	for _, fe := range v.Index(model.KindFIP, hostview.ByRouter, r.ID) {
		t.Require(model.KindFIP, fe)
	}
	info := interfaceInfo(r, p)
	if req.SubnetID != "" && len(p.FixedIPs) > 1 {
		// Only the subnet's address leaves a multi-address port.
		cp := *p
		cp.FixedIPs = slices.DeleteFunc(slices.Clone(p.FixedIPs), func(ip model.FixedIP) bool { return ip.SubnetID == req.SubnetID })
		for _, ip := range p.FixedIPs {
			if ip.SubnetID == req.SubnetID {
				t.Release(claims.IP(ip.SubnetID), ip.IPAddress)
			}
		}
		bump(rt.a, &cp.Standard)
		t.Replace(model.KindPort, target, mustJSON(&cp))
		info["subnet_id"] = req.SubnetID
		info["subnet_ids"] = []string{req.SubnetID}
		return info, nil
	}
	deletePortTxn(t, target)
	return info, nil
}
