package bench

import (
	"encoding/json"
	"fmt"
	"io"
)

// SGReport is the outcome of RunSG.
type SGReport struct {
	Throughput SGThroughput `json:"throughput"`
	// RuleToPacket: from the rule create's answer to the first admitted
	// packet; RuleAPI: the create call itself.
	RuleToPacket Dist   `json:"rule_create_to_first_packet"`
	RuleAPI      Dist   `json:"rule_create_api_call"`
	RuleError    string `json:"rule_error,omitempty"`
	// MemberAdmit: from the new member's port create to its first packet
	// admitted by the remote group rule; MemberLease: to its DHCP lease.
	MemberAdmit Dist   `json:"new_member_to_admitted"`
	MemberLease Dist   `json:"new_member_to_dhcp_lease"`
	MemberError string `json:"member_error,omitempty"`
}

// WriteTable prints the report.
func (r *SGReport) WriteTable(w io.Writer) {
	t := r.Throughput
	switch {
	case t.Skipped != "":
		fmt.Fprintf(w, "throughput: skipped (%s)\n", t.Skipped)
	case t.Error != "":
		fmt.Fprintf(w, "throughput: FAILED: %s\n", t.Error)
	default:
		fmt.Fprintf(w, "throughput (iperf3 TCP, %gs each, compute1 -> compute2, alternating):\n", t.Seconds)
		fmt.Fprintf(w, "  filtered (default group)   %6.2f Gbit/s  runs %v\n", t.FilteredGbps, gbps(t.Filtered))
		fmt.Fprintf(w, "  port security off          %6.2f Gbit/s  runs %v\n", t.UnfilteredGbps, gbps(t.Unfiltered))
		fmt.Fprintf(w, "  ratio filtered / unfiltered %.2f (target >= 0.9)\n", t.Ratio)
	}
	fmt.Fprintf(w, "\n%-44s %5s %8s %8s %8s %8s\n", "measure", "n", "min ms", "p50 ms", "p99 ms", "max ms")
	row := func(name string, d Dist, failed string) {
		if failed != "" && d.N == 0 {
			fmt.Fprintf(w, "%-44s FAILED: %s\n", name, failed)
			return
		}
		fmt.Fprintf(w, "%-44s %5d %8.1f %8.1f %8.1f %8.1f\n", name, d.N, d.MinMs, d.P50Ms, d.P99Ms, d.MaxMs)
	}
	row("rule create (answered) -> first packet", r.RuleToPacket, r.RuleError)
	row("  the rule create API call", r.RuleAPI, r.RuleError)
	row("new member port created -> admitted", r.MemberAdmit, r.MemberError)
	row("  new member port created -> DHCP lease", r.MemberLease, r.MemberError)
	fmt.Fprintln(w, "\n(probes every 2 ms; the member is on compute2, the rule's port on compute1)")
}

func gbps(xs []float64) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%.2f", x)
	}
	return out
}

// WriteJSON prints the report for programs.
func (r *SGReport) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}
