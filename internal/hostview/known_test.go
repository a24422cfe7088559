package hostview

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// TestDiffAgainstKnown: a new or changed object is an upsert, a gone
// one a delete, an unchanged one nothing; both come sorted.
func TestDiffAgainstKnown(t *testing.T) {
	view := func(revs map[string]int64) View {
		v := View{}
		for id, rev := range revs {
			kind, oid := id[:1], id[1:]
			v[syncproto.Key{Kind: kind, ID: oid}] = &store.Entry{ID: oid, ModRev: rev, Raw: []byte("{}")}
		}
		return v
	}
	old := Revs(view(map[string]int64{"pa": 1, "pb": 2, "nc": 3, "pd": 4}))
	up, del := Diff(old, view(map[string]int64{"pa": 1, "pb": 5, "ne": 6, "pd": 4, "nf": 7}))
	if got := fmt.Sprint(up); got != "[{n e 6 [123 125] true} {n f 7 [123 125] true} {p b 5 [123 125] true}]" {
		t.Errorf("upserts %s", got)
	}
	if got := fmt.Sprint(del); got != "[{n c}]" {
		t.Errorf("deletes %s", got)
	}
	if up, del := Diff(nil, view(map[string]int64{"pa": 1})); len(up) != 1 || len(del) != 0 {
		t.Errorf("from nothing: %v %v", up, del)
	}
}

// TestKnownUpdate: after any diff, the updated Known equals Revs of the
// new view, whether it was patched in place or rebuilt.
func TestKnownUpdate(t *testing.T) {
	view := func(revs map[string]int64) View {
		v := View{}
		for id, rev := range revs {
			v[syncproto.Key{Kind: id[:1], ID: id[1:]}] = &store.Entry{ID: id[1:], ModRev: rev}
		}
		return v
	}
	base := map[string]int64{"pa": 1, "pb": 2, "nc": 3}
	for _, next := range []map[string]int64{
		{"pa": 1, "pb": 5, "nc": 3},          // in place
		{"pa": 1, "pb": 2, "nc": 3, "pd": 6}, // insert
		{"pa": 1, "nc": 3},                   // delete
		{"pa": 1, "pb": 2, "nc": 3},          // nothing
		{"pa": 2, "nb": 1, "pz": 4},          // all at once
		{},                                   // all gone
		{"a0": 1, "pa": 1, "pb": 3, "zz": 9}, // before, between, after
		{"p0": 1, "p1": 1, "p2": 1, "p3": 1, "p4": 1, "p5": 1, "p6": 1, "p7": 1, "p8": 1, "pa": 7, "nc": 3}, // many: merged
	} {
		old := Revs(view(base))
		cur := view(next)
		up, del := Diff(old, cur)
		if got, want := fmt.Sprint(old.Update(up, del)), fmt.Sprint(Revs(cur)); got != want {
			t.Errorf("%v: got %s, want %s", next, got, want)
		}
	}
}

// pendingSet holds what a map would, in its few slots and past them.
func TestPendingSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for n := range 3 * fewPending {
		var p pendingSet
		want := map[syncproto.Key]*store.Entry{}
		for i := range 3 * n {
			k := syncproto.Key{Kind: "port", ID: fmt.Sprint(rng.IntN(n + 1))}
			var e *store.Entry
			if rng.IntN(3) > 0 {
				e = &store.Entry{ModRev: int64(i)}
			}
			p.set(k, e)
			want[k] = e
			if got, ok := p.get(k); !ok || got != e {
				t.Fatalf("n %d: get %v after set", n, k)
			}
		}
		got := map[syncproto.Key]*store.Entry{}
		for k, e := range p.all() {
			got[k] = e
		}
		if !maps.Equal(got, want) {
			t.Fatalf("n %d: holds %v, want %v", n, got, want)
		}
		if _, ok := p.get(syncproto.Key{Kind: "port", ID: "none"}); ok {
			t.Fatalf("n %d: holds what it was not given", n)
		}
	}
}

// TestKnownFind: the search by ID prefix finds every object and the
// place of every missing one, as a search by compareKeys does, with IDs
// that share their first 8 bytes, are shorter, or hold NUL bytes.
func TestKnownFind(t *testing.T) {
	ids := []string{"", "a", "a\x00", "ab", "abcdefgh", "abcdefgh0", "abcdefgh1", "abcdefgi", "b", "\xff\xff", "p1", "p10", "p2"}
	v := View{}
	for i, id := range ids {
		if i%2 == 0 {
			v[syncproto.Key{Kind: "port", ID: id}] = &store.Entry{ID: id, ModRev: int64(i + 1)}
		}
		v[syncproto.Key{Kind: "network", ID: id}] = &store.Entry{ID: id, ModRev: int64(i + 1)}
	}
	kn := Revs(v)
	for _, kind := range []string{"network", "port", "router"} {
		for _, id := range append(ids, "0", "abcdefg", "abcdefgh00", "zzzzzzzzz") {
			k := syncproto.Key{Kind: kind, ID: id}
			i, ok := kn.find(k)
			j, want := slices.BinarySearchFunc(kn, k, func(o KnownObject, k syncproto.Key) int { return compareKeys(o.Key, k) })
			if i != j || ok != want {
				t.Errorf("find(%q) = %d, %v; want %d, %v", k, i, ok, j, want)
			}
		}
	}
}
