package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

func result(op string, lat []time.Duration, wall time.Duration) Result {
	r := Result{Operation: op, Count: len(lat)}
	if len(lat) == 0 {
		return r
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	r.P50Ms = ms(percentile(s, 50))
	r.P99Ms = ms(percentile(s, 99))
	if wall <= 0 {
		var sum time.Duration
		for _, d := range s {
			sum += d
		}
		wall = sum
	}
	r.OpsPerSec = float64(len(s)) / wall.Seconds()
	return r
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *Result) target(desc string, met bool) {
	r.Target = desc
	r.Met = &met
}

func (r *Report) add(res Result) { r.Results = append(r.Results, res) }

// Missed lists the operations that missed their target.
func (r *Report) Missed() []string {
	var out []string
	for _, res := range r.Results {
		if res.Met != nil && !*res.Met {
			out = append(out, res.Operation)
		}
	}
	return out
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "server: %s\n%s, %d CPUs\n\n", r.Server, r.GoVersion, r.CPUs)
	fmt.Fprintf(w, "%-34s %6s %10s %10s %10s  %-12s %-6s %s\n", "operation", "count", "ops/s", "p50", "p99", "target", "", "upstream Neutron")
	fmt.Fprintln(w, strings.Repeat("-", 112))
	for _, res := range r.Results {
		status := ""
		if res.Met != nil {
			status = "ok"
			if !*res.Met {
				status = "MISSED"
			}
		}
		up := res.Upstream
		if res.Ratio > 0 {
			up += fmt.Sprintf(" (×%.0f)", res.Ratio)
		}
		fmt.Fprintf(w, "%-34s %6d %10.1f %8.2fms %8.2fms  %-12s %-6s %s\n", res.Operation, res.Count, res.OpsPerSec, res.P50Ms, res.P99Ms, res.Target, status, up)
	}
	fmt.Fprintln(w, "\nupstream Neutron: this harness against Debian 12's Neutron Zed on the development machine (scripts/upstream-neutron,")
	fmt.Fprintln(w, "docs/performance.md); (×N) is upstream's p50 over this run's (throughputs: this run's over upstream's).")
	fmt.Fprintln(w, "List ops/s is 1/mean latency.")
}

// WriteJSON prints the report for programs.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
