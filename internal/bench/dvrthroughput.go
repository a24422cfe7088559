package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// Names of the throughput paths.
const (
	PathVeth      = "veth"
	PathBridge    = "bridge"
	PathVXLAN     = "VXLAN"
	PathLegacyEW  = "legacy E-W"
	PathLegacyFIP = "legacy FIP"
	PathDVREW     = "DVR E-W"
	PathDVRFIP    = "DVR FIP"
)

// PathRate is the iperf3 rate of one path.
type PathRate struct {
	Name string  `json:"name"`
	What string  `json:"what"`
	Gbps float64 `json:"gbps,omitempty"` // median of Runs
	// Runs are the rounds' rates: every round runs each path once, in
	// turn, so a burst of load elsewhere on the machine hits one round of
	// every path rather than every round of one.
	Runs  []float64 `json:"runs,omitempty"`
	Error string    `json:"error,omitempty"`
	// Legacy names the legacy path a DVR path is compared with.
	Legacy   string  `json:"legacy_counterpart,omitempty"`
	VsVXLAN  float64 `json:"ratio_to_vxlan,omitempty"`
	VsLegacy float64 `json:"ratio_to_legacy,omitempty"`
}

// DVRThroughput is the iperf3 comparison.
type DVRThroughput struct {
	Skipped string  `json:"skipped,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Rounds  int     `json:"rounds,omitempty"`
	// Underlay is compute1's tunnel interface during the first VXLAN run.
	Underlay *Underlay  `json:"underlay,omitempty"`
	Paths    []PathRate `json:"paths,omitempty"`
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
	res := DVRThroughput{Seconds: b.o.Throughput.Seconds(), Rounds: max(1, b.o.Rounds)}
	inet := sandbox.NodeNS(b.st.Prefix, sandbox.NodeInternet)
	type path struct {
		name, what, legacy string
		client, server     string // namespaces
		dst                func() (netip.Addr, error)
	}
	inst := func(in *sandbox.Instance) func() (netip.Addr, error) {
		return func() (netip.Addr, error) { return addrOf(in) }
	}
	// The direct veth is the kernel's ceiling on this machine, outside
	// the sandbox: two namespaces joined by one veth pair.
	nsA, nsB := b.st.Prefix+"-iperfa", b.st.Prefix+"-iperfb"
	defer probe.DeleteNS(nsA)
	defer probe.DeleteNS(nsB)
	veth := func() (netip.Addr, error) { return netip.MustParseAddr("192.168.77.2"), vethPair(nsA, nsB) }
	paths := []path{
		{PathVeth, "two namespaces joined by one veth pair (no sandbox)", "", nsA, nsB, veth},
		{PathBridge, "one network, one host, APPS1 -> APPS1B on compute1 (through compute1's bridge)", "", b.apps1.Netns, b.apps1b.Netns, inst(b.apps1b)},
		{PathVXLAN, "one network, APPS1 on compute1 -> APPS2 on compute2", "", b.apps1.Netns, b.apps2.Netns, inst(b.apps2)},
		{PathLegacyEW, "legacy router on network1, LA1 on compute1 -> LB2 on compute2", "", b.la1.Netns, b.lb2.Netns, inst(b.lb2)},
		{PathLegacyFIP, "internet -> floating IP of LA1 on compute1 via the legacy router on network1", "", inet, b.la1.Netns,
			func() (netip.Addr, error) { return b.associate(ctx, b.la1, inet) }},
		{PathDVREW, "distributed router, APPS1 on compute1 -> WEB2 on compute2", PathLegacyEW, b.apps1.Netns, b.web2.Netns, inst(b.web2)},
		{PathDVRFIP, "internet -> floating IP of APPS1 on compute1 (compute1's fip- and qrouter-)", PathLegacyFIP, inet, b.apps1.Netns,
			func() (netip.Addr, error) { return b.associate(ctx, b.apps1, inet) }},
	}
	dsts := make([]netip.Addr, len(paths))
	for i, p := range paths {
		res.Paths = append(res.Paths, PathRate{Name: p.name, What: p.what, Legacy: p.legacy})
		var err error
		if dsts[i], err = p.dst(); err != nil {
			res.Paths[i].Error = err.Error()
		}
	}
	for round := 1; round <= res.Rounds; round++ {
		for i, p := range paths {
			r := &res.Paths[i]
			if r.Error != "" {
				continue
			}
			b.logf("iperf3 %s, round %d, %s: %s", b.o.Throughput, round, p.name, p.what)
			// The first VXLAN run also shows what crossed the underlay.
			watch := p.name == PathVXLAN && res.Underlay == nil
			var b0, p0 uint64
			var uerr error
			if watch {
				b0, p0, uerr = underlayTx(b.st, "compute1")
			}
			g, err := iperf(ctx, p.server, p.client, dsts[i], b.o.Throughput)
			if watch && err == nil && uerr == nil {
				u := underlayReport(b.st, "compute1", b0, p0)
				res.Underlay = &u
			}
			if err != nil {
				r.Error = fmt.Sprintf("round %d: %v", round, err)
				continue
			}
			b.logf("  %.2f Gbit/s", g)
			r.Runs = append(r.Runs, g)
		}
	}
	for i := range res.Paths {
		if r := &res.Paths[i]; r.Error == "" {
			r.Gbps = median(r.Runs)
		}
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

// median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
