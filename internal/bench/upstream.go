package bench

import "fmt"

// upstreamRef is upstream Neutron's figure for one operation, measured
// with this harness against a real upstream Neutron on the development
// machine, in the same session as Neutrino's runs it is compared with:
// 2026-12-07, Debian 12's neutron-server 2:21.0.0-7+deb12u1 (Zed) run by
// scripts/upstream-neutron (ML2 flat/vxlan with the openvswitch mechanism
// driver and no agents, the router service plugin, MariaDB 10.11,
// Keystone 22.0.2 under uwsgi, oslo.messaging's fake driver, api_workers
// at its default of one per CPU: 2), `bench api --networks 200 --ports
// 200 --list-runs 5 --filter-runs 20` with `--list-sizes 5000` (12:31-13:00
// UTC, load average 2.8-1.2) and with `--list-sizes 1000 --concurrency 32`
// (13:44-13:51, 6.9-1.3); of each operation the faster run's p50
// (docs/performance.md, "Upstream reference"). Lists and the
// creates among many ports carry the size they were measured at: a
// result of another size (beyond 20 %) gets no ratio.
type upstreamRef struct {
	ms     float64 // p50
	perSec float64 // throughput, for the concurrent creates (ms unused)
	size   int     // objects listed, or existing; 0 for single operations
}

var upstreamRefs = map[string][]upstreamRef{
	"network create":             {{ms: 143.1}},
	"subnet create":              {{ms: 195.5}},
	"port create (sequential)":   {{ms: 245.9}},
	"port create (existing)":     {{ms: 324.2, size: 1000}, {ms: 574.1, size: 5000}},
	"port create (8 clients)":    {{perSec: 3.7}},
	"port create (32 clients)":   {{perSec: 3.8}},
	"list all ports":             {{ms: 78.67, size: 200}, {ms: 420.1, size: 1000}, {ms: 2446, size: 5000}},
	"list ports by device_id":    {{ms: 20.09, size: 1000}, {ms: 16.88, size: 5000}},
	"list networks":              {{ms: 118.4, size: 201}},
	"list security groups":       {{ms: 506.4, size: 51}},
	"list floating IPs":          {{ms: 92.0, size: 100}},
	"security group create":      {{ms: 72.29}},
	"security group rule create": {{ms: 74.27}},
	"router create":              {{ms: 58.54}},
	"floating IP create":         {{ms: 504.4}},
}

// near reports whether size is within 20 % of the reference's.
func (ref upstreamRef) near(size int) bool {
	if ref.size == 0 {
		return true
	}
	return size*5 >= ref.size*4 && size*5 <= ref.size*6
}

// compare fills the upstream figure and the ratio of a result, if there
// is a reference for key at this size: for times upstream's p50 over
// this run's, for throughputs this run's over upstream's.
func (r *Result) compare(key string, size int) {
	for _, ref := range upstreamRefs[key] {
		if !ref.near(size) || (ref.ms == 0 && ref.perSec == 0) {
			continue
		}
		at := ""
		if ref.size > 0 {
			at = fmt.Sprintf(" at %d", ref.size)
		}
		if ref.perSec > 0 {
			r.Upstream = fmt.Sprintf("%.1f/s", ref.perSec)
			if r.OpsPerSec > 0 {
				r.Ratio = r.OpsPerSec / ref.perSec
			}
			return
		}
		r.UpstreamMs = ref.ms
		r.Upstream = fmt.Sprintf("%.4g ms%s", ref.ms, at)
		if r.P50Ms > 0 {
			r.Ratio = ref.ms / r.P50Ms
		}
		return
	}
}
