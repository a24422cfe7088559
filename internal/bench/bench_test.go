package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestRunTiny runs the whole benchmark at a tiny size against an
// in-process server: it proves the steps work, not how fast they are.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	o := Defaults()
	o.Networks, o.Ports, o.Concurrency = 3, 20, 4
	o.ListSizes, o.ListRuns, o.FilterRuns, o.Chunk = []int{50, 70}, 2, 3, 7
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"network create (sequential)", "subnet create (sequential)",
		"port create (sequential)", "port create (4 clients)",
		"list all ports (50)", "list ports by device_id (50)",
		"list all ports (70)", "list ports by device_id (70)",
		"port create (seq., 70 exist)",
	}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(rep.Results), len(want), rep.Results)
	}
	for i, res := range rep.Results {
		if res.Operation != want[i] {
			t.Errorf("result %d is %q, want %q", i, res.Operation, want[i])
		}
		if res.Count == 0 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.OpsPerSec <= 0 {
			t.Errorf("implausible %+v", res)
		}
	}
	if rep.Results[2].Count != 20 || rep.Results[3].Count != 20 {
		t.Errorf("port create counts %d, %d, want 20", rep.Results[2].Count, rep.Results[3].Count)
	}

	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, s := range append(want, "p50 < 5 ms", "≥ 500/s", "< 50 ms", "p50 148 ms", "7.2/s") {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Results) != len(want) {
		t.Fatalf("JSON report does not round-trip: %v\n%s", err, js.String())
	}
}
