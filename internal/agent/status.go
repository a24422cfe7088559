package agent

import (
	"maps"
	"slices"

	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// statusChunk bounds the objects of one status request: a restarted
// agent reports every port of its host, and thousands in one request
// would exceed the server's max_request_body_size (112 KiB by default,
// about 2,000 ports).
const statusChunk = 500

// splitStatus splits a status report into reports of at most n objects
// (ports, then floating IPs, then routers, each in id order).
func splitStatus(rep *syncproto.StatusReport, n int) []*syncproto.StatusReport {
	var out []*syncproto.StatusReport
	cur, size := newStatusReport(), 0
	add := func(dst func(*syncproto.StatusReport) map[string]string, src map[string]string) {
		for _, id := range slices.Sorted(maps.Keys(src)) {
			if size == n {
				out = append(out, cur)
				cur, size = newStatusReport(), 0
			}
			dst(cur)[id] = src[id]
			size++
		}
	}
	add(func(r *syncproto.StatusReport) map[string]string { return r.Ports }, rep.Ports)
	add(func(r *syncproto.StatusReport) map[string]string { return r.FloatingIPs }, rep.FloatingIPs)
	add(func(r *syncproto.StatusReport) map[string]string { return r.Routers }, rep.Routers)
	if size > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	// A port's binding failure travels with its status.
	for _, part := range out {
		for id := range part.Ports {
			if why, ok := rep.BindingFailed[id]; ok {
				if part.BindingFailed == nil {
					part.BindingFailed = map[string]string{}
				}
				part.BindingFailed[id] = why
			}
		}
	}
	return out
}

func newStatusReport() *syncproto.StatusReport {
	return &syncproto.StatusReport{Ports: map[string]string{}, FloatingIPs: map[string]string{}, Routers: map[string]string{}}
}
