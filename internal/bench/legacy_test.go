package bench_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/bench"
)

// TestRunLegacyTiny runs the legacy router benchmark at its smallest
// size (one run each, 1 and 3 floating IPs, a 1 s iperf3): it proves the
// steps work, not how fast they are.
func TestRunLegacyTiny(t *testing.T) {
	rep, table := runSandboxBench(t, func(progress io.Writer) (*bench.LegacyReport, error) {
		return bench.RunLegacy(context.Background(), bench.LegacyOptions{Runs: 1, Scales: []int{1, 3}, Throughput: time.Second, Chunk: 2,
			Progress: progress, Sandbox: sandboxOptions(t)})
	})
	if rep.InterfaceAdd.N != 1 || rep.InterfaceAdd.MinMs <= 0 {
		t.Errorf("interface add: %+v", rep.InterfaceAdd)
	}
	if len(rep.FIP) != 2 || rep.FIP[0].Existing != 1 || rep.FIP[1].Existing != 3 {
		t.Fatalf("floating IP scales: %+v", rep.FIP)
	}
	for _, s := range rep.FIP {
		if s.Dist.N != 1 || s.Dist.MinMs <= 0 || s.Ratio <= 0 {
			t.Errorf("scale %d: %+v", s.Existing, s)
		}
	}
	if tp := rep.Throughput; tp.Skipped == "" && (tp.DirectGbps <= 0 || tp.RouterGbps <= 0) {
		t.Errorf("throughput: %+v", tp)
	}
	if !strings.Contains(table, "FIP associate -> first packet (3 FIPs)") {
		t.Errorf("table:\n%s", table)
	}
}
