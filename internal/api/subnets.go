package api

import (
	"encoding/json"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

var subnetDef = &resourceDef{
	kind: model.KindSubnet, singular: "subnet", collection: "subnets", path: "subnets", tags: true,
	attrs: standardAttrs(map[string]attr{
		"name":                   {typ: 's', post: true, put: true},
		"network_id":             {typ: 's', post: true, required: true},
		"ip_version":             {typ: 'i', post: true, required: true},
		"cidr":                   {typ: 's', post: true},
		"subnetpool_id":          {typ: 's', post: true},
		"prefixlen":              {typ: 'o', post: true},
		"use_default_subnetpool": {typ: 'o', post: true},
		"gateway_ip":             {typ: 's', post: true, put: true},
		"allocation_pools":       {typ: 'o', post: true, put: true},
		"dns_nameservers":        {typ: 'o', post: true, put: true},
		"host_routes":            {typ: 'o', post: true, put: true},
		"enable_dhcp":            {typ: 'b', post: true, put: true},
		"ipv6_ra_mode":           {typ: 's', post: true},
		"ipv6_address_mode":      {typ: 's', post: true},
		"segment_id":             {typ: 's', post: true, put: true, adminSet: true},
		"service_types":          {typ: 'o', post: true, put: true},
		"dns_publish_fixed_ip":   {typ: 'b', post: true, put: true},
		"router:external":        {typ: 'b'},
		"tags":                   {typ: 'o', post: true, nosort: true},
	}),
	decode:   decoderOf[model.Subnet](),
	notFound: func(id string) *Error { return notFound("SubnetNotFound", "Subnet %s could not be found.", id) },
	visible:  subnetVisible,
	// A subnet is shared when its network is: upstream filters on it
	// but does not show it.
	boolFilters: map[string]func(v *store.View, e *store.Entry) bool{"shared": subnetShared},
	create:      createSubnet,
	update:      updateSubnet,
	delete:      deleteSubnet,
}

func init() { register(subnetDef) }

func subnetVisible(v *store.View, c *reqCtx, e *store.Entry) bool {
	s, ok := store.As[*model.Subnet](e)
	if !ok {
		return false
	}
	if c.admin || s.ProjectID == c.project {
		return true
	}
	// Others see the subnets of shared networks and of their own
	// networks; an external network's subnets stay hidden unless it is
	// shared (upstream's get_subnet rule, without the
	// subnet-external-network extension, which we do not advertise).
	_, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, s.NetworkID)
	return ok && (n.SharedTo(c.project) || n.ProjectID == c.project)
}

func subnetShared(v *store.View, e *store.Entry) bool {
	s, ok := store.As[*model.Subnet](e)
	if !ok {
		return false
	}
	_, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, s.NetworkID)
	return ok && n.Shared
}

type subnetReq struct {
	Name            *string            `json:"name"`
	NetworkID       string             `json:"network_id"`
	IPVersion       flexInt            `json:"ip_version"`
	CIDR            *string            `json:"cidr"`
	SubnetPoolID    optional[string]   `json:"subnetpool_id"`
	Prefixlen       *flexInt           `json:"prefixlen"`
	UseDefaultPool  *flexBool          `json:"use_default_subnetpool"`
	GatewayIP       optional[string]   `json:"gateway_ip"`
	AllocationPools *[]model.Pool      `json:"allocation_pools"`
	DNSNameservers  *[]string          `json:"dns_nameservers"`
	HostRoutes      *[]model.HostRoute `json:"host_routes"`
	EnableDHCP      *flexBool          `json:"enable_dhcp"`
	IPv6RAMode      optional[string]   `json:"ipv6_ra_mode"`
	IPv6AddressMode optional[string]   `json:"ipv6_address_mode"`
	SegmentID       optional[string]   `json:"segment_id"`
	ServiceTypes    *[]string          `json:"service_types"`
	DNSPublish      *flexBool          `json:"dns_publish_fixed_ip"`
	Description     *string            `json:"description"`
	ProjectID       string             `json:"project_id"`
	TenantID        string             `json:"tenant_id"`
	Tags            []string           `json:"tags"`
}

func createSubnet(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req subnetReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := checkString("name", req.Name, 255); err != nil {
		return "", err
	}
	if err := checkTags(req.Tags); err != nil {
		return "", err
	}
	ne, err := a.lookup(v, c, networkDef, req.NetworkID)
	if err != nil {
		return "", err
	}
	// The network as this request leaves it so far: earlier subnets of a
	// bulk create are already in its list.
	viewed := ne
	ne, _ = t.Get(v, model.KindNetwork, ne.ID)
	n, err := obj[*model.Network](ne)
	if err != nil {
		return "", err
	}
	if !c.admin && n.ProjectID != c.project {
		return "", policyDenied("create_subnet")
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	if err := a.checkQuota(v, t, project, model.KindSubnet, 1); err != nil {
		return "", err
	}
	version := int(req.IPVersion)
	if version != 4 && version != 6 {
		return "", invalidInput("%d is not in [4, 6]", version)
	}
	if version == 6 && n.MTU < ipv6MinMTU {
		return "", invalidInput("IPv6 subnet can not be added to network %s: its MTU %d is less than the minimum IPv6 MTU %d", n.ID, n.MTU, ipv6MinMTU)
	}
	prefix, pool, err := subnetPrefix(v, t, c, req, version, project, n)
	if err != nil {
		return "", err
	}
	s := &model.Subnet{
		Standard:          newStandard(a, project, req.Description, req.Tags),
		NetworkID:         n.ID,
		IPVersion:         version,
		CIDR:              prefix.String(),
		EnableDHCP:        boolOr(req.EnableDHCP, true),
		DNSNameservers:    []string{},
		HostRoutes:        []model.HostRoute{},
		ServiceTypes:      []string{},
		External:          n.External,
		DNSPublishFixedIP: boolOr(req.DNSPublish, false),
	}
	if req.Name != nil {
		s.Name = *req.Name
	}
	if err := setIPv6Modes(s, req); err != nil {
		return "", err
	}
	if s.EnableDHCP {
		if err := ipam.ValidateSubnetForDHCP(prefix); err != nil {
			return "", err
		}
	}
	if err := checkSubnetOverlap(v, t, n, prefix); err != nil {
		return "", err
	}
	gw, err := requestedGateway(req, prefix, version)
	if err != nil {
		return "", err
	}
	if gw != nil {
		g := gw.String()
		s.GatewayIP = &g
	}
	pools, err := subnetPools(prefix, req.AllocationPools, gw)
	if err != nil {
		return "", err
	}
	s.AllocationPools = pools
	if err := a.setDNSAndRoutes(s, req.DNSNameservers, req.HostRoutes); err != nil {
		return "", err
	}
	if req.ServiceTypes != nil {
		if err := checkServiceTypes(*req.ServiceTypes); err != nil {
			return "", err
		}
		s.ServiceTypes = *req.ServiceTypes
	}
	if req.SegmentID.Set && !req.SegmentID.Null {
		return "", badRequest("segment_id: network segments are not supported by this server")
	}
	addSubnet(a, t, ne, ne == viewed, n, s, pool)
	return s.ID, nil
}

// addSubnet writes a new subnet and its network (subnet list, address
// scope of its pool); the network's revision bumps once per request,
// however many subnets a bulk create adds (first: ne is the view's).
func addSubnet(a *API, t *store.Txn, ne *store.Entry, first bool, n *model.Network, s *model.Subnet, pool *model.SubnetPool) {
	nn := *n
	nn.Subnets = append(slices.Clone(n.Subnets), s.ID)
	if pool != nil {
		id := pool.ID
		s.SubnetPoolID = &id
		setNetworkScope(&nn, s.IPVersion, pool.AddressScopeID)
	}
	if first {
		bump(a, &nn.Standard)
	}
	t.Replace(model.KindNetwork, ne, mustJSON(&nn))
	t.Create(model.KindSubnet, s.ID, mustJSON(s))
}

// checkSubnetOverlap refuses a CIDR that overlaps one of the network's
// subnets, including those made by earlier items of a bulk create.
func checkSubnetOverlap(v *store.View, t *store.Txn, n *model.Network, prefix netip.Prefix) error {
	for _, sid := range n.Subnets {
		oe, ok := t.Get(v, model.KindSubnet, sid)
		if !ok {
			continue
		}
		if o, ok := store.As[*model.Subnet](oe); ok && o.Prefix().Overlaps(prefix) {
			return invalidInput("Requested subnet with cidr: %s for network: %s overlaps with another subnet", prefix, n.ID)
		}
	}
	return nil
}

// requestedGateway is the new subnet's gateway: the first address when
// not given, none when null, else the given one (checked).
func requestedGateway(req subnetReq, prefix netip.Prefix, version int) (*netip.Addr, error) {
	switch {
	case !req.GatewayIP.Set:
		g := ipam.DefaultGateway(prefix)
		return &g, nil
	case req.GatewayIP.Null:
		return nil, nil
	}
	g, err := ipam.ParseIP(req.GatewayIP.V, "gateway_ip", version)
	if err != nil {
		return nil, err
	}
	if err := ipam.ValidateGateway(prefix, g); err != nil {
		return nil, err
	}
	return &g, nil
}

func setIPv6Modes(s *model.Subnet, req subnetReq) error {
	modes := []string{"slaac", "dhcpv6-stateful", "dhcpv6-stateless"}
	for _, m := range []struct {
		name string
		o    optional[string]
		dst  **string
	}{{"ipv6_ra_mode", req.IPv6RAMode, &s.IPv6RAMode}, {"ipv6_address_mode", req.IPv6AddressMode, &s.IPv6AddressMode}} {
		if !m.o.Set || m.o.Null {
			continue
		}
		if s.IPVersion == 4 {
			return invalidInput("%s set to '%s' with ip_version 4 is not allowed", m.name, m.o.V)
		}
		if !slices.Contains(modes, m.o.V) {
			return invalidInput("'%s' is not in %v", m.o.V, modes)
		}
		val := m.o.V
		*m.dst = &val
	}
	if s.IPv6RAMode != nil && s.IPv6AddressMode != nil && *s.IPv6RAMode != *s.IPv6AddressMode {
		return invalidInput("ipv6_ra_mode set to '%s' with ipv6_address_mode set to '%s' is not valid. If both attributes are set, they must be the same value", *s.IPv6RAMode, *s.IPv6AddressMode)
	}
	return nil
}

// subnetPools validates requested pools or computes the default ones.
func subnetPools(prefix netip.Prefix, req *[]model.Pool, gw *netip.Addr) ([]model.Pool, error) {
	var pools []ipam.Pool
	if req == nil {
		pools = ipam.DefaultPools(prefix, gw)
	} else {
		for _, p := range *req {
			pp, err := ipam.ParsePool(p.Start, p.End)
			if err != nil {
				return nil, err
			}
			pools = append(pools, pp)
		}
		if err := ipam.ValidatePools(prefix, pools, gw); err != nil {
			return nil, err
		}
	}
	out := []model.Pool{}
	for _, p := range pools {
		out = append(out, model.Pool{Start: p.Start.String(), End: p.End.String()})
	}
	return out, nil
}

func (a *API) setDNSAndRoutes(s *model.Subnet, dns *[]string, routes *[]model.HostRoute) error {
	if dns != nil {
		if len(*dns) > a.cfg.MaxDNSNameservers {
			return newErr(400, "DNSNameServersExhausted", "Unable to complete operation for %s. The number of DNS nameservers exceeds the limit %d.", s.ID, a.cfg.MaxDNSNameservers)
		}
		out := []string{}
		for _, d := range *dns {
			addr, err := netip.ParseAddr(d)
			if err != nil {
				return invalidInput("'%s' is not a valid nameserver. '%s' is not a valid IP address", d, d)
			}
			if slices.Contains(out, addr.String()) {
				return invalidInput("'%s' is not a valid nameserver. Duplicate nameserver '%s'", d, d)
			}
			out = append(out, addr.String())
		}
		s.DNSNameservers = out
	}
	if routes != nil {
		if len(*routes) > a.cfg.MaxSubnetHostRoutes {
			return newErr(400, "HostRoutesExhausted", "Unable to complete operation for %s. The number of host routes exceeds the limit %d.", s.ID, a.cfg.MaxSubnetHostRoutes)
		}
		out := []model.HostRoute{}
		for _, r := range *routes {
			dst, err := netip.ParsePrefix(r.Destination)
			if err != nil {
				return invalidInput("'%s' is not a valid IP subnet", r.Destination)
			}
			hop, err := netip.ParseAddr(r.NextHop)
			if err != nil {
				return invalidInput("'%s' is not a valid IP address", r.NextHop)
			}
			if ipam.Version(dst.Addr()) != s.IPVersion || ipam.Version(hop) != s.IPVersion {
				return invalidInput("Host route %s via %s does not match the subnet's ip_version %d", r.Destination, r.NextHop, s.IPVersion)
			}
			hr := model.HostRoute{Destination: dst.Masked().String(), NextHop: hop.String()}
			if slices.Contains(out, hr) {
				return invalidInput("Duplicate hostroute '%s'", r.Destination)
			}
			out = append(out, hr)
		}
		s.HostRoutes = out
	}
	return nil
}

func updateSubnet(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req subnetReq
	s, err := updating[model.Subnet](e, body, &req, func() error { return checkString("name", req.Name, 255) })
	if err != nil {
		return err
	}
	prefix := s.Prefix()
	if req.Name != nil {
		s.Name = *req.Name
	}
	if req.Description != nil {
		s.Description = *req.Description
	}
	if req.EnableDHCP != nil {
		s.EnableDHCP = bool(*req.EnableDHCP)
		if s.EnableDHCP {
			if err := ipam.ValidateSubnetForDHCP(prefix); err != nil {
				return err
			}
		}
	}
	if req.DNSPublish != nil {
		s.DNSPublishFixedIP = bool(*req.DNSPublish)
	}
	var gw *netip.Addr
	if s.GatewayIP != nil {
		g, _ := s.Gateway()
		gw = &g
	}
	if req.GatewayIP.Set {
		var newGW *netip.Addr
		if !req.GatewayIP.Null {
			g, err := ipam.ParseIP(req.GatewayIP.V, "gateway_ip", s.IPVersion)
			if err != nil {
				return err
			}
			if err := ipam.ValidateGateway(prefix, g); err != nil {
				return err
			}
			newGW = &g
		}
		if gw != nil && (newGW == nil || *newGW != *gw) {
			if owner, used := v.Claim(claims.IP(s.ID), gw.String()); used {
				if _, p, ok := store.GetAs[*model.Port](v, model.KindPort, owner); ok && isRouterPort(p.DeviceOwner) {
					return conflict("GatewayIpInUse", "Current gateway ip %s already in use by port %s. Unable to update.", gw, owner)
				}
			}
		}
		gw = newGW
		s.GatewayIP = nil
		if gw != nil {
			g := gw.String()
			s.GatewayIP = &g
		}
	}
	if req.AllocationPools != nil || req.GatewayIP.Set {
		cur := &s.AllocationPools
		if req.AllocationPools != nil {
			cur = req.AllocationPools
		}
		pools, err := subnetPools(prefix, cur, gw)
		if err != nil {
			return err
		}
		s.AllocationPools = pools
	}
	if err := a.setDNSAndRoutes(&s, req.DNSNameservers, req.HostRoutes); err != nil {
		return err
	}
	if req.ServiceTypes != nil {
		if err := checkServiceTypes(*req.ServiceTypes); err != nil {
			return err
		}
		s.ServiceTypes = *req.ServiceTypes
	}
	bump(a, &s.Standard)
	t.Replace(model.KindSubnet, e, mustJSON(&s))
	return nil
}

func isRouterPort(owner string) bool {
	switch owner {
	case model.OwnerRouterInterface, model.OwnerRouterInterfaceD, model.OwnerRouterGateway, model.OwnerHARouterInterface, model.OwnerRouterSNAT:
		return true
	}
	return false
}

func isRouterInterfaceOwner(owner string) bool {
	return owner == model.OwnerRouterInterface || owner == model.OwnerRouterInterfaceD || owner == model.OwnerHARouterInterface
}

func deleteSubnet(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	s, err := obj[*model.Subnet](e)
	if err != nil {
		return err
	}
	group := claims.IP(s.ID)
	// Upstream (_remove_subnet_ip_allocations_from_ports): router
	// interfaces always keep a subnet; other ports do unless they are
	// service ports or the addresses are automatic (SLAAC or
	// DHCPv6-stateless), which the ports lose with the subnet.
	autoAddress := isSLAAC(s)
	var holders []*store.Entry
	for _, owner := range v.Claims(group) {
		pe, p, ok := store.GetAs[*model.Port](v, model.KindPort, owner)
		if !ok {
			continue
		}
		if isRouterInterfaceOwner(p.DeviceOwner) || !autoAddress && !model.AutoDeletedOwner(p.DeviceOwner) {
			return conflict("SubnetInUse", "Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet.", s.ID)
		}
		if !slices.Contains(holders, pe) {
			holders = append(holders, pe)
		}
	}
	t.NoNewClaims(group)
	for _, pe := range holders {
		// Ports lose their address on this subnet; a service port left
		// with no address at all goes, a user's port stays.
		curP, ok := store.As[*model.Port](pe)
		if !ok {
			continue
		}
		p := *curP
		keep := []model.FixedIP{}
		for _, ip := range p.FixedIPs {
			if ip.SubnetID != s.ID {
				keep = append(keep, ip)
			}
		}
		if len(keep) == 0 && model.AutoDeletedOwner(p.DeviceOwner) {
			deletePortTxn(t, pe)
			continue
		}
		for _, ip := range p.FixedIPs {
			if ip.SubnetID == s.ID {
				t.Release(group, ip.IPAddress)
			}
		}
		p.FixedIPs = keep
		bump(a, &p.Standard)
		t.Replace(model.KindPort, pe, mustJSON(&p))
	}
	if ne, ok := v.Get(model.KindNetwork, s.NetworkID); ok {
		curNn, err := obj[*model.Network](ne)
		if err != nil {
			return err
		}
		nn := *curNn
		nn.Subnets = slices.DeleteFunc(slices.Clone(nn.Subnets), func(id string) bool { return id == s.ID })
		networkScopeAfterDelete(v, &nn, s)
		bump(a, &nn.Standard)
		t.Replace(model.KindNetwork, ne, mustJSON(&nn))
	}
	t.Delete(model.KindSubnet, e)
	return nil
}
