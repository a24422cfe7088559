package ipam

import (
	"math/rand/v2"
	"net/netip"
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
