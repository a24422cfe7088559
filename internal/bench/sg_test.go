package bench_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/bench"
)

// TestRunSGTiny runs the security group benchmark at its smallest size
// (one round of 1 s iperf3 each way, two rule creates, one new member):
// it proves the steps work, not how fast they are. Like every sandbox
// test, run it under flock /tmp/neutrino-sandbox.lock.
func TestRunSGTiny(t *testing.T) {
	rep, _ := runSandboxBench(t, func(progress io.Writer) (*bench.SGReport, error) {
		return bench.RunSG(context.Background(), bench.SGOptions{Runs: 2, MemberRuns: 1, Throughput: time.Second, Rounds: 1,
			Progress: progress, Sandbox: sandboxOptions(t)})
	})
	if tp := rep.Throughput; tp.Skipped == "" && (len(tp.Filtered) != 1 || len(tp.Unfiltered) != 1 || tp.Ratio <= 0) {
		t.Errorf("throughput: %+v", tp)
	}
	if d := rep.RuleToPacket; d.N != 2 || d.P99Ms < d.P50Ms || rep.RuleAPI.N != 2 {
		t.Errorf("rule create -> first packet: %+v, API %+v", d, rep.RuleAPI)
	}
	if d := rep.MemberAdmit; d.N != 1 || d.MinMs < rep.MemberLease.MinMs {
		t.Errorf("new member -> admitted: %+v, lease %+v", d, rep.MemberLease)
	}
}
