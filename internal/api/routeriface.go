package api

import (
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Router interface and extra-route actions.

type interfaceReq struct {
	SubnetID string `json:"subnet_id"`
	PortID   string `json:"port_id"`
}

func (a *API) routerAction(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	id, action := r.PathValue("id"), r.PathValue("action")
	switch action {
	case "add_router_interface", "remove_router_interface":
		return a.interfaceAction(w, r, c, id, action)
	case "add_extraroutes", "remove_extraroutes":
		return a.extraRoutesAction(w, r, c, id, action)
	}
	return errResourceNotFound
}

// interfaceAction adds or removes a router interface.
func (a *API) interfaceAction(w http.ResponseWriter, r *http.Request, c *reqCtx, id, action string) error {
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
	// Upstream (_validate_interface_info) refuses an id that is not a
	// UUID before looking anything up.
	for _, given := range []string{req.PortID, req.SubnetID} {
		if _, err := uuid.Parse(given); given != "" && err != nil {
			return badResource("router", "'%s' is not a valid UUID", given)
		}
	}
	if action == "add_router_interface" && req.SubnetID != "" && req.PortID != "" {
		return badResource("router", "Cannot specify both subnet-id and port-id.")
	}
	var info map[string]any
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		e, rr, err := a.routerForAction(v, c, id, action)
		if err != nil {
			return err
		}
		rt := newRouterTxn(a, v, t, c, rr)
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
		t.Replace(model.KindRouter, e, mustJSON(rr))
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// extraRoutesAction adds or removes routes of the router.
func (a *API) extraRoutesAction(w http.ResponseWriter, r *http.Request, c *reqCtx, id, action string) error {
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
		e, rr, err := a.routerForAction(v, c, id, action)
		if err != nil {
			return err
		}
		rt := newRouterTxn(a, v, t, c, rr)
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
		t.Replace(model.KindRouter, e, mustJSON(rr))
		return nil
	})
	if err != nil {
		return err
	}
	return a.showByID(w, c, routerDef, id)
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
	connected := append(rt.attachedSubnets(), rt.gatewaySubnets()...)
	if req.PortID != "" {
		return rt.addInterfacePort(req.PortID, connected)
	}
	return rt.addInterfaceSubnet(req.SubnetID, connected)
}

// addInterfacePort makes an existing port (with its addresses) a router
// interface.
func (rt *routerTxn) addInterfacePort(portID string, connected []*model.Subnet) (map[string]any, error) {
	a, v, t, c, r := rt.a, rt.v, rt.t, rt.c, rt.r
	pe, err := a.lookup(v, c, portDef, portID)
	if err != nil {
		return nil, err
	}
	curP, err := obj[*model.Port](pe)
	if err != nil {
		return nil, err
	}
	p := *curP
	if p.DeviceID != "" {
		return nil, conflict("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.", p.ID, p.NetworkID, p.DeviceID)
	}
	if len(p.FixedIPs) == 0 {
		return nil, badResource("router", "Router port must have at least one fixed IP.")
	}
	v4 := 0
	for _, ip := range p.FixedIPs {
		_, s, ok := store.GetAs[*model.Subnet](v, model.KindSubnet, ip.SubnetID)
		if !ok {
			continue
		}
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

// addInterfaceSubnet gives the router an interface on the subnet holding
// the subnet's gateway address.
func (rt *routerTxn) addInterfaceSubnet(subnetID string, connected []*model.Subnet) (map[string]any, error) {
	a, v, t, c, r := rt.a, rt.v, rt.t, rt.c, rt.r
	se, err := a.lookup(v, c, subnetDef, subnetID)
	if err != nil {
		return nil, err
	}
	s, err := obj[*model.Subnet](se)
	if err != nil {
		return nil, err
	}
	ne, ok := v.Get(model.KindNetwork, s.NetworkID)
	if !ok {
		return nil, notFound("NetworkNotFound", "Network %s could not be found.", s.NetworkID)
	}
	n, err := obj[*model.Network](ne)
	if err != nil {
		return nil, err
	}
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
			curQ, err := obj[*model.Port](ie)
			if err != nil {
				return nil, err
			}
			q := *curQ
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
		q, ok := store.As[*model.Port](ie)
		if !ok {
			continue
		}
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
		p, ok := store.As[*model.Port](pe)
		if !ok {
			continue
		}
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
	p, err := obj[*model.Port](target)
	if err != nil {
		return nil, err
	}
	for _, sid := range subnets {
		_, s, ok := store.GetAs[*model.Subnet](v, model.KindSubnet, sid)
		if !ok {
			continue
		}
		prefix := s.Prefix()
		var inUse bool
		for _, fe := range v.Index(model.KindFIP, hostview.ByRouter, r.ID) {
			if f, ok := store.As[*model.FloatingIP](fe); ok && fixedAddrIn(f, prefix) {
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

// routerForAction reads the router a member action (add_router_interface,
// add_extraroutes, ...) names, checks that the caller may run the action
// on it, and returns its entry and a copy to change.
func (a *API) routerForAction(v *store.View, c *reqCtx, id, action string) (*store.Entry, *model.Router, error) {
	e, err := a.lookup(v, c, routerDef, id)
	if err != nil {
		return nil, nil, err
	}
	if err := mayModify(c, routerDef, e, action); err != nil {
		return nil, nil, err
	}
	cur, err := obj[*model.Router](e)
	if err != nil {
		return nil, nil, err
	}
	rr := *cur
	return e, &rr, nil
}
