package plan

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// TestReadersMatchModel adds and replaces units' read sets at random
// and checks readers.of, with its count of keys by kind, against a walk
// of every unit's reads: a kind counted to zero while a unit still
// read a key of it would hide that unit from a change.
func TestReadersMatchModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	kinds := []string{"port", "subnet", "router", "security_group_rule"}
	key := func() syncproto.Key {
		return syncproto.Key{Kind: kinds[rnd.IntN(len(kinds))], ID: strconv.Itoa(rnd.IntN(6))}
	}
	r := newReaders()
	units := map[string]readSet{}
	for step := range 3000 {
		id := "u" + strconv.Itoa(rnd.IntN(8))
		if old, ok := units[id]; ok {
			r.remove(id, old)
			delete(units, id)
		}
		if rnd.IntN(4) > 0 {
			rs := readSet{keys: map[syncproto.Key]bool{}, idx: map[idxKey]bool{}}
			for range rnd.IntN(4) {
				rs.keys[key()] = true
			}
			units[id] = rs
			r.add(id, rs)
		}
		k := key()
		want := map[string]bool{}
		for u, rs := range units {
			if rs.keys[k] {
				want[u] = true
			}
		}
		got := r.of(hostmodel.Change{Key: k})
		if len(got)+len(want) > 0 && !maps.Equal(got, want) {
			t.Fatalf("step %d: readers of %v: %v, want %v", step, k, got, want)
		}
	}
}

// TestSymmetricDifference: the same list (the fast path), equal lists
// and differing ones.
func TestSymmetricDifference(t *testing.T) {
	a := []string{"n1", "n2", "n3"}
	for _, c := range []struct {
		a, b []string
		want []string
	}{
		{a, a, nil},
		{a, []string{"n1", "n2", "n3"}, nil},
		{a[:2], a, []string{"n3"}},
		{a, []string{"n0", "n2"}, []string{"n1", "n3", "n0"}},
		{nil, nil, nil},
	} {
		if got := symmetricDifference(c.a, c.b); !slices.Equal(got, c.want) {
			t.Errorf("symmetricDifference(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
