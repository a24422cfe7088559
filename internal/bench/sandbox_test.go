package bench_test

import (
	"bytes"
	"context"
	"io"
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

// runSandboxBench runs a data-plane benchmark at a smoke size: it skips
// without root or with -short (the benchmark builds a sandbox), logs the
// report's table (also of a run that failed part-way), fails with the
// progress lines on an error, and returns the report and its table.
func runSandboxBench[T any, R interface {
	*T
	WriteTable(io.Writer)
}](t *testing.T, run func(progress io.Writer) (R, error)) (R, string) {
	t.Helper()
	testbed.RequireRoot(t)
	if testing.Short() {
		t.Skip("builds a sandbox")
	}
	var progress, table bytes.Buffer
	rep, err := run(&progress)
	if rep != nil {
		rep.WriteTable(&table)
		t.Logf("\n%s", table.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	return rep, table.String()
}

// TestRunBootTiny runs the boot benchmark at its smallest size: it
// proves the steps work, not how fast they are.
func TestRunBootTiny(t *testing.T) {
	rep, table := runSandboxBench(t, func(progress io.Writer) (*bench.BootReport, error) {
		o := bench.DefaultBoot()
		o.Boots, o.Progress, o.Sandbox = 2, progress, sandboxOptions(t)
		return bench.RunBoot(context.Background(), o)
	})
	for _, d := range []bench.Dist{rep.Lease, rep.Reachable, rep.Active} {
		if d.N != 2 || d.MinMs <= 0 || d.MaxMs < d.P50Ms {
			t.Errorf("implausible %+v", d)
		}
	}
	if rep.Reachable.MinMs < rep.Lease.MinMs {
		t.Errorf("reachable before the lease: %+v", rep)
	}
	if !strings.Contains(table, "reachable (ready)") {
		t.Errorf("table:\n%s", table)
	}
}

// TestRunAgentSyncTiny runs the agent-sync benchmark with a few ports.
func TestRunAgentSyncTiny(t *testing.T) {
	rep, table := runSandboxBench(t, func(progress io.Writer) (*bench.AgentSyncReport, error) {
		o := bench.DefaultAgentSync()
		o.Ports, o.Chunk, o.Progress, o.Sandbox = 5, 2, progress, sandboxOptions(t)
		return bench.RunAgentSync(context.Background(), o)
	})
	// Cold: at least one change per port (plugging its tap); warm:
	// nothing to change.
	if rep.Cold.Changes < 5 || rep.Warm.Changes != 0 || !rep.Warm.StayedActive || rep.Cold.InitialApplyMs <= 0 || rep.Cold.AllActiveMs <= 0 {
		t.Errorf("implausible %+v", rep)
	}
	if !strings.Contains(table, "initial apply") {
		t.Errorf("table:\n%s", table)
	}
}
