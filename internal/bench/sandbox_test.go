package bench_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/neutrino-net/neutrino/internal/testbed"
)

// The data-plane benchmarks build a sandbox, which re-executes this test
// binary as the neutrino command.
func TestMain(m *testing.M) { testbed.Main(m) }

func sandboxOptions(t *testing.T) bench.SandboxOptions {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bench.SandboxOptions{Exe: exe, Env: testbed.Env(), Dir: t.TempDir()}
}

// TestRunBootTiny runs the boot benchmark at its smallest size: it
// proves the steps work, not how fast they are.
func TestRunBootTiny(t *testing.T) {
	testbed.RequireRoot(t)
	if testing.Short() {
		t.Skip("builds a sandbox")
	}
	o := bench.DefaultBoot()
	o.Boots, o.Sandbox = 2, sandboxOptions(t)
	rep, err := bench.RunBoot(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []bench.Dist{rep.Lease, rep.Reachable, rep.Active} {
		if d.N != 2 || d.MinMs <= 0 || d.MaxMs < d.P50Ms {
			t.Errorf("implausible %+v", d)
		}
	}
	if rep.Reachable.MinMs < rep.Lease.MinMs {
		t.Errorf("reachable before the lease: %+v", rep)
	}
	var out bytes.Buffer
	rep.WriteTable(&out)
	if !strings.Contains(out.String(), "reachable (ready)") {
		t.Errorf("table:\n%s", out.String())
	}
}

// TestRunAgentSyncTiny runs the agent-sync benchmark with a few ports.
func TestRunAgentSyncTiny(t *testing.T) {
	testbed.RequireRoot(t)
	if testing.Short() {
		t.Skip("builds a sandbox")
	}
	o := bench.DefaultAgentSync()
	o.Ports, o.Chunk, o.Sandbox = 5, 2, sandboxOptions(t)
	rep, err := bench.RunAgentSync(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// Cold: at least one change per port (plugging its tap); warm:
	// nothing to change.
	if rep.Cold.Changes < 5 || rep.Warm.Changes != 0 || !rep.Warm.StayedActive || rep.Cold.InitialApplyMs <= 0 || rep.Cold.AllActiveMs <= 0 {
		t.Errorf("implausible %+v", rep)
	}
	var out bytes.Buffer
	rep.WriteTable(&out)
	if !strings.Contains(out.String(), "initial apply") {
		t.Errorf("table:\n%s", out.String())
	}
}
