package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunScaleTiny runs api-scale at a tiny size: every step works and
// every figure is reported (nothing about how fast).
func TestRunScaleTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	o := ScaleOptions{Ports: 60, PortsPerNetwork: 20, Routers: 12, FloatingIPs: 30, Rules: 25, RulesPerGroup: 10,
		Clients: []int{2, 3}, Runs: 4, ListRuns: 3, Chunk: 7, Compact: true}
	rep, err := RunScale(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Operation)
		if r.Count == 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms {
			t.Errorf("implausible %+v", r)
		}
	}
	want := []string{"list all ports (60)", "list ports by device_id", "list ports by network_id (20 each)", "port create", "floating IP associate", "router interface add"}
	if len(names) != 2*len(want) {
		t.Fatalf("results %q", names)
	}
	for i, n := range names {
		c := []string{"2", "3"}[i/len(want)]
		if n != want[i%len(want)]+" ("+c+" clients)" {
			t.Errorf("result %d is %q", i, n)
		}
	}
	if rep.StartupMs <= 0 || rep.RSSMiB <= 0 || rep.EtcdDBMiB <= 0 || rep.EtcdRev <= 0 || !strings.Contains(rep.Compaction, "compacted to") {
		t.Errorf("implausible report %+v", rep)
	}
	var buf bytes.Buffer
	rep.WriteTable(&buf)
	if !strings.Contains(buf.String(), "start-up on the populated store") {
		t.Errorf("table:\n%s", buf.String())
	}
	if testing.Verbose() {
		t.Log("\n" + buf.String())
	}
}
