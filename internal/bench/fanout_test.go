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

// TestRunFanoutTiny runs the fan-out benchmark with a few hosts (the
// server process is this test binary, re-executed): every operation
// must reach the hosts it concerns; the figures are not checked.
func TestRunFanoutTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	o := bench.DefaultFanout()
	o.Hosts, o.Networks, o.Routers, o.Ops, o.WideOps, o.Interval = 12, 3, 2, 6, 2, 0
	o.Exe, o.Env = exe, testbed.Env()
	rep, err := bench.RunFanout(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Series) != 2 {
		t.Fatalf("series %+v", rep.Series)
	}
	fip, rule := rep.Series[0], rep.Series[1]
	// A floating IP concerns the host of its port; a rule of the group
	// every port is in concerns every host.
	if fip.Ops != 6 || fip.ConcernedMax != 1 || fip.Deliveries != 6 || rule.Ops != 2 || rule.Deliveries != 2*12 {
		t.Errorf("series %+v", rep.Series)
	}
	// Each host received a change before it planned it.
	if rule.RecvP50Ms <= 0 || rule.RecvP99Ms > rule.P99Ms || fip.RecvP99Ms > fip.P99Ms {
		t.Errorf("received before planned: %+v", rep.Series)
	}
	if rep.ViewObjects == 0 || rep.ServerRSSMB <= 0 || rep.ServerRSSBeforeMB <= 0 || rep.AgentsRSSMB <= 0 {
		t.Errorf("implausible report %+v", rep)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "p99 ≤ 200 ms") || !strings.Contains(table.String(), "per watcher") || !strings.Contains(table.String(), "received") {
		t.Errorf("table:\n%s", table.String())
	}
}
