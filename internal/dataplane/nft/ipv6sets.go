package nft

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/neutrino-net/neutrino/internal/desired"
)

// IPv6 interval sets (desired.TypeIPv6Addr): prefixes, as the IPv4 sets
// hold (remote group members with their allowed address pairs). They
// are merged into disjoint, non-adjacent ranges like the IPv4 ones, and
// diffed range by range.

// ip6Range is an inclusive IPv6 address range.
type ip6Range struct{ lo, hi netip.Addr }

func (r ip6Range) String() string {
	if r.lo == r.hi {
		return r.lo.String()
	}
	for bits := 0; bits <= 128; bits++ {
		if p := netip.PrefixFrom(r.lo, bits); p.Masked().Addr() == r.lo && lastAddr(p) == r.hi {
			return p.String()
		}
	}
	return r.lo.String() + "-" + r.hi.String()
}

// lastAddr is the last address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

var ip6Max = netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")

func compileIPv6Set(s desired.NftSet) (*wantSet, error) {
	rs := make([]ip6Range, 0, len(s.Elements))
	for _, p := range s.Elements {
		if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("nft set %s: %s is not an IPv6 prefix", s.Name, p)
		}
		p = p.Masked()
		rs = append(rs, ip6Range{p.Addr(), lastAddr(p)})
	}
	return &wantSet{name: s.Name, v6: true, ranges6: mergeRanges6(rs)}, nil
}

func mergeRanges6(rs []ip6Range) []ip6Range {
	slices.SortFunc(rs, func(a, b ip6Range) int {
		if c := a.lo.Compare(b.lo); c != 0 {
			return c
		}
		return a.hi.Compare(b.hi)
	})
	var out []ip6Range
	for _, r := range rs {
		if n := len(out); n > 0 && (out[n-1].hi == ip6Max || r.lo.Compare(out[n-1].hi.Next()) <= 0) {
			if r.hi.Compare(out[n-1].hi) > 0 {
				out[n-1].hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// intervalElements6 encodes a range as the kernel keeps it: a start
// element and an end element (the first address after it) unless it
// runs to the end of the address space.
func intervalElements6(r ip6Range) []nftables.SetElement {
	els := []nftables.SetElement{{Key: r.lo.AsSlice()}}
	if r.hi != ip6Max {
		els = append(els, nftables.SetElement{Key: r.hi.Next().AsSlice(), IntervalEnd: true})
	}
	return els
}

// decodeIntervals6 is decodeIntervals for IPv6 keys.
func decodeIntervals6(els []nftables.SetElement) []ip6Range {
	type el struct {
		k   netip.Addr
		end bool
	}
	var es []el
	for _, e := range els {
		if a, ok := netip.AddrFromSlice(e.Key); ok && len(e.Key) == 16 {
			es = append(es, el{a, e.IntervalEnd})
		}
	}
	slices.SortFunc(es, func(a, b el) int {
		if c := a.k.Compare(b.k); c != 0 {
			return c
		}
		switch {
		case a.end == b.end:
			return 0
		case a.end:
			return -1
		}
		return 1
	})
	var out []ip6Range
	for i := 0; i < len(es); i++ {
		if es[i].end {
			continue
		}
		if i+1 < len(es) && es[i+1].end {
			out = append(out, ip6Range{es[i].k, es[i+1].k.Prev()})
			i++
			continue
		}
		out = append(out, ip6Range{es[i].k, ip6Max})
	}
	return out
}

// diffRanges6 compares an IPv6 interval set's wanted ranges with the
// kernel's.
func diffRanges6(ws *wantSet, hs *setSnap) []*elemOp {
	var ops []*elemOp
	want := map[ip6Range]bool{}
	for _, r := range ws.ranges6 {
		want[r] = true
	}
	have := map[ip6Range]bool{}
	for i, r := range hs.ranges6 {
		have[r] = true
		if !want[r] {
			ops = append(ops, &elemOp{set: ws.name, sort: uint32(i), del: intervalElements6(r),
				commit: func(s *setSnap) {
					s.ranges6 = slices.DeleteFunc(s.ranges6, func(x ip6Range) bool { return x == r })
				},
				lines: []string{fmt.Sprintf("nft delete element %s %s", ws.name, r)}})
		}
	}
	for i, r := range ws.ranges6 {
		if !have[r] {
			ops = append(ops, &elemOp{set: ws.name, sort: uint32(i), add: intervalElements6(r),
				commit: func(s *setSnap) { s.ranges6 = mergeRanges6(append(s.ranges6, r)) },
				lines:  []string{fmt.Sprintf("nft add element %s %s", ws.name, r)}})
		}
	}
	return ops
}
