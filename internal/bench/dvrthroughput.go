package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// Names of the throughput paths.
const (
	PathVXLAN     = "VXLAN"
	PathLegacyEW  = "legacy E-W"
	PathLegacyFIP = "legacy FIP"
	PathDVREW     = "DVR E-W"
	PathDVRFIP    = "DVR FIP"
)

// PathRate is the iperf3 rate of one path.
type PathRate struct {
	Name  string  `json:"name"`
	What  string  `json:"what"`
	Gbps  float64 `json:"gbps,omitempty"`
	Error string  `json:"error,omitempty"`
	// Legacy names the legacy path a DVR path is compared with.
	Legacy   string  `json:"legacy_counterpart,omitempty"`
	VsVXLAN  float64 `json:"ratio_to_vxlan,omitempty"`
	VsLegacy float64 `json:"ratio_to_legacy,omitempty"`
}

// DVRThroughput is the iperf3 comparison.
type DVRThroughput struct {
	Skipped string     `json:"skipped,omitempty"`
	Seconds float64    `json:"seconds,omitempty"`
	Paths   []PathRate `json:"paths,omitempty"`
}

// path returns the named path (nil if it did not run).
func (t *DVRThroughput) path(name string) *PathRate {
	for i := range t.Paths {
		if t.Paths[i].Name == name {
			return &t.Paths[i]
		}
	}
	return nil
}

// ratios fills in the DVR paths' ratios.
func (t *DVRThroughput) ratios() {
	vx := t.path(PathVXLAN)
	for i := range t.Paths {
		p := &t.Paths[i]
		if p.Gbps <= 0 || p.Name == PathVXLAN {
			continue
		}
		if vx != nil && vx.Gbps > 0 {
			p.VsVXLAN = p.Gbps / vx.Gbps
		}
		if l := t.path(p.Legacy); l != nil && l.Gbps > 0 {
			p.VsLegacy = p.Gbps / l.Gbps
		}
	}
}

// throughput runs iperf3 over each path in turn; a path that fails
// keeps its error and the others still run.
func (b *dvrBed) throughput(ctx context.Context) DVRThroughput {
	if b.o.Throughput <= 0 {
		return DVRThroughput{Skipped: "not asked for"}
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		return DVRThroughput{Skipped: "iperf3 is not installed"}
	}
	res := DVRThroughput{Seconds: b.o.Throughput.Seconds()}
	inet := sandbox.NodeNS(b.st.Prefix, sandbox.NodeInternet)
	type path struct {
		name, what, legacy string
		client, server     string // namespaces
		dst                func() (netip.Addr, error)
	}
	inst := func(in *sandbox.Instance) func() (netip.Addr, error) {
		return func() (netip.Addr, error) { return addrOf(in) }
	}
	paths := []path{
		{PathVXLAN, "one network, APPS1 on compute1 -> APPS2 on compute2", "", b.apps1.Netns, b.apps2.Netns, inst(b.apps2)},
		{PathLegacyEW, "legacy router on network1, LA1 on compute1 -> LB2 on compute2", "", b.la1.Netns, b.lb2.Netns, inst(b.lb2)},
		{PathLegacyFIP, "internet -> floating IP of LA1 on compute1 via the legacy router on network1", "", inet, b.la1.Netns,
			func() (netip.Addr, error) { return b.associate(ctx, b.la1, inet) }},
		{PathDVREW, "distributed router, APPS1 on compute1 -> WEB2 on compute2", PathLegacyEW, b.apps1.Netns, b.web2.Netns, inst(b.web2)},
		{PathDVRFIP, "internet -> floating IP of APPS1 on compute1 (compute1's fip- and qrouter-)", PathLegacyFIP, inet, b.apps1.Netns,
			func() (netip.Addr, error) { return b.associate(ctx, b.apps1, inet) }},
	}
	for _, p := range paths {
		r := PathRate{Name: p.name, What: p.what, Legacy: p.legacy}
		dst, err := p.dst()
		if err == nil {
			b.logf("iperf3 %s, %s: %s", b.o.Throughput, p.name, p.what)
			r.Gbps, err = iperf(ctx, p.server, p.client, dst, b.o.Throughput)
		}
		if err != nil {
			r.Error = err.Error()
		} else {
			b.logf("  %.2f Gbit/s", r.Gbps)
		}
		res.Paths = append(res.Paths, r)
	}
	res.ratios()
	return res
}

// associate gives the instance a floating IP from EXT_SUBNET and waits
// until it answers from the internet host. The floating IP of APPS1 is
// kept for the associate benchmark.
func (b *dvrBed) associate(ctx context.Context, in *sandbox.Instance, inet string) (netip.Addr, error) {
	f, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.extSub, "port_id": in.PortID})
	if err != nil {
		return netip.Addr{}, err
	}
	fip := netip.MustParseAddr(f["floating_ip_address"].(string))
	if in == b.apps1 {
		b.appsFIP, b.appsFIPID = fip, f["id"].(string)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := probe.PingUntil(pctx, inet, fip, 10*time.Millisecond); err != nil {
		return netip.Addr{}, fmt.Errorf("internet -> floating IP %s of %s: %w", fip, in.Name, err)
	}
	return fip, nil
}
