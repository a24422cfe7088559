package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// A read set holds one of the read keys of a round of changes exactly
// when the changes affect it (Changes.Affect): what lets the agent
// streams' hub index read sets by their keys instead of checking each.
func TestReadKeysMatchAffect(t *testing.T) {
	s, write := thingStore(t)
	rng := rand.New(rand.NewPCG(3, 4))
	ids := []string{"a", "b", "c", "d", "e"}
	names := []string{"N1", "N2", "N3"}
	write(func(v *View, tx *Txn) {
		for _, id := range ids[:3] {
			tx.Create("thing", id, fmt.Appendf(nil, `{"name":%q}`, names[rng.IntN(len(names))]))
		}
	})
	record := func() *ReadSet {
		rs := NewReadSet()
		s.View(func(v *View) {
			rv := v.Recording(rs)
			for range rng.IntN(3) {
				rv.Get("thing", ids[rng.IntN(len(ids))])
			}
			for range rng.IntN(2) {
				rv.Index("thing", "name", names[rng.IntN(len(names))])
			}
			if rng.IntN(8) == 0 {
				rv.Each("thing", func(*Entry) bool { return true })
			}
		})
		return rs
	}
	for round := range 200 {
		sets := make([]*ReadSet, 6)
		for i := range sets {
			sets[i] = record()
		}
		var from int64
		s.View(func(v *View) { from = v.Rev() })
		write(func(v *View, tx *Txn) {
			for _, id := range pick(rng, ids, 1+rng.IntN(2)) {
				raw := fmt.Appendf(nil, `{"name":%q}`, names[rng.IntN(len(names))])
				switch e, ok := v.Get("thing", id); {
				case !ok:
					tx.Create("thing", id, raw)
				case rng.IntN(3) == 0:
					tx.Delete("thing", e)
				default:
					tx.Replace("thing", e, raw)
				}
			}
		})
		var c *Changes
		s.View(func(v *View) { c = v.ChangesSince(from) })
		touched := map[ReadKey]bool{}
		c.Keys(func(k ReadKey) { touched[k] = true })
		for i, rs := range sets {
			holds := false
			rs.Keys(func(k ReadKey) { holds = holds || touched[k] })
			if affect := c.Affect(rs); holds != affect {
				t.Fatalf("round %d, set %d: holds a touched key %v, Affect %v", round, i, holds, affect)
			}
		}
	}
}

// pick returns n distinct elements of xs.
func pick(rng *rand.Rand, xs []string, n int) []string {
	p := rng.Perm(len(xs))[:n]
	out := make([]string, n)
	for i, j := range p {
		out[i] = xs[j]
	}
	return out
}
