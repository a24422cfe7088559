package api

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// segmentPools is ML2's type-driver configuration: which network types
// exist and which segment ids tenants get.
type segmentPools struct {
	cfg         config.Server
	vni         []ipam.Range
	gre         []ipam.Range
	vlan        map[string][]ipam.Range
	vlanPhysnet []string
}

func newSegmentPools(cfg config.Server) (*segmentPools, error) {
	s := &segmentPools{cfg: cfg}
	var err error
	if s.vni, err = ipam.ParseVNIRanges(cfg.VNIRanges); err != nil {
		return nil, fmt.Errorf("[ml2_type_vxlan] vni_ranges: %w", err)
	}
	if s.gre, err = ipam.ParseRanges(cfg.TunnelIDRanges, 1, 1<<32-1); err != nil {
		return nil, fmt.Errorf("[ml2_type_gre] tunnel_id_ranges: %w", err)
	}
	if s.vlan, s.vlanPhysnet, err = ipam.ParseVLANRanges(cfg.NetworkVLANRanges); err != nil {
		return nil, fmt.Errorf("[ml2_type_vlan] network_vlan_ranges: %w", err)
	}
	return s, nil
}

func (s *segmentPools) mtu(networkType string) int {
	switch networkType {
	case "vxlan":
		return s.cfg.GlobalPhysnetMTU - 50
	case "geneve":
		return s.cfg.GlobalPhysnetMTU - 58
	case "gre":
		return s.cfg.GlobalPhysnetMTU - 42
	}
	return s.cfg.GlobalPhysnetMTU
}

type segment struct{ model.Segment }

// group and member name the segment's uniqueness claim ("local" is
// never claimed exclusively; see claimProvider).
func (g segment) group() string { return claims.Segment(g.NetworkType, g.PhysicalNetwork) }

func (g segment) member() string {
	return claims.SegmentMember(g.NetworkType, g.PhysicalNetwork, g.SegmentationID)
}

func segmentOf(n *model.Network) segment { return segment{n.Segment()} }

// requested validates admin-given provider attributes; nil means none
// were given.
func (s *segmentPools) requested(req networkReq) (*segment, error) {
	if req.NetworkType == nil {
		if req.PhysicalNetwork.Set || req.SegmentationID.Set {
			return nil, invalidInput("provider:network_type required")
		}
		return nil, nil
	}
	g := &segment{model.Segment{NetworkType: *req.NetworkType}}
	if req.PhysicalNetwork.Set && !req.PhysicalNetwork.Null {
		g.PhysicalNetwork = req.PhysicalNetwork.V
	}
	hasID := req.SegmentationID.Set && !req.SegmentationID.Null
	if hasID {
		g.SegmentationID = int(req.SegmentationID.V)
	}
	if !slices.Contains(s.cfg.TypeDrivers, g.NetworkType) {
		return nil, invalidInput("network_type value '%s' not supported", g.NetworkType)
	}
	switch g.NetworkType {
	case "flat":
		if g.PhysicalNetwork == "" {
			return nil, invalidInput("physical_network required for flat provider network")
		}
		if hasID {
			return nil, invalidInput("segmentation_id specified for flat provider network")
		}
		if !slices.Contains(s.cfg.FlatNetworks, "*") && !slices.Contains(s.cfg.FlatNetworks, g.PhysicalNetwork) {
			return nil, invalidInput("physical_network '%s' unknown for flat provider network", g.PhysicalNetwork)
		}
	case "vlan":
		if g.PhysicalNetwork != "" {
			if _, ok := s.vlan[g.PhysicalNetwork]; !ok {
				return nil, invalidInput("physical_network '%s' unknown for VLAN provider network", g.PhysicalNetwork)
			}
		} else if hasID {
			return nil, invalidInput("physical_network required for VLAN provider network")
		}
		if hasID && (g.SegmentationID < 1 || g.SegmentationID > 4094) {
			return nil, invalidInput("provider:segmentation_id out of range (1 through 4094)")
		}
	case "vxlan", "geneve":
		if g.PhysicalNetwork != "" {
			return nil, invalidInput("provider:physical_network specified for %s network", g.NetworkType)
		}
		if hasID && (g.SegmentationID < 1 || g.SegmentationID > 1<<24-1) {
			return nil, invalidInput("%s network segmentation id %d out of range (1 through 16777215)", g.NetworkType, g.SegmentationID)
		}
	case "gre":
		if g.PhysicalNetwork != "" {
			return nil, invalidInput("provider:physical_network specified for GRE network")
		}
		if hasID && (g.SegmentationID < 1 || g.SegmentationID > 1<<32-1) {
			return nil, invalidInput("GRE network segmentation id %d out of range", g.SegmentationID)
		}
	case "local":
		if g.PhysicalNetwork != "" || hasID {
			return nil, invalidInput("provider:physical_network and provider:segmentation_id must not be set for local network")
		}
	}
	return g, nil
}

// claimProvider completes an admin-given segment (allocating the id when
// only type/physnet was given) and refuses one already in use.
func (s *segmentPools) claimProvider(v *store.View, t *store.Txn, g segment) (*segment, error) {
	switch g.NetworkType {
	case "local":
		return &g, nil
	case "flat":
		if segmentUsed(v, t, g.group(), g.member()) {
			return nil, conflict("FlatNetworkInUse", "Unable to create the flat network. Physical network %s is in use.", g.PhysicalNetwork)
		}
		return &g, nil
	}
	if g.SegmentationID == 0 {
		return s.allocate(v, t, g.NetworkType, g.PhysicalNetwork)
	}
	if segmentUsed(v, t, g.group(), g.member()) {
		if g.NetworkType == "vlan" {
			return nil, conflict("VlanIdInUse", "Unable to create the network. The VLAN %d on physical network %s is in use.", g.SegmentationID, g.PhysicalNetwork)
		}
		return nil, conflict("TunnelIdInUse", "Unable to create the network. The tunnel ID %d is in use.", g.SegmentationID)
	}
	return &g, nil
}

// allocateTenant gives a tenant network a segment of the first tenant
// network type that has one free.
func (s *segmentPools) allocateTenant(v *store.View, t *store.Txn) (*segment, error) {
	for _, typ := range s.cfg.TenantNetworkTypes {
		if typ == "local" {
			return &segment{model.Segment{NetworkType: "local"}}, nil
		}
		if g, err := s.allocate(v, t, typ, ""); err == nil {
			return g, nil
		}
	}
	return nil, newErr(http.StatusServiceUnavailable, "NoNetworkAvailable", "Unable to create the network. No tenant network is available for allocation.")
}

// segmentUsed reports a segment held by a network, or taken by an
// earlier network of the same bulk create (not in the view yet).
func segmentUsed(v *store.View, t *store.Txn, group, member string) bool {
	_, used := v.Claim(group, member)
	return used || t.Claimed(group, member)
}

func (s *segmentPools) allocate(v *store.View, t *store.Txn, typ, physnet string) (*segment, error) {
	none := newErr(http.StatusServiceUnavailable, "NoNetworkAvailable", "Unable to create the network. No tenant network is available for allocation.")
	var candidates []string
	var ranges map[string][]ipam.Range
	switch typ {
	case "vxlan", "geneve":
		ranges, candidates = map[string][]ipam.Range{"": s.vni}, []string{""}
	case "gre":
		ranges, candidates = map[string][]ipam.Range{"": s.gre}, []string{""}
	case "vlan":
		ranges, candidates = s.vlan, s.vlanPhysnet
		if physnet != "" {
			candidates = []string{physnet}
		}
	default:
		return nil, none
	}
	for _, pn := range candidates {
		g := segment{model.Segment{NetworkType: typ, PhysicalNetwork: pn}}
		used := v.Claims(g.group())
		id, ok := ipam.PickSegment(ranges[pn], func(n int) bool {
			m := strconv.Itoa(n)
			_, u := used[m]
			return u || t.Claimed(g.group(), m)
		}, rand.IntN)
		if ok {
			g.SegmentationID = id
			return &g, nil
		}
	}
	return nil, none
}
