package ipam

import (
	"math/rand/v2"
	"net/netip"
	"slices"
)

// CandidateWindow is how many free addresses, counted from the start of
// the first pool with room, Pick chooses among (upstream's internal IPAM
// driver uses the same window).
const CandidateWindow = 1000

func intnOrDefault(intn func(n int) int) func(n int) int {
	if intn == nil {
		return rand.IntN
	}
	return intn
}

// Pick chooses an address to allocate from pools, in Neutron's order
// (§4.2): pools are taken in the given order, and the first pool holding
// any address for which used returns false is the one picked from. Within
// it Pick walks from the pool start skipping used addresses and
//
//   - lowest=false: collects the first CandidateWindow (1000) free
//     addresses (fewer if the pool runs out) and returns one chosen
//     uniformly at random with intn (nil: math/rand/v2);
//   - lowest=true: returns the lowest free address (DHCP and
//     network:distributed ports).
//
// It returns false when every address of every pool is used. Invalid pools
// (see Pool.Valid) are skipped.
//
// Complexity: at most u+CandidateWindow calls to used, where u is the
// number of used addresses met in the walk, and never more than the total
// pool size — e.g. a /16 pool with 60,000 used addresses costs at most
// ~61,000 lookups (about 2 ms with a map-backed used; a /16 half used at
// random costs ~2,000 lookups, ~70 µs; lowest mode stops at the first free
// address). Memory is
// a fixed CandidateWindow-sized buffer. used must be cheap (a map or
// sorted-slice lookup) and must not report every address of a huge IPv6
// pool as used, as the walk would then run for the whole pool.
func Pick(pools []Pool, used func(netip.Addr) bool, lowest bool, intn func(n int) int) (netip.Addr, bool) {
	var buf [CandidateWindow]netip.Addr
	for _, pool := range pools {
		if !pool.Valid() {
			continue
		}
		cands := buf[:0]
		for a := pool.Start; ; a = a.Next() {
			if !used(a) {
				if lowest {
					return a, true
				}
				cands = append(cands, a)
				if len(cands) == CandidateWindow {
					break
				}
			}
			if a == pool.End {
				break
			}
		}
		if len(cands) > 0 {
			return cands[intnOrDefault(intn)(len(cands))], true
		}
	}
	return netip.Addr{}, false
}

// PickSet chooses as Pick does — same pools in the same order, same
// window, the same address for the same intn — with the used addresses
// given as an ordered set (nil: none) plus extra ones (a transaction's own
// claims, what the request was given already; few). It counts instead of
// walking: O(n/512 + log n) per pool plus the extras, whatever the number
// of used addresses before the window (docs/performance.md).
func PickSet(pools []Pool, used *AddrSet, extra []netip.Addr, lowest bool, intn func(n int) int) (netip.Addr, bool) {
	if used == nil {
		used = &AddrSet{}
	}
	for _, pool := range pools {
		if !pool.Valid() {
			continue
		}
		if a, ok := pickIn(pool, used, extra, lowest, intn); ok {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// pickIn picks from one pool; false if every address of it is used.
func pickIn(pool Pool, used *AddrSet, extra []netip.Addr, lowest bool, intn func(n int) int) (netip.Addr, bool) {
	s, e := toU128(pool.Start), toU128(pool.End)
	r0, _ := used.find(s)
	rE, inE := used.find(e)
	m := uint64(rE - r0)
	if inE {
		m++
	}
	// The extras that use a free address of the pool, ascending.
	var ex []u128
	for _, a := range extra {
		if pool.Contains(a) && !used.Contains(a) {
			ex = append(ex, toU128(a))
		}
	}
	slices.SortFunc(ex, u128.cmp)
	ex = slices.Compact(ex)
	size := e.sub(s)
	if size < maxSat {
		size++
	}
	taken := m + uint64(len(ex))
	if taken >= size {
		return netip.Addr{}, false
	}
	window := min(size-taken, CandidateWindow)
	k := uint64(0)
	if !lowest {
		k = uint64(intnOrDefault(intn)(int(window)))
	}
	// The k-th address free of both is the k'-th free of used, k' being
	// k plus the extras at or before it (in used's free order).
	kk := k
	for _, x := range ex {
		r, _ := used.find(x)
		if x.sub(s)-uint64(r-r0) > kk {
			break
		}
		kk++
	}
	return addrFrom(used.kthFree(s, r0, kk), pool.Start), true
}
