package bench

import (
	"strings"
	"testing"
)

func TestSGReportTable(t *testing.T) {
	r := &SGReport{
		Throughput: SGThroughput{Seconds: 5, Filtered: []float64{9, 11}, Unfiltered: []float64{10, 12},
			FilteredGbps: 10, UnfilteredGbps: 11, Ratio: 10.0 / 11},
		RuleToPacket: Dist{N: 3, MinMs: 20, P50Ms: 25, P99Ms: 40, MaxMs: 40},
		RuleAPI:      Dist{N: 3, MinMs: 5, P50Ms: 6, P99Ms: 7, MaxMs: 7},
		MemberError:  "boom",
	}
	var b strings.Builder
	r.WriteTable(&b)
	out := b.String()
	for _, want := range []string{"filtered (default group)    10.00 Gbit/s  runs [9.00 11.00]", "ratio filtered / unfiltered 0.91",
		"rule create (answered) -> first packet           3     20.0     25.0     40.0     40.0", "new member port created -> admitted          FAILED: boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	r.Throughput = SGThroughput{Skipped: "not asked for"}
	b.Reset()
	r.WriteTable(&b)
	if !strings.Contains(b.String(), "throughput: skipped (not asked for)") {
		t.Errorf("skipped throughput:\n%s", b.String())
	}
}
