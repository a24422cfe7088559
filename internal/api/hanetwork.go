package api

import (
	"fmt"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// The hidden per-project HA network (docs/ha.md), as upstream's
// l3_hamode_db shows it: one network per project with HA routers, named
// after the project but owned by nobody (project_id ""), so that only
// admins see it, with one subnet on l3_ha_net_cidr (no gateway, no
// DHCP); each HA router has one port on it per agent hosting the router
// (the controller makes those, control.planHAPorts). The agents do not
// plug them: standbys probe the active host over the tunnel network.

// Upstream's names (neutron-lib constants).
const (
	haNetworkName = "HA network tenant %s"
	haSubnetName  = "HA subnet tenant %s"
)

// haScratch remembers the HA networks this transaction creates (a bulk
// create of several HA routers of one project makes one).
type haScratch struct{}

// ensureHANetwork returns the project's HA network, planning it and its
// subnet into t when the project has none yet.
func (a *API) ensureHANetwork(v *store.View, t *store.Txn, project string) (*model.Network, error) {
	pending := t.Scratch(haScratch{}, func() any { return map[string]*model.Network{} }).(map[string]*model.Network)
	if n := pending[project]; n != nil {
		return n, nil
	}
	if id, ok := v.Claim(claims.HANetwork, project); ok {
		if _, n, ok := store.GetAs[*model.Network](v, model.KindNetwork, id); ok {
			return n, nil
		}
		t.Release(claims.HANetwork, project) // deleted under the claim
	}
	n := &model.Network{
		Standard:              newStandard(a, "", nil, nil),
		Name:                  fmt.Sprintf(haNetworkName, project),
		AdminStateUp:          true,
		Status:                "ACTIVE",
		PortSecurityEnabled:   true,
		AvailabilityZoneHints: []string{},
		AvailabilityZones:     []string{},
		L2Adjacency:           true,
	}
	seg, err := a.segments.allocateTenant(v, t)
	if err != nil {
		return nil, err
	}
	if seg.NetworkType != "local" {
		t.Claim(seg.group(), seg.member(), n.ID)
	}
	n.NetworkType = seg.NetworkType
	if seg.SegmentationID != 0 {
		id := seg.SegmentationID
		n.SegmentationID = &id
	}
	n.MTU = a.segments.mtu(seg.NetworkType)
	prefix := a.cfg.L3HANetCIDR
	pools, err := subnetPools(prefix, nil, nil)
	if err != nil {
		return nil, err
	}
	s := &model.Subnet{
		Standard:        newStandard(a, "", nil, nil),
		Name:            fmt.Sprintf(haSubnetName, project),
		NetworkID:       n.ID,
		IPVersion:       4,
		CIDR:            prefix.String(),
		AllocationPools: pools,
		DNSNameservers:  []string{},
		HostRoutes:      []model.HostRoute{},
		ServiceTypes:    []string{},
	}
	n.Subnets = []string{s.ID}
	t.Claim(claims.HANetwork, project, n.ID)
	t.Create(model.KindNetwork, n.ID, mustJSON(n))
	t.Create(model.KindSubnet, s.ID, mustJSON(s))
	pending[project] = n
	return n, nil
}

// dropHA plans the removal of the router's HA ports and their claims
// (the router is deleted or no longer HA), and of the project's HA
// network when no other HA router of the project remains, as upstream
// deletes it with the project's last HA router.
func dropHA(a *API, v *store.View, t *store.Txn, c *reqCtx, r *model.Router) error {
	group := claims.HAPort(r.ID)
	for agentID := range v.Claims(group) {
		t.Release(group, agentID)
	}
	t.NoNewClaims(group)
	if id, ok := v.Claim(claims.HANetwork, r.ProjectID); ok && !otherHARouter(v, r) {
		ne, ok := v.Get(model.KindNetwork, id)
		if !ok {
			t.Release(claims.HANetwork, r.ProjectID)
			return nil
		}
		// Its ports (this router's HA ports among them) go with it.
		return deleteNetwork(a, v, t, c, ne)
	}
	for _, pe := range v.Index(model.KindPort, hostview.ByDevice, r.ID) {
		if p, ok := store.As[*model.Port](pe); ok && p.DeviceOwner == model.OwnerRouterHA {
			deletePortTxn(t, pe)
		}
	}
	return nil
}

// otherHARouter reports whether the router's project has another HA
// router.
func otherHARouter(v *store.View, r *model.Router) bool {
	used := false
	v.Each(model.KindRouter, func(e *store.Entry) bool {
		o, ok := store.As[*model.Router](e)
		used = ok && o.HA && o.ID != r.ID && o.ProjectID == r.ProjectID
		return !used
	})
	return used
}

// releaseHANetworkClaim: deleting an HA network by hand releases the
// project's claim on it (the next HA router makes a new one).
func releaseHANetworkClaim(v *store.View, t *store.Txn, netID string) {
	for project, id := range v.Claims(claims.HANetwork) {
		if id == netID {
			t.Release(claims.HANetwork, project)
		}
	}
}
