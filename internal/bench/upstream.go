package bench

import "fmt"

// upstreamRef is upstream Neutron's time for one operation, from the
// earlier run of this harness against Neutron (Zed, ML2/OVS) on the
// development machine (docs/performance.md, "Upstream reference"). Lists
// carry the size they were measured at: a list of another size gets no
// ratio.
type upstreamRef struct {
	ms   float64
	size int // objects listed; 0 for single operations
	note string
}

var upstreamRefs = map[string]upstreamRef{
	"port create (sequential)":    {ms: 148},
	"network create (sequential)": {},
	"list all ports":              {ms: 495, size: 1000, note: "495 ms at 1,000"},
	"list all ports/5000":         {ms: 1800, size: 5000, note: "1.8 s at 5,000"},
	"list networks":               {ms: 187, size: 200, note: "187 ms at 200"},
	"list security groups":        {ms: 312, size: 51, note: "312 ms at 51 (510 rules)"},
	"list floating IPs":           {ms: 95, size: 100, note: "95 ms at 100"},
	"security group create":       {ms: 42, note: "42–51 ms"},
	"security group rule create":  {ms: 42, note: "42–51 ms"},
	"router create":               {ms: 49},
}

// compare fills the upstream figure and the ratio of a result, if there
// is a reference for key at this size (within 20 %).
func (r *Result) compare(key string, size int) {
	ref, ok := upstreamRefs[key]
	if size >= 4000 {
		if alt, ok2 := upstreamRefs[fmt.Sprintf("%s/%d", key, 5000)]; ok2 {
			ref, ok = alt, true
		}
	}
	if !ok || ref.ms == 0 {
		return
	}
	if ref.size > 0 && (size*5 < ref.size*4 || size*5 > ref.size*6) {
		return
	}
	r.UpstreamMs = ref.ms
	if r.Upstream == "" {
		r.Upstream = ref.note
		if r.Upstream == "" {
			r.Upstream = fmt.Sprintf("%g ms", ref.ms)
		}
	}
	if r.P50Ms > 0 {
		r.Ratio = ref.ms / r.P50Ms
	}
}
