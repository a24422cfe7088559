package ipam

import (
	"net/netip"
	"slices"
)

// Prefix sets, as upstream's subnet pools use netaddr.IPSet: a set of
// addresses held as CIDRs. All functions take prefixes of one family and
// mask them first; none modifies its arguments.

// Compact returns the CIDRs covering exactly the union of ps, merged as
// far as possible (no CIDR inside another, no two siblings), sorted.
func Compact(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Masked())
	}
	for {
		slices.SortFunc(out, comparePrefix)
		out = slices.Compact(out)
		merged := dropContained(out)
		changed := len(merged) != len(out)
		out = merged
		for i := 0; i+1 < len(out); i++ {
			a, b := out[i], out[i+1]
			if a.Bits() == b.Bits() && a.Bits() > 0 {
				pa := netip.PrefixFrom(a.Addr(), a.Bits()-1).Masked()
				if pa == netip.PrefixFrom(b.Addr(), b.Bits()-1).Masked() {
					out[i], out[i+1] = pa, pa
					changed = true
					i++
				}
			}
		}
		if !changed {
			return out
		}
	}
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// dropContained removes prefixes inside an earlier one (ps sorted).
func dropContained(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if len(out) > 0 {
			last := out[len(out)-1]
			if last.Bits() <= p.Bits() && last.Contains(p.Addr()) {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// Subtract returns set minus remove, compacted.
func Subtract(set, remove []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range set {
		out = append(out, subtractOne(p.Masked(), remove)...)
	}
	return Compact(out)
}

// subtractOne splits p until each half is inside a removed prefix (gone)
// or overlaps none (kept): at most two partial halves per level.
func subtractOne(p netip.Prefix, remove []netip.Prefix) []netip.Prefix {
	overlaps := false
	for _, r := range remove {
		r = r.Masked()
		if r.Bits() <= p.Bits() && r.Contains(p.Addr()) {
			return nil
		}
		if r.Overlaps(p) {
			overlaps = true
		}
	}
	if !overlaps {
		return []netip.Prefix{p}
	}
	lo, hi := halves(p)
	return append(subtractOne(lo, remove), subtractOne(hi, remove)...)
}

// halves splits p (not a host prefix: a host prefix that overlaps a
// removed prefix is inside it) into its two children.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	bits := p.Bits() + 1
	lo := netip.PrefixFrom(p.Addr(), bits)
	b := p.Addr().AsSlice()
	i := (bits - 1) / 8
	b[i] |= 0x80 >> ((bits - 1) % 8)
	addr, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(addr, bits)
}

// Intersects reports whether the two sets share an address.
func Intersects(a, b []netip.Prefix) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Masked().Overlaps(y.Masked()) {
				return true
			}
		}
	}
	return false
}

// Covers reports whether every address of sub is in set.
func Covers(set, sub []netip.Prefix) bool { return len(Subtract(sub, set)) == 0 }
