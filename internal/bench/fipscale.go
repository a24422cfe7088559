package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// fipScaleRun is the floating IP associate -> first packet measurement
// that the legacy and DVR benchmarks share; they differ in how they fill
// the host with floating IPs and how they know a change was applied.
type fipScaleRun struct {
	api      *sandbox.Client
	fipID    string
	fip      netip.Addr
	port     *sandbox.Instance // the instance the floating IP goes to
	inetNS   string            // where the connections come from
	runs     int
	where    string // for the log: "" or " on compute1"
	populate func(ctx context.Context, from, to int) error
	ready    func(ctx context.Context, n int) error // n floating IPs in place
	// disassociate takes the floating IP off and waits until it is gone.
	disassociate func(ctx context.Context) error
	logf         func(format string, args ...any)
}

// measure associates the floating IP runs times at each scale (floating
// IPs already there) and returns what it measured, also when a scale
// fails (its results so far).
func (r *fipScaleRun) measure(ctx context.Context, scales []int) ([]FIPScale, error) {
	srv, err := probe.ListenTCP(r.port.Netns, "0.0.0.0:7777")
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	existing := 0
	var out []FIPScale
	for _, scale := range scales {
		if err := r.populate(ctx, existing, scale); err != nil {
			return out, err
		}
		existing = scale
		if err := r.ready(ctx, scale); err != nil {
			return out, err
		}
		var lat []time.Duration
		for i := range r.runs {
			start := time.Now()
			if err := r.api.Do(ctx, http.MethodPut, "/v2.0/floatingips/"+r.fipID, map[string]any{"floatingip": map[string]any{"port_id": r.port.PortID}}, nil); err != nil {
				return out, err
			}
			at, err := firstConnect(ctx, r.inetNS, netip.AddrPortFrom(r.fip, 7777), time.Millisecond, 30*time.Second)
			if err != nil {
				return out, fmt.Errorf("%d floating IPs%s, run %d: internet -> %s: %w", scale, r.where, i+1, r.fip, err)
			}
			lat = append(lat, at.Sub(start))
			if err := r.disassociate(ctx); err != nil {
				return out, fmt.Errorf("%d floating IPs, run %d: disassociate: %w", scale, i+1, err)
			}
		}
		res := FIPScale{Existing: scale, Dist: distOf(lat), Ratio: 1}
		if len(out) > 0 && out[0].Dist.P50Ms > 0 {
			res.Ratio = res.Dist.P50Ms / out[0].Dist.P50Ms
		}
		r.logf("%d floating IPs%s: associate -> first packet p50 %.1f ms (min %.1f, max %.1f)", scale, r.where, res.Dist.P50Ms, res.Dist.MinMs, res.Dist.MaxMs)
		out = append(out, res)
	}
	return out, nil
}
