package ipam

import (
	"net/netip"
	"slices"
)

// u128 is an address as a 128-bit number (netip.Addr.As16: IPv4
// addresses as ::ffff:a.b.c.d), so that one set orders addresses of
// either version and picking can count with them.
type u128 struct{ hi, lo uint64 }

func toU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{hi: be64(b[:8]), lo: be64(b[8:])}
}

func be64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

func (x u128) cmp(y u128) int {
	switch {
	case x.hi < y.hi:
		return -1
	case x.hi > y.hi:
		return 1
	case x.lo < y.lo:
		return -1
	case x.lo > y.lo:
		return 1
	}
	return 0
}

// sub returns x-y (x >= y), saturated at maxSat: pools larger than that
// are "more addresses than anyone counts".
func (x u128) sub(y u128) uint64 {
	hi := x.hi - y.hi
	if x.lo < y.lo {
		hi--
	}
	if hi != 0 {
		return maxSat
	}
	return min(x.lo-y.lo, maxSat)
}

// add returns x+n.
func (x u128) add(n uint64) u128 {
	lo := x.lo + n
	hi := x.hi
	if lo < x.lo {
		hi++
	}
	return u128{hi: hi, lo: lo}
}

// maxSat bounds the counts Pick works with (far above any pool that can
// fill up; an IPv6 /64 counts as maxSat addresses).
const maxSat = 1 << 62

// addrFrom turns x back into an address of the version of like.
func addrFrom(x u128, like netip.Addr) netip.Addr {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(x.hi >> (56 - 8*i))
		b[8+i] = byte(x.lo >> (56 - 8*i))
	}
	a := netip.AddrFrom16(b)
	if like.Is4() {
		return a.Unmap()
	}
	return a
}

// chunkMax is the most members a chunk of an AddrSet holds: inserting
// moves at most this many, and the chunks walked to count are n/chunkMax.
const chunkMax = 512

// AddrSet is an ordered set of addresses (a subnet's used addresses) that
// answers "how many members are below a" and "which free address is the
// k-th of a pool" without walking the members: PickSet uses it to choose
// among a pool's first CandidateWindow free addresses in O(n/512 + log n)
// instead of visiting every used address before the window. Members are
// kept in sorted chunks of at most chunkMax. The zero value is empty. Not
// safe for concurrent change; readers may share it while nobody changes it.
type AddrSet struct {
	chunks [][]u128
	n      int
}

// Len is the number of members.
func (s *AddrSet) Len() int { return s.n }

// chunkFor returns the index of the chunk where x belongs: the first
// whose last member is >= x, or the last chunk.
func (s *AddrSet) chunkFor(x u128) int {
	i, _ := slices.BinarySearchFunc(s.chunks, x, func(c []u128, x u128) int { return c[len(c)-1].cmp(x) })
	return min(i, len(s.chunks)-1)
}

// Add inserts a (no change if present). It reports whether a was added.
func (s *AddrSet) Add(a netip.Addr) bool {
	x := toU128(a)
	if len(s.chunks) == 0 {
		s.chunks = [][]u128{{x}}
		s.n = 1
		return true
	}
	ci := s.chunkFor(x)
	c := s.chunks[ci]
	j, found := slices.BinarySearchFunc(c, x, u128.cmp)
	if found {
		return false
	}
	c = slices.Insert(c, j, x)
	s.n++
	if len(c) <= chunkMax {
		s.chunks[ci] = c
		return true
	}
	// Split in halves (each its own array, so later inserts into one
	// never write into the other).
	half := len(c) / 2
	lo := slices.Clone(c[:half])
	hi := slices.Clone(c[half:])
	s.chunks[ci] = lo
	s.chunks = slices.Insert(s.chunks, ci+1, hi)
	return true
}

// Remove deletes a. It reports whether a was a member.
func (s *AddrSet) Remove(a netip.Addr) bool {
	if len(s.chunks) == 0 {
		return false
	}
	x := toU128(a)
	ci := s.chunkFor(x)
	c := s.chunks[ci]
	j, found := slices.BinarySearchFunc(c, x, u128.cmp)
	if !found {
		return false
	}
	c = slices.Delete(c, j, j+1)
	s.n--
	if len(c) == 0 {
		s.chunks = slices.Delete(s.chunks, ci, ci+1)
	} else {
		s.chunks[ci] = c
	}
	return true
}

// Contains reports whether a is a member.
func (s *AddrSet) Contains(a netip.Addr) bool {
	_, found := s.find(toU128(a))
	return found
}

// find returns the rank of x (members below it) and whether it is a
// member.
func (s *AddrSet) find(x u128) (int, bool) {
	if len(s.chunks) == 0 {
		return 0, false
	}
	ci := s.chunkFor(x)
	r := 0
	for _, c := range s.chunks[:ci] {
		r += len(c)
	}
	j, found := slices.BinarySearchFunc(s.chunks[ci], x, u128.cmp)
	return r + j, found
}

// Rank is the number of members below a.
func (s *AddrSet) Rank(a netip.Addr) int {
	r, _ := s.find(toU128(a))
	return r
}

// Each calls fn with every member in ascending order until fn returns
// false.
func (s *AddrSet) Each(like netip.Addr, fn func(netip.Addr) bool) {
	for _, c := range s.chunks {
		for _, x := range c {
			if !fn(addrFrom(x, like)) {
				return
			}
		}
	}
}

// kthFree returns the k-th (from 0) address at or after start that is
// not a member, given r0 = the rank of start (members below start). The
// answer is start+k+j, j being the number of members in [start, answer):
// the first member u (at rank r0+j) with u-start-j > k bounds it, and
// that predicate only grows with j (members are distinct and sorted).
func (s *AddrSet) kthFree(start u128, r0 int, k uint64) u128 {
	g := 0 // rank of the chunk's first member
	for _, c := range s.chunks {
		lo := max(r0-g, 0) // first index of c at or after start
		if lo >= len(c) {
			g += len(c)
			continue
		}
		if !freeBefore(c[len(c)-1], start, g+len(c)-1-r0, k) {
			g += len(c)
			continue
		}
		j := lo + sortSearch(len(c)-lo, func(i int) bool {
			return freeBefore(c[lo+i], start, g+lo+i-r0, k)
		})
		return start.add(k + uint64(g+j-r0))
	}
	return start.add(k + uint64(s.n-r0))
}

// freeBefore reports whether more than k free addresses lie in
// [start, u) when u is the member of rank r0+j (so j members are there).
func freeBefore(u, start u128, j int, k uint64) bool {
	return u.sub(start) > k+uint64(j)
}

func sortSearch(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !f(m) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
