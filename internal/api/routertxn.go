package api

import (
	"maps"
	"net/http"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/control"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

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

// routerPorts returns the ports owned by the router with one of owners,
// found through the store's index of ports by device (not a scan of
// every port: 100,000 of them made an interface add take milliseconds).
func (rt *routerTxn) routerPorts(owners ...string) []*store.Entry {
	var out []*store.Entry
	add := func(pe *store.Entry) bool {
		if p, ok := store.As[*model.Port](pe); ok && p.DeviceID == rt.r.ID && slices.Contains(owners, p.DeviceOwner) {
			out = append(out, pe)
		}
		return true
	}
	if rt.v.HasIndex(model.KindPort, hostview.ByDevice) {
		for _, pe := range rt.v.Index(model.KindPort, hostview.ByDevice, rt.r.ID) {
			add(pe)
		}
	} else {
		rt.v.Each(model.KindPort, add)
	}
	slices.SortFunc(out, byCreation)
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
	for _, p := range portsOf(rt.interfaces()) {
		for _, ip := range p.FixedIPs {
			if _, s, ok := store.GetAs[*model.Subnet](rt.v, model.KindSubnet, ip.SubnetID); ok {
				out = append(out, s)
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
	_, n, ok := store.GetAs[*model.Network](rt.v, model.KindNetwork, rt.r.ExternalGatewayInfo.NetworkID)
	if !ok {
		return nil
	}
	return hostview.SubnetsOf(rt.v, n)
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
	_, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, g.NetworkID)
	if !ok || !networkVisible(rt.c, n) {
		return notFound("NetworkNotFound", "Network %s could not be found.", g.NetworkID)
	}
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
	if len(g.ExternalFixedIPs) == 0 {
		// Upstream treats an empty list as none given: keep the
		// addresses, or allocate automatically on a new gateway.
		g.ExternalFixedIPs = nil
	}
	if same && !gatewayIPsChange(r.ExternalGatewayInfo.ExternalFixedIPs, g.ExternalFixedIPs) {
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
	if err := rt.checkGatewayNetwork(n, g); err != nil {
		return err
	}
	var pe *store.Entry
	var p *model.Port
	if same {
		// Only the addresses change: re-allocate on the existing port.
		pe, _ = v.Get(model.KindPort, r.GatewayPortID)
	}
	if pe != nil {
		curCp, err := obj[*model.Port](pe)
		if err != nil {
			return err
		}
		cp := *curCp
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
	if len(ips) == 0 && len(n.Subnets) > 0 {
		// Upstream lets a gateway on an external network without
		// subnets have no address (it only logs); with subnets and none
		// usable, the gateway is refused.
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
		for _, iface := range portsOf(rt.interfaces()) {
			if err := rt.addSNATPort(iface); err != nil {
				return err
			}
		}
	}
	return nil
}

// gatewayIPsChange reports whether requested external_fixed_ips differ
// from the gateway's current addresses as upstream judges it
// (_check_for_external_ip_change): by the set of subnets named and the set
// of addresses named, so a request naming the current address again,
// e.g. [{ip X, subnet S}, {subnet S}], leaves the gateway as it is.
func gatewayIPsChange(cur []model.FixedIP, req []fixedIPReq) bool {
	if req == nil {
		return false
	}
	curSubnets, curIPs := map[string]bool{}, map[string]bool{}
	for _, ip := range cur {
		curSubnets[ip.SubnetID], curIPs[ip.IPAddress] = true, true
	}
	reqSubnets, reqIPs := map[string]bool{}, map[string]bool{}
	for _, ip := range req {
		if ip.SubnetID != "" {
			reqSubnets[ip.SubnetID] = true
		}
		if ip.IPAddress != "" {
			reqIPs[ip.IPAddress] = true
		}
	}
	return !maps.Equal(curSubnets, reqSubnets) || !maps.Equal(curIPs, reqIPs)
}

// checkGatewayNetwork refuses an external network overlapping the
// router's subnets, and requested addresses that are a subnet's gateway.
func (rt *routerTxn) checkGatewayNetwork(n *model.Network, g *gatewayReq) error {
	subnets := hostview.SubnetsOf(rt.v, n)
	for _, s := range subnets {
		if err := checkOverlap(s, rt.attachedSubnets()); err != nil {
			return err
		}
	}
	for _, ip := range g.ExternalFixedIPs {
		for _, s := range subnets {
			if s.GatewayIP != nil && ip.IPAddress == *s.GatewayIP {
				return badResource("router", "IP address %s is the gateway IP of subnet %s and cannot be used.", ip.IPAddress, s.ID)
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
		_, s, ok := store.GetAs[*model.Subnet](rt.v, model.KindSubnet, ip.SubnetID)
		if !ok || s.IPVersion != 4 {
			continue
		}
		ne, ok := rt.v.Get(model.KindNetwork, iface.NetworkID)
		if !ok {
			continue
		}
		n, ok := store.As[*model.Network](ne)
		if !ok {
			continue
		}
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
		p, ok := store.As[*model.Port](pe)
		if !ok {
			continue
		}
		for _, ip := range p.FixedIPs {
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
		curP, ok := store.As[*model.Port](pe)
		if !ok {
			continue
		}
		p := *curP
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
	for _, p := range portsOf(rt.interfaces()) {
		for _, ip := range p.FixedIPs {
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
