package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// splice gives what sorting the list anew gives, or says it cannot.
func TestSpliceEqualsSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	br := func(i int, mtu int) desired.Bridge { return desired.Bridge{Name: fmt.Sprintf("brq%03d", i), MTU: mtu} }
	for round := range 2000 {
		var list, del, add []desired.Bridge
		in := map[int]bool{}
		for i := range 40 {
			if r.IntN(2) == 0 {
				list = append(list, br(i, 1500))
				in[i] = true
			}
		}
		for i := range 40 {
			switch {
			case in[i] && r.IntN(4) == 0:
				del = append(del, br(i, 1500))
				if r.IntN(2) == 0 {
					add = append(add, br(i, 1400)) // replaced
				}
			case !in[i] && r.IntN(6) == 0:
				add = append(add, br(i, 1450))
			}
		}
		bad := round%10 == 0 && len(list) > 0
		if bad { // a key already there and not deleted
			add = append(add, list[r.IntN(len(list))])
			slices.SortFunc(add, func(a, b desired.Bridge) int { return compareKeys(a.Key(), b.Key()) })
		}
		want := &desired.Host{}
		for _, b := range list {
			if !slices.Contains(del, b) {
				want.Bridges = append(want.Bridges, b)
			}
		}
		want.Bridges = append(want.Bridges, add...)
		n := len(want.Bridges)
		want.Normalize()
		got, ok := splice(slices.Clone(list), del, add, desired.Bridge.Key)
		if dup := n != len(want.Bridges); ok == dup || (ok && !slices.Equal(got, want.Bridges)) {
			t.Fatalf("round %d: splice(%v, -%v, +%v) = %v %v, want %v (duplicate %v)", round, list, del, add, got, ok, want.Bridges, dup)
		}
	}
}

func compareKeys(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
