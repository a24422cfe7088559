package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunFanoutTiny runs the fan-out benchmark with a few hosts: every
// operation must reach its host, and only it.
func TestRunFanoutTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	o := DefaultFanout()
	o.Hosts, o.Networks, o.Routers, o.Ops, o.Interval = 12, 3, 2, 6, 0
	rep, err := RunFanout(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deliveries != 6 || rep.Unexpected != 0 || rep.P50Ms <= 0 || rep.P99Ms < rep.P50Ms || rep.ViewObjects == 0 || rep.HeapStreamsMB <= 0 {
		t.Fatalf("implausible report %+v", rep)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "p99 < 100 ms") {
		t.Errorf("table:\n%s", table.String())
	}
}
