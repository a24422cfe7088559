package ipam

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestAddrSetRandom checks Add, Remove, Contains, Rank and Each against a
// sorted slice through random changes large enough to split chunks.
func TestAddrSetRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s AddrSet
	var ref []netip.Addr
	base := ma("10.0.0.0")
	at := func(i int) netip.Addr { a := toU128(base).add(uint64(i)); return addrFrom(a, base) }
	for step := range 20000 {
		a := at(r.IntN(3000))
		i, found := slices.BinarySearchFunc(ref, a, netip.Addr.Compare)
		if r.IntN(3) == 0 {
			if got := s.Remove(a); got != found {
				t.Fatalf("step %d: Remove(%s) = %v, want %v", step, a, got, found)
			}
			if found {
				ref = slices.Delete(ref, i, i+1)
			}
		} else {
			if got := s.Add(a); got == found {
				t.Fatalf("step %d: Add(%s) = %v, member %v", step, a, got, found)
			}
			if !found {
				ref = slices.Insert(ref, i, a)
			}
		}
		if s.Len() != len(ref) {
			t.Fatalf("step %d: Len %d, want %d", step, s.Len(), len(ref))
		}
		q := at(r.IntN(3100))
		want, in := slices.BinarySearchFunc(ref, q, netip.Addr.Compare)
		if got := s.Rank(q); got != want {
			t.Fatalf("step %d: Rank(%s) = %d, want %d", step, q, got, want)
		}
		if got := s.Contains(q); got != in {
			t.Fatalf("step %d: Contains(%s) = %v, want %v", step, q, got, in)
		}
	}
	var all []netip.Addr
	s.Each(base, func(a netip.Addr) bool { all = append(all, a); return true })
	if !slices.Equal(all, ref) {
		t.Fatalf("Each: %d members, want %d (or different order)", len(all), len(ref))
	}
}

// TestPickSetMatchesPick compares PickSet with the walk of Pick on random
// pools, used sets and extras (both given the same intn choice): it must
// give the very same address, or none when Pick finds none.
func TestPickSetMatchesPick(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	bases := []netip.Addr{ma("10.1.0.0"), ma("2001:db8::"), ma("2001:db8::ffff:ff00")}
	for trial := range 3000 {
		base := bases[trial%len(bases)]
		off := func(i int) netip.Addr { return addrFrom(toU128(base).add(uint64(i)), base) }
		// 1-3 pools, ascending, possibly given out of order.
		var pools []Pool
		lo := r.IntN(5)
		for range 1 + r.IntN(3) {
			n := 1 + r.IntN([]int{3, 40, 1500, 5000}[r.IntN(4)])
			pools = append(pools, Pool{Start: off(lo), End: off(lo + n - 1)})
			lo += n + r.IntN(4)
		}
		if r.IntN(4) == 0 {
			slices.Reverse(pools)
		}
		// Used: dense at the start (as random allocation leaves it),
		// sometimes everything, sometimes outside the pools too.
		set := &AddrSet{}
		walk := addrSet{}
		density := r.Float64()
		span := lo + 10
		if r.IntN(5) == 0 {
			density = 1
		}
		for i := range span {
			if r.Float64() < density*(1-float64(i)/float64(span)/2) {
				set.Add(off(i))
				walk[off(i)] = struct{}{}
			}
		}
		var extra []netip.Addr
		for range r.IntN(6) {
			a := off(r.IntN(span))
			extra = append(extra, a)
		}
		if len(extra) > 0 && r.IntN(2) == 0 {
			extra = append(extra, extra[0]) // a duplicate
		}
		lowest := r.IntN(4) == 0
		choice := r.IntN(1 << 30)
		intn := func(n int) int { return choice % n }
		usedWalk := func(a netip.Addr) bool { return walk.used(a) || slices.Contains(extra, a) }
		want, wok := Pick(pools, usedWalk, lowest, intn)
		got, gok := PickSet(pools, set, extra, lowest, intn)
		if got != want || gok != wok {
			t.Fatalf("trial %d (pools %v, %d used, extra %v, lowest %v, choice %d): PickSet %s %v, Pick %s %v",
				trial, pools, set.Len(), extra, lowest, choice, got, gok, want, wok)
		}
	}
}

func TestPickSetNil(t *testing.T) {
	got, ok := PickSet([]Pool{{}, pool("10.0.0.7", "10.0.0.8")}, nil, []netip.Addr{ma("10.0.0.7")}, true, nil)
	if !ok || got != ma("10.0.0.8") {
		t.Fatalf("got %s %v, want 10.0.0.8", got, ok)
	}
	if _, ok := PickSet(nil, nil, nil, false, nil); ok {
		t.Fatal("PickSet(nil pools) succeeded")
	}
	// A huge IPv6 pool: the window is full, the count saturates.
	got, ok = PickSet([]Pool{pool("2001:db8::", "2001:db8::ffff:ffff:ffff:ffff")}, nil, nil, false, func(n int) int { return n - 1 })
	if !ok || got != ma("2001:db8::3e7") {
		t.Fatalf("got %s %v, want 2001:db8::3e7", got, ok)
	}
}

// BenchmarkPick5000 compares the walk with the set at 5,000 used
// addresses of a /16 left as random allocation leaves them.
func BenchmarkPick5000(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	pools := []Pool{pool("10.9.0.2", "10.9.255.254")}
	set := &AddrSet{}
	walk := addrSet{}
	for set.Len() < 5000 {
		a, _ := PickSet(pools, set, nil, false, r.IntN)
		set.Add(a)
		walk[a] = struct{}{}
	}
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			Pick(pools, walk.used, false, r.IntN)
		}
	})
	b.Run("set", func(b *testing.B) {
		for b.Loop() {
			PickSet(pools, set, nil, false, r.IntN)
		}
	})
}
