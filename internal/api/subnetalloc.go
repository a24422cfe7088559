package api

import (
	"math/big"
	"net/http"
	"net/netip"

	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// poolRequest resolves the subnet pool of a subnet create: subnetpool_id,
// or the default pool of the IP version with use_default_subnetpool
// (upstream's _get_subnetpool_id). nil without either.
func poolRequest(v *store.View, c *reqCtx, req subnetReq, version int) (*store.Entry, error) {
	useDefault := req.UseDefaultPool != nil && bool(*req.UseDefaultPool)
	given := req.SubnetPoolID.Set && !req.SubnetPoolID.Null && req.SubnetPoolID.V != ""
	if useDefault && given {
		return nil, badResource("subnets", "subnetpool_id and use_default_subnetpool cannot both be specified")
	}
	if given {
		return lookupAs(v, c, subnetPoolDef, req.SubnetPoolID.V)
	}
	if !useDefault {
		return nil, nil
	}
	var found *store.Entry
	v.Each(model.KindSubnetPool, func(e *store.Entry) bool {
		if p, ok := store.As[*model.SubnetPool](e); ok && p.IsDefault && p.IPVersion == version && subnetPoolVisible(v, c, p) {
			found = e
		}
		return found == nil
	})
	if found == nil {
		return nil, badResource("subnets", "No default subnetpool found for IPv%d", version)
	}
	return found, nil
}

// poolAllocKey is this file's key into Txn.Scratch: the prefixes that
// earlier items of a bulk create took from each pool.
type poolAllocKey struct{}

func pendingAllocations(t *store.Txn) map[string][]netip.Prefix {
	return t.Scratch(poolAllocKey{}, func() any { return map[string][]netip.Prefix{} }).(map[string][]netip.Prefix)
}

// allocateFromPool is upstream's SubnetAllocator: a given cidr must lie
// in the pool's free space; else the first free block (smallest blocks
// first) gives a subnet of the requested or default prefix length. The
// project's use of the pool counts against its default_quota.
func allocateFromPool(v *store.View, t *store.Txn, pe *store.Entry, req subnetReq, version int, project string) (netip.Prefix, error) {
	p, err := obj[*model.SubnetPool](pe)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.IPVersion != version {
		return netip.Prefix{}, badResource("subnets", "Cannot allocate IPv%d subnet from IPv%d subnet pool", version, p.IPVersion)
	}
	// Allocations from one pool serialize (upstream locks the pool row),
	// and a pool delete serializes with them: it cannot miss a subnet.
	t.Require(model.KindSubnetPool, pe)
	t.Serialize("subnetpool-alloc/" + p.ID)
	var cidr *netip.Prefix
	plen := int(p.DefaultPrefixLen)
	if req.CIDR != nil {
		c, err := ipam.ParseCIDR(*req.CIDR, version)
		if err != nil {
			return netip.Prefix{}, err
		}
		cidr, plen = &c, c.Bits()
	} else if req.Prefixlen != nil {
		plen = int(*req.Prefixlen)
	}
	if plen > int(p.MaxPrefixLen) {
		return netip.Prefix{}, newErr(400, "MaxPrefixSubnetAllocationError", "Unable to allocate subnet with prefix length %d, maximum allowed prefix is %d.", plen, p.MaxPrefixLen)
	}
	if plen < int(p.MinPrefixLen) {
		return netip.Prefix{}, newErr(400, "MinPrefixSubnetAllocationError", "Unable to allocate subnet with prefix length %d, minimum allowed prefix is %d.", plen, p.MinPrefixLen)
	}
	pending := pendingAllocations(t)
	var used []netip.Prefix
	mine := new(big.Int)
	for _, s := range subnetsOfPool(v, p.ID) {
		used = append(used, s.Prefix())
		if s.ProjectID == project {
			mine.Add(mine, quotaUnits(s.Prefix().Bits(), version))
		}
	}
	used = append(used, pending[p.ID]...)
	if p.DefaultQuota != nil && *p.DefaultQuota > 0 {
		for _, q := range pending[p.ID] {
			mine.Add(mine, quotaUnits(q.Bits(), version))
		}
		mine.Add(mine, quotaUnits(plen, version))
		if mine.Cmp(big.NewInt(int64(*p.DefaultQuota))) > 0 {
			return netip.Prefix{}, conflict("SubnetPoolQuotaExceeded", "Per-tenant subnet pool prefix quota exceeded.")
		}
	}
	free := ipam.Subtract(parsePrefixes(p.Prefixes), used)
	got, ok := pickFree(free, cidr, plen)
	if !ok {
		if cidr != nil {
			return netip.Prefix{}, newErr(http.StatusInternalServerError, "SubnetAllocationError", "Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes.")
		}
		return netip.Prefix{}, newErr(http.StatusInternalServerError, "SubnetAllocationError", "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /%d.", plen)
	}
	pending[p.ID] = append(pending[p.ID], got)
	return got, nil
}

// pickFree takes the requested cidr if a free block holds it, or the
// first /plen of the smallest free block that fits one.
func pickFree(free []netip.Prefix, cidr *netip.Prefix, plen int) (netip.Prefix, bool) {
	if cidr != nil {
		for _, f := range free {
			if f.Bits() <= cidr.Bits() && f.Contains(cidr.Addr()) {
				return *cidr, true
			}
		}
		return netip.Prefix{}, false
	}
	best := -1
	for i, f := range free {
		if f.Bits() <= plen && (best < 0 || f.Bits() > free[best].Bits()) {
			best = i
		}
	}
	if best < 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(free[best].Addr(), plen), true
}

// quotaUnits is how much of a pool's default_quota a prefix takes:
// upstream counts /32s for IPv4 and /64s for IPv6.
func quotaUnits(bits, version int) *big.Int {
	unit := 32
	if version == 6 {
		unit = 64
	}
	if bits >= unit {
		return big.NewInt(1)
	}
	return new(big.Int).Lsh(big.NewInt(1), uint(unit-bits))
}

// checkPoolAffinity: subnets of one family on one network come from one
// pool (upstream's NetworkSubnetPoolAffinityError; like upstream, a
// subnet given by cidr alone is not checked).
func checkPoolAffinity(v *store.View, t *store.Txn, n *model.Network, version int, pool *model.SubnetPool) error {
	for _, sid := range n.Subnets {
		se, ok := t.Get(v, model.KindSubnet, sid)
		if !ok {
			continue
		}
		s, ok := store.As[*model.Subnet](se)
		if ok && s.IPVersion == version && (s.SubnetPoolID == nil || *s.SubnetPoolID != pool.ID) {
			return newErr(400, "NetworkSubnetPoolAffinityError", "Subnets hosted on the same network must be allocated from the same subnet pool.")
		}
	}
	return nil
}

// subnetPrefix is the new subnet's CIDR: given, or allocated from its
// pool (returned too).
func subnetPrefix(v *store.View, t *store.Txn, c *reqCtx, req subnetReq, version int, project string, n *model.Network) (netip.Prefix, *model.SubnetPool, error) {
	pe, err := poolRequest(v, c, req, version)
	if err != nil {
		return netip.Prefix{}, nil, err
	}
	if pe == nil {
		if req.CIDR == nil {
			return netip.Prefix{}, nil, badResource("subnets", "a cidr must be specified in the absence of a subnet pool")
		}
		prefix, err := ipam.ParseCIDR(*req.CIDR, version)
		return prefix, nil, err
	}
	pool, err := obj[*model.SubnetPool](pe)
	if err != nil {
		return netip.Prefix{}, nil, err
	}
	if err := checkPoolAffinity(v, t, n, version, pool); err != nil {
		return netip.Prefix{}, nil, err
	}
	prefix, err := allocateFromPool(v, t, pe, req, version, project)
	return prefix, pool, err
}

// networkScopeAfterDelete clears the network's address scope of a family
// when the deleted subnet was its last pool subnet of that family.
func networkScopeAfterDelete(v *store.View, n *model.Network, gone *model.Subnet) {
	if gone.SubnetPoolID == nil {
		return
	}
	for _, sid := range n.Subnets {
		if _, s, ok := store.GetAs[*model.Subnet](v, model.KindSubnet, sid); ok && s.ID != gone.ID && s.IPVersion == gone.IPVersion && s.SubnetPoolID != nil {
			return
		}
	}
	setNetworkScope(n, gone.IPVersion, nil)
}

// setNetworkScope records on the network the address scope of a subnet's
// pool (its ipv4_address_scope / ipv6_address_scope).
func setNetworkScope(n *model.Network, version int, scope *string) {
	var cp *string
	if scope != nil {
		s := *scope
		cp = &s
	}
	if version == 4 {
		n.IPv4AddressScope = cp
	} else {
		n.IPv6AddressScope = cp
	}
}

// rescopeNetworks updates the networks holding subnets of a pool whose
// address scope changed.
func (a *API) rescopeNetworks(v *store.View, t *store.Txn, p *model.SubnetPool) error {
	done := map[string]bool{}
	for _, s := range subnetsOfPool(v, p.ID) {
		if done[s.NetworkID] {
			continue
		}
		done[s.NetworkID] = true
		ne, ok := t.Get(v, model.KindNetwork, s.NetworkID)
		if !ok {
			continue
		}
		cur, err := obj[*model.Network](ne)
		if err != nil {
			return err
		}
		n := *cur
		setNetworkScope(&n, p.IPVersion, p.AddressScopeID)
		bump(a, &n.Standard)
		t.Replace(model.KindNetwork, ne, mustJSON(&n))
	}
	return nil
}
