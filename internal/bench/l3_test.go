package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunL3Tiny runs the L3 benchmark at a tiny size: it proves the steps
// work, not how fast they are.
func TestRunL3Tiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	rep, err := RunL3(context.Background(), L3Options{Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"router create", "router gateway set", "router interface add", "floating IP create", "floating IP associate", "floating IP disassociate"}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(rep.Results), len(want), rep.Results)
	}
	for i, res := range rep.Results {
		if res.Operation != want[i] || res.Count != 3 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms {
			t.Errorf("result %d: %+v", i, res)
		}
	}
	var table bytes.Buffer
	rep.WriteL3Table(&table)
	for _, s := range []string{"p50 505 ms", "p50 568 ms", "p50 265 ms", "p50 307 ms", "p50 < 10 ms"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}
