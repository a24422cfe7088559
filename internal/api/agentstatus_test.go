package api_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestAgentStatusManyPorts: an agent that (re)starts reports all its
// host's ports in one request. 2,000 ports (about 100 KB, under the API's body limit) in one etcd transaction would
// exceed etcd's 1.5 MiB request limit (found by `neutrino bench
// agent-sync --ports 2000`: the report failed with a 500 forever and no
// port turned ACTIVE); the server must apply it anyway.
func TestAgentStatusManyPorts(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 2,000 ports")
	}
	srv := noAuth(t)
	n := mkNet(t, srv, admin, "many")
	mkSubnet(t, srv, admin, id(n), "10.64.0.0/20")
	expect(t, srv.Do(admin, "PUT", "/v2.0/quotas/admin", map[string]any{"quota": map[string]any{"port": -1}}), 200, "")
	host := newSimHost(t, srv, "compute1", l2State("10.0.1.21"))
	const total = 2000
	report := &syncproto.StatusReport{Ports: map[string]string{}}
	for len(report.Ports) < total {
		var ports []any
		for i := range 250 {
			ports = append(ports, map[string]any{"network_id": id(n), "binding:host_id": "compute1",
				"device_owner": "compute:nova", "device_id": fmt.Sprintf("vm-%d", len(report.Ports)+i)})
		}
		r := srv.Do(admin, "POST", "/v2.0/ports", map[string]any{"ports": ports})
		expect(t, r, 201, "")
		for _, p := range r.List("ports") {
			report.Ports[id(p)] = "ACTIVE"
		}
	}
	if err := host.client.Status(context.Background(), report); err != nil {
		t.Fatalf("status report of %d ports: %v", total, err)
	}
	r := srv.Do(admin, "GET", "/v2.0/ports?device_owner=compute:nova&status=ACTIVE&fields=id", nil)
	expect(t, r, 200, "")
	if got := len(r.List("ports")); got != total {
		t.Errorf("%d ports ACTIVE after the report, want %d", got, total)
	}
}

// reportingPort starts a server with network name (subnet cidr) and a
// simulated compute1 whose L2 agent reports, and binds an instance port
// of the network to compute1: what a status report test reports on.
func reportingPort(t *testing.T, name, cidr string) (srv *testutil.Server, host *simHost, portID string) {
	t.Helper()
	srv = noAuth(t)
	n := mkNet(t, srv, admin, name)
	mkSubnet(t, srv, admin, id(n), cidr)
	host = newSimHost(t, srv, "compute1", l2State("10.0.1.21"))
	p := srv.Do(admin, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "binding:host_id": "compute1", "device_owner": "compute:nova"}})
	expect(t, p, 201, "")
	return srv, host, id(p.Obj("port"))
}

// portNow is the port as the API shows it.
func portNow(t *testing.T, srv *testutil.Server, id string) map[string]any {
	t.Helper()
	r := srv.Do(admin, "GET", "/v2.0/ports/"+id, nil)
	expect(t, r, 200, "")
	return r.Obj("port")
}

// A status judged from an older version of an object is ignored: a late
// ACTIVE for a floating IP disassociated meanwhile must not stick.
func TestAgentStatusStaleRevisionIgnored(t *testing.T) {
	srv, host, pid := reportingPort(t, "stale", "10.65.0.0/24")
	// A revision that is not the port's current one.
	rep := &syncproto.StatusReport{Ports: map[string]string{pid: "ACTIVE"}, Seen: map[string]int64{pid: 1}}
	if err := host.client.Status(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	if st := portNow(t, srv, pid)["status"]; st != "DOWN" {
		t.Errorf("stale report applied: status %v", st)
	}
	// Without Seen (older agents) the report applies.
	if err := host.client.Status(context.Background(), &syncproto.StatusReport{Ports: map[string]string{pid: "ACTIVE"}}); err != nil {
		t.Fatal(err)
	}
	if st := portNow(t, srv, pid)["status"]; st != "ACTIVE" {
		t.Errorf("report not applied: status %v", st)
	}
}

// A port its host cannot plug (its physical network is not mapped
// there) gets binding:vif_type binding_failed and stays DOWN.
func TestAgentStatusBindingFailed(t *testing.T) {
	srv, host, pid := reportingPort(t, "unmapped", "10.66.0.0/24")
	rep := &syncproto.StatusReport{Ports: map[string]string{pid: "DOWN"}, BindingFailed: map[string]string{pid: "physnet9"}}
	if err := host.client.Status(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	if got := portNow(t, srv, pid); got["binding:vif_type"] != "binding_failed" || got["status"] != "DOWN" {
		t.Fatalf("port after a binding failure: vif_type %v status %v", got["binding:vif_type"], got["status"])
	}
	// The host maps the physnet now and plugs the port: bound again.
	if err := host.client.Status(context.Background(), &syncproto.StatusReport{Ports: map[string]string{pid: "ACTIVE"}}); err != nil {
		t.Fatal(err)
	}
	if got := portNow(t, srv, pid); got["binding:vif_type"] != "bridge" || got["status"] != "ACTIVE" {
		t.Fatalf("port plugged after a binding failure: vif_type %v status %v", got["binding:vif_type"], got["status"])
	}
}
