package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
)

// DVRReport is the outcome of RunDVR.
type DVRReport struct {
	Throughput DVRThroughput `json:"throughput"`
	// InterfaceAdd: per host with a DMZ instance, then "all" (the last
	// host of each run).
	InterfaceAdd []HostDist `json:"interface_add_to_first_routed_packet,omitempty"`
	// InterfaceAddARP: the same, the gateway resolved by ARP probes
	// first (no wait for the instance's ARP retransmission timer).
	InterfaceAddARP   []HostDist `json:"interface_add_to_first_routed_packet_arp_probe,omitempty"`
	InterfaceAddError string     `json:"interface_add_error,omitempty"`
	FIP               []FIPScale `json:"floating_ip_associate_on_compute,omitempty"`
	FIPError          string     `json:"floating_ip_associate_error,omitempty"`
	// FIPRatio is the p50 at the largest scale over the p50 at the
	// smallest.
	FIPRatio float64 `json:"floating_ip_p50_ratio_largest_to_smallest,omitempty"`
}

func (r *DVRReport) ratios() {
	if n := len(r.FIP); n > 1 {
		r.FIPRatio = r.FIP[n-1].Ratio
	}
}

// WriteTable prints the report.
func (r *DVRReport) WriteTable(w io.Writer) {
	t := r.Throughput
	if t.Skipped != "" {
		fmt.Fprintf(w, "throughput: skipped (%s)\n", t.Skipped)
	} else {
		fmt.Fprintf(w, "throughput (iperf3 TCP, %gs each, median of %d interleaved rounds):\n", t.Seconds, max(1, t.Rounds))
		fmt.Fprintf(w, "  %-11s %8s %9s %10s  %s\n", "path", "Gbit/s", "/ VXLAN", "/ legacy", "what")
		for _, p := range t.Paths {
			if p.Error != "" {
				fmt.Fprintf(w, "  %-11s %8s %9s %10s  FAILED: %s\n", p.Name, "-", "-", "-", p.Error)
				continue
			}
			fmt.Fprintf(w, "  %-11s %8.2f %9s %10s  %s\n", p.Name, p.Gbps, ratio(p.VsVXLAN, p.Name == PathVXLAN), ratio(p.VsLegacy, false), p.What)
			if len(p.Runs) > 1 {
				fmt.Fprintf(w, "  %-11s %8s runs %s\n", "", "", fmtRuns(p.Runs))
			}
		}
		fmt.Fprintln(w, "  (/ legacy: DVR E-W over legacy E-W, DVR FIP over legacy FIP)")
		if u := t.Underlay; u != nil {
			fmt.Fprintf(w, "  underlay %s %s during VXLAN: mtu %d, average tx frame %d bytes, offloads on: %s", u.Host, u.Dev, u.MTU, u.AvgTxBytes, strings.Join(u.Offloads, " "))
			if u.Error != "" {
				fmt.Fprintf(w, " (%s)", u.Error)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\n%-56s %5s %8s %8s %8s %8s\n", "measure", "n", "min ms", "p50 ms", "p99 ms", "max ms")
	row := func(name string, d Dist) {
		fmt.Fprintf(w, "%-56s %5d %8.1f %8.1f %8.1f %8.1f\n", name, d.N, d.MinMs, d.P50Ms, d.P99Ms, d.MaxMs)
	}
	for _, h := range r.InterfaceAdd {
		row("interface add -> first routed packet, "+hostName(h.Host), h.Dist)
	}
	for _, h := range r.InterfaceAddARP {
		row("  same, gateway ARP-probed first, "+hostName(h.Host), h.Dist)
	}
	if r.InterfaceAddError != "" {
		fmt.Fprintf(w, "interface add: FAILED: %s\n", r.InterfaceAddError)
	}
	for _, s := range r.FIP {
		row(fmt.Sprintf("FIP associate -> first packet (%d FIPs on %s)", s.Existing, fipHost), s.Dist)
	}
	if n := len(r.FIP); n > 1 {
		var parts []string
		for _, s := range r.FIP[1:] {
			parts = append(parts, fmt.Sprintf("%d:%d = %.2f", s.Existing, r.FIP[0].Existing, s.Ratio))
		}
		fmt.Fprintf(w, "FIP associate p50 ratios: %s\n", strings.Join(parts, ", "))
	}
	if r.FIPError != "" {
		fmt.Fprintf(w, "FIP associate: FAILED: %s\n", r.FIPError)
	}
}

func hostName(h string) string {
	if h == "all" {
		return "every host"
	}
	return h
}

func ratio(v float64, self bool) string {
	switch {
	case self:
		return "1.00"
	case v <= 0:
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// WriteJSON prints the report as JSON.
func (r *DVRReport) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// diagnose prints, after a failure, what the distributed router looks
// like on every host: policy rules, every routing table and the nftables
// ruleset of its qrouter-, fip- and snat- namespaces, and the host
// namespaces' bridge-family rules and FDB.
func (b *dvrBed) diagnose(part string) {
	if b.o.Progress == nil {
		return
	}
	w := b.o.Progress
	fmt.Fprintf(w, "=== diagnostics after %s failed (sandbox prefix %s, DVR router %s, EXT_NET %s)\n", part, b.st.Prefix, b.dvr, b.ext)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(ns string, argv ...string) {
		out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + ns}, argv...)...).CombinedOutput()
		fmt.Fprintf(w, "--- %s: %s", ns, strings.Join(argv, " "))
		if err != nil {
			fmt.Fprintf(w, " (%v)", err)
		}
		fmt.Fprintf(w, "\n%s", out)
	}
	for _, in := range []*sandbox.Instance{b.dmz1, b.dmz2, b.apps1} {
		if in != nil {
			run(in.Netns, "ip", "neigh")
		}
	}
	for _, h := range b.st.Hosts() {
		for _, ns := range []string{b.qrouterNS(h.Name), b.fipNS(h.Name), b.hostNS("snat-"+b.dvr, h.Name)} {
			if _, err := exec.LookPath("ip"); err != nil {
				return
			}
			if !nsExists(ns) {
				fmt.Fprintf(w, "--- %s: no such namespace\n", ns)
				continue
			}
			run(ns, "ip", "-br", "addr")
			run(ns, "ip", "rule")
			run(ns, "ip", "route", "show", "table", "all")
			run(ns, "ip", "neigh")
			run(ns, "nft", "list", "ruleset")
		}
		hostNS := b.st.Prefix + "-" + h.Name
		run(hostNS, "nft", "list", "ruleset")
		run(hostNS, "bridge", "fdb", "show")
	}
}

// fmtRuns prints rates as "[6.96 5.77 6.80]".
func fmtRuns(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
