package bench_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/neutrino-net/neutrino/internal/testbed"
)

// TestRunLegacyTiny runs the legacy router benchmark at its smallest
// size (one run each, 1 and 3 floating IPs, a 1 s iperf3): it proves the
// steps work, not how fast they are.
func TestRunLegacyTiny(t *testing.T) {
	testbed.RequireRoot(t)
	if testing.Short() {
		t.Skip("builds a sandbox")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	o := bench.LegacyOptions{Runs: 1, Scales: []int{1, 3}, Throughput: time.Second, Chunk: 2, Progress: &progress,
		Sandbox: bench.SandboxOptions{Exe: exe, Env: testbed.Env(), Dir: t.TempDir()}}
	rep, err := bench.RunLegacy(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
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
	var out bytes.Buffer
	rep.WriteTable(&out)
	t.Logf("\n%s", out.String())
	if !strings.Contains(out.String(), "FIP associate -> first packet (3 FIPs)") {
		t.Errorf("table:\n%s", out.String())
	}
}
