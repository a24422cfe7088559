package ipam

import (
	"cmp"
	"math"
	"math/big"
	"net/netip"
	"slices"
)

// Pool is an inclusive allocation pool [Start, End]. It marshals to JSON as
// Neutron's {"start": "...", "end": "..."} (netip.Addr marshals as text).
type Pool struct {
	Start netip.Addr `json:"start"`
	End   netip.Addr `json:"end"`
}

// ParsePool parses a pool given as two address strings, as found in an API
// request body. Unparsable or zoned addresses, mixed versions and
// start > end yield *InvalidAllocationPoolError. It does not check the pool
// against a subnet; use ValidatePools for that.
func ParsePool(start, end string) (Pool, error) {
	bad := &InvalidAllocationPoolError{Pool: start + "-" + end}
	s, err1 := netip.ParseAddr(start)
	e, err2 := netip.ParseAddr(end)
	if err1 != nil || err2 != nil {
		return Pool{}, bad
	}
	p := Pool{Start: s, End: e}
	if !p.Valid() {
		return Pool{}, bad
	}
	return p, nil
}

// String formats the pool as upstream does in messages: "start-end"
// (e.g. "10.0.0.2-10.0.0.254").
func (p Pool) String() string { return p.Start.String() + "-" + p.End.String() }

// Valid reports whether both ends are valid, unzoned, of the same version,
// and Start <= End.
func (p Pool) Valid() bool {
	return p.Start.IsValid() && p.End.IsValid() &&
		p.Start.Zone() == "" && p.End.Zone() == "" &&
		Version(p.Start) == Version(p.End) && p.Start.Compare(p.End) <= 0
}

// Contains reports whether a lies in the pool (false for an invalid pool).
func (p Pool) Contains(a netip.Addr) bool {
	return p.Valid() && Version(a) == Version(p.Start) && a.Zone() == "" &&
		p.Start.Compare(a) <= 0 && a.Compare(p.End) <= 0
}

// Size returns the number of addresses in the pool (0 if invalid).
func (p Pool) Size() *big.Int {
	if !p.Valid() {
		return new(big.Int)
	}
	n := new(big.Int).SetBytes(p.End.AsSlice())
	n.Sub(n, new(big.Int).SetBytes(p.Start.AsSlice()))
	return n.Add(n, big.NewInt(1))
}

// InPools reports whether addr lies in any of the pools.
func InPools(pools []Pool, addr netip.Addr) bool {
	for _, p := range pools {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Count returns the exact number of addresses in pools (the sum of the
// pool sizes; pools validated by ValidatePools do not overlap). IPv6 pools
// can exceed 2^64, so the result is a *big.Int, which encoding/json writes
// as a plain JSON integer, as upstream's network-ip-availability does.
func Count(pools []Pool) *big.Int {
	n := new(big.Int)
	for _, p := range pools {
		n.Add(n, p.Size())
	}
	return n
}

// TotalAddresses is Count saturated to math.MaxUint64. A default IPv6 /64
// pool (2^64-1 addresses) still fits exactly.
func TotalAddresses(pools []Pool) uint64 {
	n := Count(pools)
	if !n.IsUint64() {
		return math.MaxUint64
	}
	return n.Uint64()
}

// DefaultPools returns the default allocation_pools of subnet p:
// UsableRange(p) minus the gateway (nil or zero gateway: none). This gives
// one range, two ranges when the gateway is in the middle, or none when the
// gateway is the only usable address. The result is never nil, so it
// encodes as [] in JSON.
func DefaultPools(p netip.Prefix, gateway *netip.Addr) []Pool {
	first, last := UsableRange(p)
	if !first.IsValid() {
		return []Pool{}
	}
	whole := Pool{Start: first, End: last}
	if gateway == nil || !whole.Contains(*gateway) {
		return []Pool{whole}
	}
	gw := *gateway
	pools := []Pool{}
	if first != gw {
		pools = append(pools, Pool{Start: first, End: gw.Prev()})
	}
	if last != gw {
		pools = append(pools, Pool{Start: gw.Next(), End: last})
	}
	return pools
}

// ValidatePools checks user-supplied allocation pools against subnet p, in
// upstream's order, returning the first failure:
//
//  1. each pool, in the given order: unparsable (zero/zoned Addr), start >
//     end, or a version differing from the subnet's →
//     *InvalidAllocationPoolError (400); a pool reaching outside
//     UsableRange(p) — including one that contains the network address or
//     the IPv4 broadcast address → *OutOfBoundsAllocationPoolError (400);
//  2. pools overlapping each other → *OverlappingAllocationPoolsError (409),
//     naming the lower-starting pool first;
//  3. a non-nil, valid gateway inside a pool →
//     *GatewayConflictWithAllocationPoolsError (409).
//
// An empty pool list is valid (a subnet with no allocation pools).
// Complexity O(n log n) for n pools.
func ValidatePools(p netip.Prefix, pools []Pool, gateway *netip.Addr) error {
	p = p.Masked()
	cidr := p.String()
	first, last := UsableRange(p)
	for _, pool := range pools {
		if !pool.Valid() || Version(pool.Start) != Version(p.Addr()) {
			return &InvalidAllocationPoolError{Pool: pool.String()}
		}
		if pool.Start.Less(first) || last.Less(pool.End) {
			return &OutOfBoundsAllocationPoolError{Pool: pool.String(), SubnetCIDR: cidr}
		}
	}
	sorted := slices.Clone(pools)
	slices.SortStableFunc(sorted, func(a, b Pool) int {
		return cmp.Or(a.Start.Compare(b.Start), a.End.Compare(b.End))
	})
	// Sorted by start, and no overlap found so far, the previous pool has
	// the highest end seen: a pool starting at or before it overlaps.
	for i := 1; i < len(sorted); i++ {
		if prev, q := sorted[i-1], sorted[i]; q.Start.Compare(prev.End) <= 0 {
			return &OverlappingAllocationPoolsError{Pool1: prev.String(), Pool2: q.String(), SubnetCIDR: cidr}
		}
	}
	if gateway != nil && gateway.IsValid() {
		for _, pool := range pools {
			if pool.Contains(*gateway) {
				return &GatewayConflictWithAllocationPoolsError{IPAddress: gateway.String(), Pool: pool.String()}
			}
		}
	}
	return nil
}
