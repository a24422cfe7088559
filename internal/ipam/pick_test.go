package ipam

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

type addrSet map[netip.Addr]struct{}

func (s addrSet) used(a netip.Addr) bool { _, ok := s[a]; return ok }

func TestPickDeterministic(t *testing.T) {
	pools := []Pool{pool("10.0.0.2", "10.0.0.4"), pool("10.0.0.10", "10.0.0.12")}
	first := func(int) int { return 0 }
	last := func(n int) int { return n - 1 }

	tests := []struct {
		name   string
		used   []string
		lowest bool
		intn   func(int) int
		want   string // "" = none
	}{
		{"empty lowest", nil, true, nil, "10.0.0.2"},
		{"empty first", nil, false, first, "10.0.0.2"},
		{"empty last", nil, false, last, "10.0.0.4"},
		{"skip used", []string{"10.0.0.2"}, true, nil, "10.0.0.3"},
		{"gap", []string{"10.0.0.3"}, false, last, "10.0.0.4"},
		{"gap first", []string{"10.0.0.2", "10.0.0.3"}, false, first, "10.0.0.4"},
		{"first pool full", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}, false, last, "10.0.0.12"},
		{"first pool full lowest", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10"}, true, nil, "10.0.0.11"},
		{"all used", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10", "10.0.0.11", "10.0.0.12"}, false, nil, ""},
		{"all used lowest", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10", "10.0.0.11", "10.0.0.12"}, true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := addrSet{}
			for _, u := range tt.used {
				s[ma(u)] = struct{}{}
			}
			got, ok := Pick(pools, s.used, tt.lowest, tt.intn)
			if tt.want == "" {
				if ok {
					t.Fatalf("got %s, want none", got)
				}
				return
			}
			if !ok || got != ma(tt.want) {
				t.Fatalf("got %s %v, want %s", got, ok, tt.want)
			}
		})
	}

	if _, ok := Pick(nil, addrSet{}.used, false, nil); ok {
		t.Error("Pick(nil pools) succeeded")
	}
	// Invalid pools are skipped.
	got, ok := Pick([]Pool{{}, pool("10.0.0.9", "10.0.0.2"), pool("10.0.0.7", "10.0.0.7")}, addrSet{}.used, false, nil)
	if !ok || got != ma("10.0.0.7") {
		t.Errorf("invalid pools: got %s %v", got, ok)
	}
	// A pool ending at the last address of the family terminates.
	got, ok = Pick([]Pool{pool("255.255.255.254", "255.255.255.255")}, addrSet{ma("255.255.255.254"): {}}.used, false, nil)
	if !ok || got != ma("255.255.255.255") {
		t.Errorf("end of space: got %s %v", got, ok)
	}
}

func TestPickWindow(t *testing.T) {
	// Used: every even address. The window holds the first 1000 odd ones.
	p := pool("10.0.0.0", "10.0.255.255")
	s := addrSet{}
	for a := p.Start; p.Contains(a); a = a.Next() {
		if a.As4()[3]%2 == 0 {
			s[a] = struct{}{}
		}
	}
	var maxN int
	got, ok := Pick([]Pool{p}, s.used, false, func(n int) int { maxN = n; return n - 1 })
	if !ok || maxN != CandidateWindow {
		t.Fatalf("window = %d, ok %v", maxN, ok)
	}
	// the 1000th odd address from 10.0.0.0 is offset 1999 = 10.0.7.207
	if got != ma("10.0.7.207") {
		t.Fatalf("last candidate = %s", got)
	}
	// A pool with fewer free addresses than the window offers all of them.
	small := pool("10.0.0.0", "10.0.0.9")
	Pick([]Pool{small}, s.used, false, func(n int) int { maxN = n; return 0 })
	if maxN != 5 {
		t.Fatalf("small window = %d", maxN)
	}
}

func TestPickIPv6Huge(t *testing.T) {
	pools := DefaultPools(mp("2001:db8::/64"), addrPtr("2001:db8::1"))
	s := addrSet{}
	for a, i := ma("2001:db8::2"), 0; i < 5000; a, i = a.Next(), i+1 {
		s[a] = struct{}{}
	}
	// 2001:db8::2 + 5000 = 2001:db8::138a
	got, ok := Pick(pools, s.used, true, nil)
	if want := ma("2001:db8::138a"); !ok || got != want {
		t.Fatalf("lowest = %s %v, want %s", got, ok, want)
	}
	for range 100 {
		got, ok = Pick(pools, s.used, false, nil)
		if !ok || s.used(got) || !InPools(pools, got) || got.Compare(ma("2001:db8::1772")) >= 0 {
			t.Fatalf("random = %s %v", got, ok)
		}
	}
}

// TestPickProperties checks Pick against a brute-force model on random
// pools and random used sets of varying density.
func TestPickProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := ma("10.1.0.0")
	add := func(a netip.Addr, n int) netip.Addr {
		for range n {
			a = a.Next()
		}
		return a
	}
	for iter := range 400 {
		// 1-4 pools in random order, each up to 3000 addresses.
		var pools []Pool
		for range 1 + rng.IntN(4) {
			s := add(base, rng.IntN(8000))
			pools = append(pools, Pool{Start: s, End: add(s, rng.IntN(3000))})
		}
		density := []float64{0, 0.3, 0.9, 0.999, 1}[iter%5]
		s := addrSet{}
		for _, p := range pools {
			for a := p.Start; p.Contains(a); a = a.Next() {
				if rng.Float64() < density {
					s[a] = struct{}{}
				}
			}
		}
		// Model: first pool with any free address, its free addresses in order.
		var free []netip.Addr
		for _, p := range pools {
			for a := p.Start; p.Contains(a); a = a.Next() {
				if !s.used(a) {
					free = append(free, a)
				}
			}
			if len(free) > 0 {
				break
			}
		}
		window := free[:min(len(free), CandidateWindow)]

		low, ok := Pick(pools, s.used, true, nil)
		if ok != (len(free) > 0) {
			t.Fatalf("iter %d: lowest ok=%v, free=%d", iter, ok, len(free))
		}
		if ok && low != free[0] {
			t.Fatalf("iter %d: lowest = %s, want %s", iter, low, free[0])
		}
		for range 20 {
			got, ok := Pick(pools, s.used, false, rng.IntN)
			if ok != (len(free) > 0) {
				t.Fatalf("iter %d: ok=%v, free=%d", iter, ok, len(free))
			}
			if !ok {
				break
			}
			if s.used(got) || !InPools(pools, got) {
				t.Fatalf("iter %d: picked %s used=%v inPools=%v", iter, got, s.used(got), InPools(pools, got))
			}
			if got.Less(window[0]) || window[len(window)-1].Less(got) {
				t.Fatalf("iter %d: picked %s outside window %s..%s", iter, got, window[0], window[len(window)-1])
			}
		}
	}
}

func TestPickUniform(t *testing.T) {
	p := pool("10.0.0.1", "10.0.0.10")
	s := addrSet{ma("10.0.0.5"): {}}
	counts := map[netip.Addr]int{}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 9000 {
		a, _ := Pick([]Pool{p}, s.used, false, rng.IntN)
		counts[a]++
	}
	if len(counts) != 9 {
		t.Fatalf("picked %d distinct addresses, want 9: %v", len(counts), counts)
	}
	for a, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("%s picked %d times of 9000", a, c)
		}
	}
}

func slash16(usedFrac float64, dense bool) ([]Pool, addrSet) {
	pools := DefaultPools(mp("10.20.0.0/16"), addrPtr("10.20.0.1"))
	rng := rand.New(rand.NewPCG(5, 6))
	s := addrSet{}
	total := int(TotalAddresses(pools))
	n := int(usedFrac * float64(total))
	for a := pools[0].Start; len(s) < n; a = a.Next() {
		if dense || rng.Float64() < usedFrac {
			s[a] = struct{}{}
		}
		if a == pools[0].End {
			a = pools[0].Start.Prev()
		}
	}
	return pools, s
}

// BenchmarkPickSlash16HalfUsed: /16, 50% of addresses used at random.
func BenchmarkPickSlash16HalfUsed(b *testing.B) {
	pools, s := slash16(0.5, false)
	for b.Loop() {
		if _, ok := Pick(pools, s.used, false, nil); !ok {
			b.Fatal("none")
		}
	}
}

// BenchmarkPickSlash16Dense60k: /16 whose lowest 60,000 addresses are used,
// the worst case for the walk.
func BenchmarkPickSlash16Dense60k(b *testing.B) {
	pools, s := slash16(60000.0/65533, true)
	for b.Loop() {
		if _, ok := Pick(pools, s.used, false, nil); !ok {
			b.Fatal("none")
		}
	}
}

// BenchmarkPickSlash16HalfUsedLowest: DHCP-style lowest pick, 50% used.
func BenchmarkPickSlash16HalfUsedLowest(b *testing.B) {
	pools, s := slash16(0.5, false)
	for b.Loop() {
		if _, ok := Pick(pools, s.used, true, nil); !ok {
			b.Fatal("none")
		}
	}
}
