package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
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
	o.Groups, o.RulesPerGroup, o.Routers, o.FloatingIPs = 2, 3, 2, 3
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkTiny(t, rep)
}

// checkTiny checks the results of a tiny run: every operation, in order.
func checkTiny(t *testing.T, rep *Report) {
	t.Helper()
	want := []string{
		"network create (sequential)", "list networks (4)", "subnet create (sequential)",
		"port create (sequential)", "list all ports (20)", "port create (4 clients)",
		"list all ports (50)", "list ports by device_id (50)",
		"list all ports (70)", "list ports by device_id (70)",
		"port create (seq., 70 exist)",
		"security group create (sequential)", "security group rule create (seq.)",
		"list security groups (3, 10 rules)", "router create (sequential)",
		"floating IP create (sequential)", "list floating IPs (3)",
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
	if rep.Results[3].Count != 20 || rep.Results[5].Count != 20 {
		t.Errorf("port create counts %d, %d, want 20", rep.Results[3].Count, rep.Results[5].Count)
	}

	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, s := range append(want, "p50 < 5 ms", "≥ 500/s", "< 50 ms", "245.9 ms (×", "72.29 ms (×", "143.1 ms (×") {
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

// TestRunTinyKeystone runs the tiny benchmark against a server that
// checks Keystone tokens, with openrc-style credentials only: the
// endpoint comes from the token's catalog, as against upstream Neutron.
func TestRunTinyKeystone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := testutil.StartServer(t)
	if srv.Keystone == nil {
		t.Skip("the test server has no built-in Keystone")
	}
	adm := srv.Keystone.Credentials().Admin
	o := Defaults()
	o.Creds = Credentials{AuthURL: srv.URL + "/identity/v3", Username: adm.UserName, Password: adm.Password, ProjectName: adm.ProjectName}
	o.Networks, o.Ports, o.Concurrency = 3, 20, 4
	o.ListSizes, o.ListRuns, o.FilterRuns, o.Chunk = []int{50, 70}, 2, 3, 7
	o.Groups, o.RulesPerGroup, o.Routers, o.FloatingIPs = 2, 3, 2, 3
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Server, "http") {
		t.Errorf("server %q, want the catalog's endpoint", rep.Server)
	}
	checkTiny(t, rep)
}

func TestReadOpenRC(t *testing.T) {
	path := t.TempDir() + "/openrc"
	rc := "# comment\nexport OS_AUTH_URL=http://k:5000/v3\nexport OS_USERNAME='admin'\nexport OS_PASSWORD=\"s=cret\"\nOS_PROJECT_NAME=demo\nexport OS_REGION_NAME=RegionOne\n"
	if err := os.WriteFile(path, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Credentials{Username: "given"}
	if err := ReadOpenRC(path, &c, func(f string) bool { return f == "os-username" }); err != nil {
		t.Fatal(err)
	}
	want := Credentials{AuthURL: "http://k:5000/v3", Username: "given", Password: "s=cret", ProjectName: "demo", Region: "RegionOne"}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}
