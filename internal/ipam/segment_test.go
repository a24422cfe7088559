package ipam

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestParseRanges(t *testing.T) {
	tests := []struct {
		in      string
		lo, hi  int
		want    []Range
		wantErr string
	}{
		{"", 1, 10, nil, ""},
		{"  ", 1, 10, nil, ""},
		{"1:10", 1, 10, []Range{{1, 10}}, ""},
		{"1:1000,2000:3000", 1, 4000, []Range{{1, 1000}, {2000, 3000}}, ""},
		{" 5:6 , 3:3 ", 1, 10, []Range{{5, 6}, {3, 3}}, ""},
		{"5", 1, 10, nil, `invalid range "5": expected <min>:<max>`},
		{"1:2:3", 1, 10, nil, `invalid range "1:2:3": expected <min>:<max>`},
		{"1:2,", 1, 10, nil, `invalid range "": expected <min>:<max>`},
		{"a:2", 1, 10, nil, `invalid range "a:2": bounds must be integers`},
		{"0:5", 1, 10, nil, `invalid range "0:5": 0 is outside 1..10`},
		{"5:11", 1, 10, nil, `invalid range "5:11": 11 is outside 1..10`},
		{"7:5", 1, 10, nil, `invalid range "7:5": start 7 is greater than end 5`},
	}
	for _, tt := range tests {
		got, err := ParseRanges(tt.in, tt.lo, tt.hi)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseRanges(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRanges(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseVNIAndGRERanges(t *testing.T) {
	if r, err := ParseVNIRanges("1:16777215"); err != nil || r[0] != (Range{1, 16777215}) {
		t.Errorf("VNI max: %v %v", r, err)
	}
	for _, bad := range []string{"0:100", "1:16777216"} {
		if _, err := ParseVNIRanges(bad); err == nil {
			t.Errorf("ParseVNIRanges(%q) accepted", bad)
		}
	}
	if r, err := ParseGRERanges("1:4294967295"); err != nil || int64(r[0].Max) != maxGREID {
		t.Errorf("GRE max: %v %v", r, err)
	}
	for _, bad := range []string{"0:100", "1:4294967296"} {
		if _, err := ParseGRERanges(bad); err == nil {
			t.Errorf("ParseGRERanges(%q) accepted", bad)
		}
	}
	if (Range{3, 7}).String() != "3:7" || (Range{3, 7}).Size() != 5 || (Range{7, 3}).Size() != 0 {
		t.Error("Range String/Size")
	}
}

func TestParseVLANRanges(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string][]Range
		order   []string
		wantErr string
	}{
		{"", map[string][]Range{}, nil, ""},
		{"physnet1:100:200", map[string][]Range{"physnet1": {{100, 200}}}, []string{"physnet1"}, ""},
		{"physnet1:100:200,physnet2", map[string][]Range{"physnet1": {{100, 200}}, "physnet2": {}}, []string{"physnet1", "physnet2"}, ""},
		{"physnet2, physnet1:1:4094 ,physnet2:10:20,physnet1:3000:3001",
			map[string][]Range{"physnet1": {{1, 4094}, {3000, 3001}}, "physnet2": {{10, 20}}}, []string{"physnet2", "physnet1"}, ""},
		{"physnet1:0:10", nil, nil, `invalid range "physnet1:0:10": 0 is outside 1..4094`},
		{"physnet1:1:4095", nil, nil, `invalid range "physnet1:1:4095": 4095 is outside 1..4094`},
		{"physnet1:20:10", nil, nil, `invalid range "physnet1:20:10": start 20 is greater than end 10`},
		{"physnet1:x:10", nil, nil, `invalid range "physnet1:x:10": bounds must be integers`},
		{"physnet1:10", nil, nil, `invalid network VLAN range "physnet1:10": expected <physnet> or <physnet>:<min>:<max>`},
		{":1:10", nil, nil, `invalid network VLAN range ":1:10": expected <physnet> or <physnet>:<min>:<max>`},
		{"physnet1,,physnet2", nil, nil, `invalid network VLAN range "": expected <physnet> or <physnet>:<min>:<max>`},
	}
	for _, tt := range tests {
		got, order, err := ParseVLANRanges(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseVLANRanges(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(order, tt.order) {
			t.Errorf("ParseVLANRanges(%q) = %v %v %v; want %v %v", tt.in, got, order, err, tt.want, tt.order)
		}
	}
}

func TestMergeAndInRanges(t *testing.T) {
	in := []Range{{50, 60}, {1, 10}, {11, 20}, {5, 8}, {30, 40}, {35, 55}, {9, 3}}
	want := []Range{{1, 20}, {30, 60}}
	if got := MergeRanges(in); !reflect.DeepEqual(got, want) {
		t.Errorf("MergeRanges = %v", got)
	}
	if in[0] != (Range{50, 60}) {
		t.Error("MergeRanges modified its input")
	}
	if len(MergeRanges(nil)) != 0 {
		t.Error("MergeRanges(nil)")
	}
	for id, want := range map[int]bool{1: true, 20: true, 21: false, 45: true, 61: false, 0: false} {
		if InRanges(in, id) != want {
			t.Errorf("InRanges(%d) != %v", id, want)
		}
	}
}

func TestPickSegment(t *testing.T) {
	if _, ok := PickSegment(nil, func(int) bool { return false }, nil); ok {
		t.Error("picked from no ranges")
	}
	if _, ok := PickSegment([]Range{{5, 3}}, func(int) bool { return false }, nil); ok {
		t.Error("picked from an empty range")
	}
	// One free id among many: found by the fallback scan.
	id, ok := PickSegment([]Range{{1, 1000}, {5000, 6000}}, func(i int) bool { return i != 5555 }, nil)
	if !ok || id != 5555 {
		t.Errorf("single free = %d %v", id, ok)
	}
	// Scan wraps around from the last range to the first.
	last := func(n int) int { return n - 1 }
	id, ok = PickSegment([]Range{{1, 10}, {20, 30}}, func(i int) bool { return i != 2 }, last)
	if !ok || id != 2 {
		t.Errorf("wrap = %d %v", id, ok)
	}
	// Sparse use: every free id gets picked, roughly uniformly.
	rng := rand.New(rand.NewPCG(9, 9))
	counts := map[int]int{}
	for range 10000 {
		id, _ := PickSegment([]Range{{100, 104}, {200, 204}}, func(i int) bool { return i == 102 }, rng.IntN)
		counts[id]++
	}
	if len(counts) != 9 || counts[102] != 0 {
		t.Fatalf("counts = %v", counts)
	}
	for id, c := range counts {
		if c < 900 || c > 1350 {
			t.Errorf("id %d picked %d/10000", id, c)
		}
	}
}

func TestPickSegmentProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	for iter := range 500 {
		var ranges []Range
		for range 1 + rng.IntN(4) {
			lo := 1 + rng.IntN(3000)
			ranges = append(ranges, Range{lo, lo + rng.IntN(300)})
		}
		density := []float64{0, 0.5, 0.95, 0.999, 1}[iter%5]
		used := map[int]bool{}
		free := 0
		for _, r := range MergeRanges(ranges) {
			for id := r.Min; id <= r.Max; id++ {
				if rng.Float64() < density {
					used[id] = true
				} else {
					free++
				}
			}
		}
		for range 10 {
			id, ok := PickSegment(ranges, func(i int) bool { return used[i] }, rng.IntN)
			if ok != (free > 0) {
				t.Fatalf("iter %d: ok=%v free=%d", iter, ok, free)
			}
			if ok && (used[id] || !InRanges(ranges, id)) {
				t.Fatalf("iter %d: picked %d used=%v in=%v", iter, id, used[id], InRanges(ranges, id))
			}
		}
	}
}

func BenchmarkPickSegmentVNIHalfUsed(b *testing.B) {
	ranges, _ := ParseVNIRanges("1:65536")
	rng := rand.New(rand.NewPCG(1, 2))
	used := map[int]bool{}
	for id := 1; id <= 65536; id++ {
		used[id] = rng.IntN(2) == 0
	}
	for b.Loop() {
		if _, ok := PickSegment(ranges, func(i int) bool { return used[i] }, rng.IntN); !ok {
			b.Fatal("none")
		}
	}
}
