package ipam

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Segmentation id limits.
const (
	MinVLANID = 1
	MaxVLANID = 4094
	MinVNI    = 1
	MaxVNI    = 1<<24 - 1 // VXLAN (and Geneve) VNI
	MinGREID  = 1
	MaxGREID  = 1<<32 - 1 // GRE key (capped to math.MaxInt on 32-bit platforms)
)

// maxGREID is MaxGREID as a variable, so 32-bit builds compile.
var maxGREID int64 = MaxGREID

// Range is an inclusive range of segmentation ids.
type Range struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// String formats the range in the config form "min:max".
func (r Range) String() string { return fmt.Sprintf("%d:%d", r.Min, r.Max) }

// Size returns the number of ids in r (0 if Min > Max).
func (r Range) Size() int { return max(0, r.Max-r.Min+1) }

// ParseRanges parses a comma-separated list of "min:max" ranges (spaces
// around items are ignored), e.g. "1:1000,2000:3000", requiring
// lo <= min <= max <= hi. An empty string gives no ranges. Ranges are
// returned in the given order and may overlap.
func ParseRanges(s string, lo, hi int) ([]Range, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Range
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		parts := strings.Split(item, ":")
		if len(parts) != 2 {
			return nil, fmt.Errorf("invalid range %q: expected <min>:<max>", item)
		}
		r, err := parseRange(item, parts[0], parts[1], lo, hi)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parseRange(item, a, b string, lo, hi int) (Range, error) {
	mn, err1 := strconv.Atoi(strings.TrimSpace(a))
	mx, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return Range{}, fmt.Errorf("invalid range %q: bounds must be integers", item)
	}
	for _, v := range []int{mn, mx} {
		if v < lo || v > hi {
			return Range{}, fmt.Errorf("invalid range %q: %d is outside %d..%d", item, v, lo, hi)
		}
	}
	if mn > mx {
		return Range{}, fmt.Errorf("invalid range %q: start %d is greater than end %d", item, mn, mx)
	}
	return Range{Min: mn, Max: mx}, nil
}

// ParseVNIRanges parses vni_ranges ("1:1000,2000:3000"), ids 1..16777215.
func ParseVNIRanges(s string) ([]Range, error) { return ParseRanges(s, MinVNI, MaxVNI) }

// ParseGRERanges parses tunnel_id_ranges for GRE, ids 1..2^32-1.
func ParseGRERanges(s string) ([]Range, error) {
	return ParseRanges(s, MinGREID, int(min(maxGREID, math.MaxInt)))
}

// ParseVLANRanges parses network_vlan_ranges in upstream's format: a
// comma-separated list of "physnet:min:max" or bare "physnet" (a physical
// network usable only with explicit provider:segmentation_id, i.e. no
// tenant allocation), VLAN ids 1..4094. A physnet may appear several times;
// its ranges accumulate. It returns physnet → ranges (an empty, non-nil
// slice for a bare physnet) and the physnets in order of first appearance.
func ParseVLANRanges(s string) (map[string][]Range, []string, error) {
	ranges := map[string][]Range{}
	var order []string
	if strings.TrimSpace(s) == "" {
		return ranges, nil, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		parts := strings.Split(item, ":")
		name := strings.TrimSpace(parts[0])
		if name == "" || (len(parts) != 1 && len(parts) != 3) {
			return nil, nil, fmt.Errorf("invalid network VLAN range %q: expected <physnet> or <physnet>:<min>:<max>", item)
		}
		if _, seen := ranges[name]; !seen {
			ranges[name] = []Range{}
			order = append(order, name)
		}
		if len(parts) == 3 {
			r, err := parseRange(item, parts[1], parts[2], MinVLANID, MaxVLANID)
			if err != nil {
				return nil, nil, err
			}
			ranges[name] = append(ranges[name], r)
		}
	}
	return ranges, order, nil
}

// MergeRanges returns the ranges sorted and with overlapping or adjacent
// ranges merged; empty ranges (Min > Max) are dropped. The input is not
// modified.
func MergeRanges(ranges []Range) []Range {
	rs := slices.DeleteFunc(slices.Clone(ranges), func(r Range) bool { return r.Min > r.Max })
	slices.SortFunc(rs, func(a, b Range) int { return a.Min - b.Min })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r.Min <= out[n-1].Max+1 {
			out[n-1].Max = max(out[n-1].Max, r.Max)
			continue
		}
		out = append(out, r)
	}
	return out
}

// InRanges reports whether id lies in any of the ranges.
func InRanges(ranges []Range, id int) bool {
	for _, r := range ranges {
		if r.Min <= id && id <= r.Max {
			return true
		}
	}
	return false
}

// segmentProbes is how many uniformly random ids PickSegment tries before
// falling back to a scan.
const segmentProbes = 32

// PickSegment chooses a free segmentation id from the union of ranges, as
// upstream picks randomly among free ids. It first tries up to 32 ids drawn
// uniformly from the union (rejection sampling: a hit is uniform over the
// free ids); if all are used it scans from a random position, wrapping
// around, and returns the first free id. It returns false when every id is
// used. intn is the random source (nil: math/rand/v2).
//
// Complexity: O(k log k) for k ranges, plus at most 32 used calls when the
// ranges are less than about 90% used; the fallback scan is bounded by the
// total number of ids (16M for a full VNI range).
func PickSegment(ranges []Range, used func(int) bool, intn func(n int) int) (int, bool) {
	rs := MergeRanges(ranges)
	// ends[i] is the number of ids in rs[:i+1].
	ends := make([]int, len(rs))
	total := 0
	for i, r := range rs {
		total += r.Size()
		ends[i] = total
	}
	if total == 0 {
		return 0, false
	}
	at := func(off int) int {
		i, _ := slices.BinarySearch(ends, off+1)
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		return rs[i].Min + off - start
	}
	intn = intnOrDefault(intn)
	for range min(segmentProbes, total) {
		if id := at(intn(total)); !used(id) {
			return id, true
		}
	}
	// Scan range by range from a random offset, wrapping around.
	off := intn(total)
	i, _ := slices.BinarySearch(ends, off+1)
	id := at(off)
	for n := 0; n < total; {
		for ; id <= rs[i].Max && n < total; id, n = id+1, n+1 {
			if !used(id) {
				return id, true
			}
		}
		i = (i + 1) % len(rs)
		id = rs[i].Min
	}
	return 0, false
}
