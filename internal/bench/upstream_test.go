package bench

import "testing"

// TestCompare checks how a result finds its upstream reference: by size
// within 20 %, times as upstream over ours, throughputs as ours over
// upstream's.
func TestCompare(t *testing.T) {
	saved := upstreamRefs
	t.Cleanup(func() { upstreamRefs = saved })
	upstreamRefs = map[string][]upstreamRef{
		"list all ports":          {{ms: 100, size: 200}, {ms: 2000, size: 5000}},
		"router create":           {{ms: 50}},
		"port create (8 clients)": {{perSec: 4}},
	}
	cases := []struct {
		key   string
		size  int
		res   Result
		ratio float64
		up    string
	}{
		{"list all ports", 201, Result{P50Ms: 1}, 100, "100 ms at 200"},
		{"list all ports", 5000, Result{P50Ms: 10}, 200, "2000 ms at 5000"},
		{"list all ports", 1000, Result{P50Ms: 10}, 0, ""},
		{"router create", 0, Result{P50Ms: 0.5}, 100, "50 ms"},
		{"port create (8 clients)", 0, Result{OpsPerSec: 2000}, 500, "4.0/s"},
		{"network create", 0, Result{P50Ms: 1}, 0, ""},
	}
	for _, c := range cases {
		r := c.res
		r.compare(c.key, c.size)
		if r.Ratio != c.ratio || r.Upstream != c.up {
			t.Errorf("%s at %d: ratio %v, upstream %q; want %v, %q", c.key, c.size, r.Ratio, r.Upstream, c.ratio, c.up)
		}
	}
}
