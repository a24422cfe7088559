package control

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/neutrino-net/neutrino/internal/store"
)

// checkIndex compares the index with the model (which streams each key
// holds) and checks that a long list's positions match it.
func checkIndex(t *testing.T, step int, x *streamIndex, model map[store.ReadKey]map[*Stream]bool) {
	t.Helper()
	for k, want := range model {
		if len(want) == 0 {
			if l := x.by[k]; l != nil {
				t.Fatalf("step %d: key %v holds %d streams, want none (and no entry)", step, k, len(l.list))
			}
			continue
		}
		l := x.by[k]
		if l == nil || len(l.list) != len(want) {
			t.Fatalf("step %d: key %v: index %v, want %d streams", step, k, l, len(want))
		}
		for i, s := range l.list {
			if !want[s] {
				t.Fatalf("step %d: key %v holds a stream it should not (or twice)", step, k)
			}
			if l.at != nil && l.at[s] != i {
				t.Fatalf("step %d: key %v: position %d recorded as %d", step, k, i, l.at[s])
			}
		}
		if l.at != nil && len(l.at) != len(l.list) {
			t.Fatalf("step %d: key %v: %d positions for %d streams", step, k, len(l.at), len(l.list))
		}
	}
	for k := range x.by {
		if len(model[k]) == 0 {
			t.Fatalf("step %d: index has key %v the model does not", step, k)
		}
	}
}

// TestStreamIndexMatchesModel runs random adds and drops (also of
// streams a key does not hold, which change nothing) against a
// brute-force model, on keys from a few streams to more than twice
// longPast, so that lists cross into and out of keeping positions.
func TestStreamIndexMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2))
	streams := make([]*Stream, 3*longPast)
	for i := range streams {
		streams[i] = &Stream{host: fmt.Sprint("host-", i)}
	}
	// Each key draws from its own number of streams: some lists empty
	// (and go from the index), some cross longPast both ways.
	keys := make([]store.ReadKey, 6)
	reach := []int{2, 8, 64, 2 * longPast, len(streams), len(streams)}
	for i := range keys {
		keys[i] = store.ReadKey{Op: store.ReadGet, Kind: "port", Key: fmt.Sprint(i)}
	}
	x := newStreamIndex()
	model := map[store.ReadKey]map[*Stream]bool{}
	for _, k := range keys {
		model[k] = map[*Stream]bool{}
	}
	x.drop(store.ReadKey{Op: store.ReadEach, Kind: "none"}, streams[0]) // no such key: nothing
	checkIndex(t, -1, x, model)
	for step := range 40000 {
		i := rng.IntN(len(keys))
		k, s := keys[i], streams[rng.IntN(reach[i])]
		// Lean to adds or drops in long stretches, so lists fill and
		// empty.
		addBias := 0.05 + 0.9*float64((step/5000)%2)
		switch {
		case model[k][s]:
			if rng.Float64() < addBias {
				continue // the index holds each (key, stream) once
			}
			x.drop(k, s)
			delete(model[k], s)
		case rng.Float64() < addBias:
			x.add(k, s)
			model[k][s] = true
		default:
			x.drop(k, s)
		}
		checkIndex(t, step, x, model)
	}
}
