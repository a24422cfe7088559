package bench_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/bench"
)

// TestRunNetNodeSmoke runs the network node benchmark at a smoke size (4
// routers, 8 floating IPs on 4 ports): it proves the steps work and that
// a no-op restart changes nothing and loses no ping, not how fast
// anything is. Run it under flock /tmp/neutrino-sandbox.lock.
func TestRunNetNodeSmoke(t *testing.T) {
	rep, table := runSandboxBench(t, func(progress io.Writer) (*bench.NetNodeReport, error) {
		return bench.RunNetNode(context.Background(), bench.NetNodeOptions{Routers: 4, FIPs: 8, Ports: 4, FIPRuns: 2, Chunk: 2,
			Progress: progress, Sandbox: sandboxOptions(t)})
	})
	if rep.Cold.Changes == 0 || rep.Cold.InitialApplyMs <= 0 || rep.Cold.RSSMiB <= 0 {
		t.Errorf("cold start: %+v", rep.Cold)
	}
	if rep.NoOp.Changes != 0 || rep.NoOp.EastWest.Sent == 0 || rep.NoOp.FIP.Sent == 0 {
		t.Errorf("no-op restart: %+v", rep.NoOp)
	}
	// 5 routers' qrouter- (the probe's too), 2 snat-, a qdhcp- per DHCP network.
	if k := rep.KernelAfter; k.Namespaces < 7 || k.Links == 0 || k.Routes == 0 {
		t.Errorf("kernel objects: %+v", k)
	}
	if rep.FIPEmpty.N != 2 || rep.FIPFull.N != 2 || rep.FIPRatio <= 0 {
		t.Errorf("floating IP associate: empty %+v full %+v ratio %v", rep.FIPEmpty, rep.FIPFull, rep.FIPRatio)
	}
	if rep.FIPEmptyB2B.N != 2 || rep.FIPFullB2B.N != 2 || rep.FIPRatioB2B <= 0 {
		t.Errorf("back to back: empty %+v full %+v ratio %v", rep.FIPEmptyB2B, rep.FIPFullB2B, rep.FIPRatioB2B)
	}
	for _, p := range []bench.FIPPair{rep.FIPPairBefore, rep.FIPPairFull} {
		if p.Network1.N != 2 || p.Network2.N != 2 || p.Ratio <= 0 {
			t.Errorf("interleaved with network2: %+v", p)
		}
	}
	if !strings.Contains(table, "ratio of p50s") || !strings.Contains(table, "network1 / network2") {
		t.Errorf("table:\n%s", table)
	}
}
