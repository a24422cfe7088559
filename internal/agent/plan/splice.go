package plan

import (
	"slices"
	"strings"
)

// splice returns list, sorted by key with one element per key, without
// the elements of del and with those of add (both sorted by key). It
// changes the list in place when add replaces del element for element,
// and otherwise copies it once and computes keys only for binary searches, so
// that a change to one network costs a copy of the host's lists, not a
// sort of them. ok is false when an element of del is not in the list
// or a key of add is already there and not deleted or twice in add: the
// caller then
// rebuilds the list from scratch.
func splice[T any](list, del, add []T, key func(T) string) ([]T, bool) {
	if len(del) == 0 && len(add) == 0 {
		return list, true
	}
	at := func(k string) (int, bool) {
		return slices.BinarySearchFunc(list, k, func(e T, k string) int { return strings.Compare(key(e), k) })
	}
	gone := make([]int, 0, len(del))
	for _, d := range del {
		i, found := at(key(d))
		if !found {
			return nil, false
		}
		gone = append(gone, i)
	}
	slices.Sort(gone)
	if len(slices.Compact(slices.Clone(gone))) != len(gone) {
		return nil, false
	}
	ins := make([]int, len(add))
	prev := ""
	for j, a := range add {
		k := key(a)
		if j > 0 && k == prev {
			return nil, false // two elements with one key
		}
		prev = k
		i, found := at(k)
		if found {
			if _, deleted := slices.BinarySearch(gone, i); !deleted {
				return nil, false
			}
		}
		ins[j] = i
	}
	if slices.Equal(gone, ins) {
		// Each element replaced where it was (the common case: a
		// network replanned with the same bridge, VXLAN and FDB keys):
		// in place, as the Planner's results may be (see Planner).
		for a, i := range ins {
			list[i] = add[a]
		}
		return list, true
	}
	out := make([]T, 0, len(list)-len(gone)+len(add))
	start, g, a := 0, 0, 0
	for g < len(gone) || a < len(add) {
		next := len(list)
		if g < len(gone) {
			next = gone[g]
		}
		if a < len(add) && ins[a] <= next {
			out = append(out, list[start:ins[a]]...)
			out = append(out, add[a])
			start = ins[a]
			a++
			continue
		}
		out = append(out, list[start:next]...)
		start = next + 1
		g++
	}
	return append(out, list[start:]...), true
}
