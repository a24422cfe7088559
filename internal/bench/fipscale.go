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

// fipPorts is the population step of the legacy and DVR floating IP
// scales: it creates ports from..to-1 on netID (bound to host unless
// ""), chunk a bulk request, and gives each a floating IP with
// associate, eight at a time.
func (b *benchBed) fipPorts(ctx context.Context, netID, host string, from, to, chunk int, associate func(ctx context.Context, port string) error) error {
	for i := from; i < to; i += chunk {
		n := min(chunk, to-i)
		ports := make([]map[string]any, n)
		for j := range n {
			ports[j] = map[string]any{"network_id": netID, "device_owner": "compute:nova", "device_id": fmt.Sprintf("bench-vm-%d", i+j),
				"name": fmt.Sprintf("bench-%d", i+j)}
			if host != "" {
				ports[j]["binding:host_id"] = host
			}
		}
		var out struct {
			Ports []struct {
				ID string `json:"id"`
			} `json:"ports"`
		}
		if err := b.api.Do(ctx, http.MethodPost, "/v2.0/ports", map[string]any{"ports": ports}, &out); err != nil {
			return fmt.Errorf("bulk ports %d..%d: %w", i, i+n, err)
		}
		if len(out.Ports) != n {
			return fmt.Errorf("bulk ports: %d created, want %d", len(out.Ports), n)
		}
		if err := parallelCtx(ctx, 8, n, func(k int) error { return associate(ctx, out.Ports[k].ID) }); err != nil {
			return err
		}
	}
	return nil
}

// checkScales refuses floating IP scales that do not grow or do not fit
// 100.64.0.0/16.
func checkScales(scales []int) error {
	for i, s := range scales {
		if s < 0 || s > 60000 || (i > 0 && s < scales[i-1]) {
			return fmt.Errorf("scales %v: want increasing counts up to 60000", scales)
		}
	}
	return nil
}
