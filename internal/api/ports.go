package api

import (
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/control"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

var portDef = &resourceDef{
	kind: model.KindPort, singular: "port", collection: "ports", path: "ports", tags: true,
	attrs: standardAttrs(map[string]attr{
		"name":                  {typ: 's', post: true, put: true},
		"network_id":            {typ: 's', post: true, required: true},
		"admin_state_up":        {typ: 'b', post: true, put: true},
		"mac_address":           {typ: 's', post: true, put: true},
		"fixed_ips":             {typ: 'o', post: true, put: true},
		"device_id":             {typ: 's', post: true, put: true},
		"device_owner":          {typ: 's', post: true, put: true},
		"status":                {typ: 's'},
		"security_groups":       {typ: 'l', post: true, put: true},
		"allowed_address_pairs": {typ: 'o', post: true, put: true},
		"port_security_enabled": {typ: 'b', post: true, put: true},
		"extra_dhcp_opts":       {typ: 'o', post: true, put: true},
		"binding:host_id":       {typ: 's', post: true, put: true, adminSet: true, def: ""},
		"binding:vnic_type":     {typ: 's', post: true, put: true},
		"binding:vif_type":      {typ: 's'},
		"binding:vif_details":   {typ: 'o'},
		"binding:profile":       {typ: 'o', post: true, put: true, adminSet: true},
		"trusted":               {typ: 'b', post: true, put: true, adminSet: true},
		"ip_allocation":         {typ: 's'},
		"dns_name":              {typ: 's', post: true, put: true},
		"dns_assignment":        {typ: 'o'},
		"tags":                  {typ: 'o', post: true, nosort: true},
	}),
	hidden:   []string{"binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"},
	decode:   decoderOf[model.Port](),
	notFound: func(id string) *Error { return notFound("PortNotFound", "Port %s could not be found.", id) },
	visible:  portVisible,
	create:   createPort,
	update:   updatePort,
	delete:   deletePort,
	deleteAlso: func(v *store.View, c *reqCtx, e *store.Entry) bool {
		p, ok := store.As[*model.Port](e)
		if !ok {
			return false
		}
		_, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, p.NetworkID)
		return ok && c.project != "" && n.ProjectID == c.project
	},
}

func init() { register(portDef) }

// portVisible: the port's project, the network's owner, and admins.
func portVisible(v *store.View, c *reqCtx, e *store.Entry) bool {
	p, ok := store.As[*model.Port](e)
	if !ok {
		return false
	}
	if c.admin || p.ProjectID == c.project {
		return true
	}
	_, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, p.NetworkID)
	return ok && n.ProjectID == c.project
}

var vnicTypes = []string{"normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder", "smart-nic", "vdpa", "remote-managed", "accelerator-direct", "accelerator-direct-physical"}

type portReq struct {
	Name                *string                       `json:"name"`
	NetworkID           string                        `json:"network_id"`
	AdminStateUp        *flexBool                     `json:"admin_state_up"`
	MACAddress          optional[string]              `json:"mac_address"`
	FixedIPs            optional[[]fixedIPReq]        `json:"fixed_ips"`
	DeviceID            *string                       `json:"device_id"`
	DeviceOwner         *string                       `json:"device_owner"`
	SecurityGroups      optional[[]string]            `json:"security_groups"`
	AllowedAddressPairs optional[[]model.AddressPair] `json:"allowed_address_pairs"`
	PortSecurityEnabled *flexBool                     `json:"port_security_enabled"`
	ExtraDHCPOpts       optional[[]dhcpOptReq]        `json:"extra_dhcp_opts"`
	HostID              *string                       `json:"binding:host_id"`
	VNICType            *string                       `json:"binding:vnic_type"`
	Profile             optional[map[string]any]      `json:"binding:profile"`
	Trusted             *flexBool                     `json:"trusted"`
	DNSName             *string                       `json:"dns_name"`
	Description         *string                       `json:"description"`
	ProjectID           string                        `json:"project_id"`
	TenantID            string                        `json:"tenant_id"`
	Tags                []string                      `json:"tags"`
}

// setTrusted applies port-trusted-vif's "trusted" (null or absent: no
// change) and mirrors it into binding:profile, as upstream's
// PortTrustedDbMixin does for nova. The profile is copied: p may share
// it with the stored port.
func setTrusted(p *model.Port, v *flexBool) {
	if v == nil {
		if p.Trusted != nil && p.Profile["trusted"] == nil {
			p.Profile = maps.Clone(p.Profile)
			p.Profile["trusted"] = *p.Trusted // a new profile keeps it
		}
		return
	}
	b := bool(*v)
	p.Trusted = &b
	p.Profile = maps.Clone(p.Profile)
	if p.Profile == nil {
		p.Profile = map[string]any{}
	}
	p.Profile["trusted"] = b
}

type fixedIPReq struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

func (r *portReq) validate() error {
	for _, s := range []struct {
		n string
		v *string
	}{{"name", r.Name}, {"description", r.Description}, {"device_id", r.DeviceID}, {"device_owner", r.DeviceOwner}, {"binding:host_id", r.HostID}} {
		if err := checkString(s.n, s.v, 255); err != nil {
			return err
		}
	}
	if r.VNICType != nil && !slices.Contains(vnicTypes, *r.VNICType) {
		return invalidInput("'%s' is not in %v", *r.VNICType, vnicTypes)
	}
	if err := checkUUIDList("security_groups", r.SecurityGroups.V); err != nil {
		return err
	}
	return checkTags(r.Tags)
}

func createPort(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req portReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := req.validate(); err != nil {
		return "", err
	}
	ne, err := a.lookup(v, c, networkDef, req.NetworkID)
	if err != nil {
		return "", err
	}
	n, err := obj[*model.Network](ne)
	if err != nil {
		return "", err
	}
	netOwner := c.admin || n.ProjectID == c.project
	if !netOwner && !n.SharedTo(c.project) {
		return "", policyDenied("create_port")
	}
	if err := checkPortSecurityPolicy(req, netOwner, "create_port"); err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	if err := a.checkQuota(v, t, project, model.KindPort, 1); err != nil {
		return "", err
	}
	p, err := newPort(a, n, project, req, netOwner)
	if err != nil {
		return "", err
	}
	if err := checkDeviceID(v, c, p); err != nil {
		return "", err
	}
	control.BindPort(p)
	var requestedMAC *string // null as absent: a generated one
	if req.MACAddress.Set && !req.MACAddress.Null {
		requestedMAC = &req.MACAddress.V
	}
	if err := a.claimMAC(v, t, n, p, requestedMAC, netOwner); err != nil {
		return "", err
	}
	// Addresses.
	var reqIPs []fixedIPReq
	if req.FixedIPs.Set && !req.FixedIPs.Null {
		reqIPs = req.FixedIPs.V
		if reqIPs == nil {
			reqIPs = []fixedIPReq{}
		}
	}
	ips, err := a.allocateIPs(v, t, c, n, p, reqIPs, nil, netOwner)
	if err != nil {
		return "", err
	}
	p.FixedIPs = ips
	// Security.
	if err := a.setPortSecurity(v, t, c, p, req, true); err != nil {
		return "", err
	}
	if err := createExtraDHCPOpts(p, req.ExtraDHCPOpts); err != nil {
		return "", err
	}
	t.Create(model.KindPort, p.ID, mustJSON(p))
	return p.ID, nil
}

// newPort is the port a create request asks for on network n, before
// its MAC, addresses and security: the defaults, then what the request
// sets. Only the network's owner may give a "network:" device owner.
func newPort(a *API, n *model.Network, project string, req portReq, netOwner bool) (*model.Port, error) {
	p := &model.Port{
		Standard:            newStandard(a, project, req.Description, req.Tags),
		NetworkID:           n.ID,
		AdminStateUp:        boolOr(req.AdminStateUp, true),
		Status:              "DOWN",
		FixedIPs:            []model.FixedIP{},
		SecurityGroups:      []string{},
		AllowedAddressPairs: []model.AddressPair{},
		PortSecurityEnabled: boolOr(req.PortSecurityEnabled, n.PortSecurityEnabled),
		ExtraDHCPOpts:       []model.DHCPOpt{},
		VNICType:            "normal",
		VIFType:             "unbound",
		VIFDetails:          map[string]any{},
		Profile:             map[string]any{},
		IPAllocation:        "immediate",
	}
	if req.Name != nil {
		p.Name = *req.Name
	}
	if req.DeviceID != nil {
		p.DeviceID = *req.DeviceID
	}
	if req.DeviceOwner != nil {
		p.DeviceOwner = *req.DeviceOwner
		if strings.HasPrefix(p.DeviceOwner, "network:") && !netOwner {
			return nil, policyDenied("create_port:device_owner")
		}
	}
	if req.DNSName != nil {
		p.DNSName = *req.DNSName
	}
	if req.VNICType != nil {
		p.VNICType = *req.VNICType
	}
	if req.Profile.Set && !req.Profile.Null {
		p.Profile = req.Profile.V
	}
	setTrusted(p, req.Trusted)
	if req.HostID != nil {
		p.HostID = *req.HostID
	}
	return p, nil
}

// checkPortSecurityPolicy applies upstream's default policy to
// port_security_enabled and allowed_address_pairs: only admins and the
// network's owner may set them, whatever the value (both attributes
// enforce policy and default to "not specified"), so a project cannot
// open up its port on another project's shared network.
func checkPortSecurityPolicy(req portReq, netOwner bool, action string) error {
	if netOwner {
		return nil
	}
	if req.PortSecurityEnabled != nil {
		return policyDenied(action + ":port_security_enabled")
	}
	if req.AllowedAddressPairs.Set {
		return policyDenied(action + ":allowed_address_pairs")
	}
	return nil
}

// setPortSecurity applies security_groups, allowed_address_pairs and
// port_security_enabled, with upstream's defaults and consistency rules.
func (a *API) setPortSecurity(v *store.View, t *store.Txn, c *reqCtx, p *model.Port, req portReq, create bool) error {
	if req.PortSecurityEnabled != nil {
		p.PortSecurityEnabled = bool(*req.PortSecurityEnabled)
	}
	if req.SecurityGroups.Set {
		groups := []string{}
		var stateful, stateless bool
		for _, id := range req.SecurityGroups.V {
			_, sg, ok := store.GetAs[*model.SecurityGroup](v, model.KindSG, id)
			if !ok || !(c.admin || sg.ProjectID == p.ProjectID || sg.Shared || rbacShared(v, &reqCtx{project: p.ProjectID}, model.KindSG, id)) {
				return notFound("SecurityGroupNotFound", "Security group %s does not exist", id)
			}
			if sg.ProjectID != p.ProjectID {
				// Using another project's group serializes with removing
				// the policy that shares it (rbacindex.go boundProjects).
				t.Serialize("security-group/" + id)
			}
			stateful, stateless = stateful || sg.Stateful, stateless || !sg.Stateful
			if !slices.Contains(groups, id) {
				groups = append(groups, id)
			}
		}
		if stateful && stateless {
			return conflict("SecurityGroupConflict", "Error Cannot apply both stateful and stateless security groups on the same port at the same time while attempting the operation.")
		}
		p.SecurityGroups = groups
	} else if create && p.PortSecurityEnabled && !strings.HasPrefix(p.DeviceOwner, "network:") {
		id, err := a.defaultSGFor(v, t, p.ProjectID)
		if err != nil {
			return err
		}
		p.SecurityGroups = []string{id}
	}
	if req.AllowedAddressPairs.Set {
		pairs := []model.AddressPair{}
		for _, ap := range req.AllowedAddressPairs.V {
			if ap.IPAddress == "" {
				return invalidInput("AllowedAddressPair must contain ip_address")
			}
			if _, err := netip.ParsePrefix(ap.IPAddress); err != nil {
				if _, err := netip.ParseAddr(ap.IPAddress); err != nil {
					return invalidInput("'%s' is not a valid IP address", ap.IPAddress)
				}
			}
			if ap.MACAddress == "" {
				ap.MACAddress = p.MACAddress
			} else {
				mac, err := ipam.NormalizeMAC(ap.MACAddress)
				if err != nil {
					return err
				}
				ap.MACAddress = mac
			}
			if slices.Contains(pairs, ap) {
				return newErr(400, "DuplicateAddressPairInRequest", "Request contains duplicate address pair: mac_address %s ip_address %s.", ap.MACAddress, ap.IPAddress)
			}
			pairs = append(pairs, ap)
		}
		p.AllowedAddressPairs = pairs
	}
	if !p.PortSecurityEnabled {
		if len(p.SecurityGroups) > 0 {
			if req.SecurityGroups.Set || !create {
				return conflict("PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or ip address until security group is removed")
			}
		}
		if len(p.AllowedAddressPairs) > 0 {
			return conflict("AddressPairAndPortSecurityRequired", "Port Security must be enabled in order to have allowed address pairs on a port.")
		}
	}
	return nil
}

func updatePort(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req portReq
	p, err := updating[model.Port](e, body, &req, req.validate)
	if err != nil {
		return err
	}
	_, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, p.NetworkID)
	if !ok {
		return notFound("NetworkNotFound", "Network %s could not be found.", p.NetworkID)
	}
	netOwner := c.admin || n.ProjectID == c.project
	if err := checkPortSecurityPolicy(req, netOwner, "update_port"); err != nil {
		return err
	}
	if req.Name != nil {
		p.Name = *req.Name
	}
	if req.Description != nil {
		p.Description = *req.Description
	}
	if req.AdminStateUp != nil {
		p.AdminStateUp = bool(*req.AdminStateUp)
	}
	if req.DeviceID != nil {
		p.DeviceID = *req.DeviceID
	}
	if req.DeviceOwner != nil {
		if strings.HasPrefix(*req.DeviceOwner, "network:") && !netOwner {
			return policyDenied("update_port:device_owner")
		}
		p.DeviceOwner = *req.DeviceOwner
	}
	if req.DeviceID != nil || req.DeviceOwner != nil {
		if err := checkDeviceID(v, c, &p); err != nil {
			return err
		}
	}
	if req.DNSName != nil {
		p.DNSName = *req.DNSName
	}
	if req.VNICType != nil {
		p.VNICType = *req.VNICType
	}
	if req.Profile.Set {
		p.Profile = map[string]any{}
		if !req.Profile.Null && req.Profile.V != nil {
			p.Profile = req.Profile.V
		}
	}
	setTrusted(&p, req.Trusted)
	if req.HostID != nil {
		p.HostID = *req.HostID
	}
	control.BindPort(&p)
	if req.MACAddress.Set {
		if !netOwner {
			return policyDenied("update_port:mac_address")
		}
		if err := a.changeMAC(v, t, n, &p, req.MACAddress); err != nil {
			return err
		}
	}
	if req.FixedIPs.Set {
		reqIPs := req.FixedIPs.V
		if reqIPs == nil {
			reqIPs = []fixedIPReq{}
		}
		ips, err := a.allocateIPs(v, t, c, n, &p, reqIPs, p.FixedIPs, netOwner)
		if err != nil {
			return err
		}
		for _, old := range p.FixedIPs {
			if !slices.Contains(ips, old) {
				t.Release(claims.IP(old.SubnetID), old.IPAddress)
			}
		}
		p.FixedIPs = ips
	}
	if err := a.setPortSecurity(v, t, c, &p, req, false); err != nil {
		return err
	}
	if err := updateExtraDHCPOpts(&p, req.ExtraDHCPOpts); err != nil {
		return err
	}
	bump(a, &p.Standard)
	t.Replace(model.KindPort, e, mustJSON(&p))
	return nil
}

// changeMAC gives port p the MAC an update asks for (null: a new
// generated one, port-mac-address-regenerate), claiming it on the
// network; a bound port keeps its MAC.
func (a *API) changeMAC(v *store.View, t *store.Txn, n *model.Network, p *model.Port, want optional[string]) error {
	var mac string
	var err error
	if want.Null { // port-mac-address-regenerate
		mac, err = a.generateMAC(v, t, n.ID)
	} else {
		mac, err = ipam.NormalizeMAC(want.V)
	}
	if err != nil {
		return err
	}
	if mac != p.MACAddress {
		if p.HostID != "" && p.VIFType != "unbound" {
			return conflict("PortBound", "Unable to complete operation on port %s, port is already bound, port type: %s, old_mac %s, new_mac %s.", p.ID, p.VIFType, p.MACAddress, mac)
		}
		if _, used := v.Claim(claims.MAC(n.ID), mac); used {
			return conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", n.ID, mac)
		}
		t.Release(claims.MAC(n.ID), p.MACAddress)
		t.Claim(claims.MAC(n.ID), mac, p.ID)
		p.MACAddress = mac
	}
	return nil
}

// claimMAC gives a new port the requested MAC (network owners only) or
// a generated one, and claims it on the network.
func (a *API) claimMAC(v *store.View, t *store.Txn, n *model.Network, p *model.Port, requested *string, netOwner bool) error {
	if requested != nil {
		if !netOwner {
			return policyDenied("create_port:mac_address")
		}
		mac, err := ipam.NormalizeMAC(*requested)
		if err != nil {
			return err
		}
		if _, used := v.Claim(claims.MAC(n.ID), mac); used || t.Claimed(claims.MAC(n.ID), mac) {
			return conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", n.ID, mac)
		}
		p.MACAddress = mac
	} else {
		mac, err := a.generateMAC(v, t, n.ID)
		if err != nil {
			return err
		}
		p.MACAddress = mac
	}
	t.Claim(claims.MAC(n.ID), p.MACAddress, p.ID)
	return nil
}

// serviceOwners are ports that belong to routers and floating IPs and
// cannot be deleted through /ports while their owner exists.
func serviceOwner(owner string) bool {
	return isRouterPort(owner) || owner == model.OwnerFloatingIP
}

func deletePort(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	p, err := obj[*model.Port](e)
	if err != nil {
		return err
	}
	if serviceOwner(p.DeviceOwner) && p.DeviceID != "" {
		kind := model.KindRouter
		if p.DeviceOwner == model.OwnerFloatingIP {
			kind = model.KindFIP
		}
		if _, exists := v.Get(kind, p.DeviceID); exists {
			return conflict("ServicePortInUse", "Port %s cannot be deleted directly via the port API: has device owner %s.", p.ID, p.DeviceOwner)
		}
	}
	// Floating IPs of the port stay, disassociated (upstream behaviour).
	for _, fe := range v.Index(model.KindFIP, hostview.ByPort, p.ID) {
		cur, ok := store.As[*model.FloatingIP](fe)
		if !ok {
			continue
		}
		f := *cur
		disassociate(t, &f)
		f.Status = "DOWN"
		bump(a, &f.Standard)
		t.Replace(model.KindFIP, fe, mustJSON(&f))
	}
	deletePortTxn(t, e)
	return nil
}

// deletePortTxn removes a port and releases its claims.
func deletePortTxn(t *store.Txn, e *store.Entry) {
	p, ok := store.As[*model.Port](e)
	if !ok {
		return
	}
	for _, ip := range p.FixedIPs {
		t.Release(claims.IP(ip.SubnetID), ip.IPAddress)
	}
	t.Release(claims.MAC(p.NetworkID), p.MACAddress)
	t.Delete(model.KindPort, e)
}
