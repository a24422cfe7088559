package bench_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/bench"
	"github.com/neutrino-net/neutrino/internal/testbed"
)

// TestRunNetNodeSmoke runs the network node benchmark at a smoke size (4
// routers, 8 floating IPs on 4 ports): it proves the steps work and that
// a no-op restart changes nothing and loses no ping, not how fast
// anything is. Run it under flock /tmp/neutrino-sandbox.lock.
func TestRunNetNodeSmoke(t *testing.T) {
	testbed.RequireRoot(t)
	if testing.Short() {
		t.Skip("builds a sandbox")
	}
	var progress bytes.Buffer
	o := bench.NetNodeOptions{Routers: 4, FIPs: 8, Ports: 4, FIPRuns: 2, Chunk: 2, Progress: &progress, Sandbox: sandboxOptions(t)}
	rep, err := bench.RunNetNode(context.Background(), o)
	var out bytes.Buffer
	if rep != nil {
		rep.WriteTable(&out)
		t.Logf("\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
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
	if !strings.Contains(out.String(), "ratio of p50s") {
		t.Errorf("table:\n%s", out.String())
	}
}
