package server_test

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// smallNetwork makes a network with a subnet of only a few free addresses.
func smallNetwork(t *testing.T, srv *testutil.Server, c testutil.Caller, cidr string) (netID, subnetID string) {
	t.Helper()
	r := srv.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "small"}})
	if r.Status != 201 {
		t.Fatalf("network create: %d %s", r.Status, r.Raw)
	}
	netID = r.Obj("network")["id"].(string)
	r = srv.Do(c, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": netID, "ip_version": 4, "cidr": cidr}})
	if r.Status != 201 {
		t.Fatalf("subnet create: %d %s", r.Status, r.Raw)
	}
	return netID, r.Obj("subnet")["id"].(string)
}

// createPortsConcurrently runs n creates at once, spread over servers, and
// returns the addresses of those that succeeded and how many were refused
// as exhausted.
func createPortsConcurrently(t *testing.T, servers []*testutil.Server, c testutil.Caller, netID string, n int) (addrs []string, exhausted int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := servers[i%len(servers)]
			r := srv.Do(c, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID, "name": fmt.Sprint("p", i)}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.Status == 201:
				for _, ip := range r.Obj("port")["fixed_ips"].([]any) {
					addrs = append(addrs, ip.(map[string]any)["ip_address"].(string))
				}
			case r.Status == 409 && r.ErrorType() == "IpAddressGenerationFailure":
				exhausted++
			default:
				t.Errorf("port create: %d %s", r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	return addrs, exhausted
}

func checkUnique(t *testing.T, addrs []string, prefix string) {
	t.Helper()
	p := netip.MustParsePrefix(prefix)
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("address %s given to two ports", a)
		}
		seen[a] = true
		if !p.Contains(netip.MustParseAddr(a)) {
			t.Errorf("address %s outside %s", a, prefix)
		}
	}
}

// 32 concurrent creates on a subnet with 29 free addresses: every address
// is handed out exactly once and the rest are refused cleanly.
func TestConcurrentPortCreatesNeverDuplicate(t *testing.T) {
	srv := testutil.StartServer(t, testutil.NoAuth())
	c := testutil.Caller{Project: "p1"}
	netID, _ := smallNetwork(t, srv, c, "10.1.0.0/27") // .2-.30 usable: 29 addresses
	addrs, exhausted := createPortsConcurrently(t, []*testutil.Server{srv}, c, netID, 32)
	checkUnique(t, addrs, "10.1.0.0/27")
	if len(addrs) != 29 || exhausted != 3 {
		t.Errorf("got %d addresses and %d exhausted, want 29 and 3", len(addrs), exhausted)
	}
	r := srv.Do(c, "GET", "/v2.0/ports?network_id="+netID, nil)
	if got := len(r.List("ports")); got != 29 {
		t.Errorf("list shows %d ports, want 29", got)
	}
}

// Two servers sharing one real etcd cluster (Debian's etcd-server) hand out
// addresses without duplicates, and each sees the other's writes.
func TestExternalEtcdTwoServers(t *testing.T) {
	endpoints := testutil.RunEtcd(t)
	prefix := "/neutrino-" + t.Name() + "/"
	a := testutil.StartServer(t, testutil.NoAuth(), testutil.WithEtcd(endpoints, prefix))
	b := testutil.StartServer(t, testutil.NoAuth(), testutil.WithEtcd(endpoints, prefix))
	c := testutil.Caller{Project: "p1"}
	netID, _ := smallNetwork(t, a, c, "10.2.0.0/27")
	addrs, exhausted := createPortsConcurrently(t, []*testutil.Server{a, b}, c, netID, 32)
	checkUnique(t, addrs, "10.2.0.0/27")
	if len(addrs) != 29 || exhausted != 3 {
		t.Errorf("got %d addresses and %d exhausted, want 29 and 3", len(addrs), exhausted)
	}
	// b sees what a created and vice versa (watch-fed caches converge;
	// a read right after one's own write is always consistent).
	for _, srv := range []*testutil.Server{a, b} {
		waitFor(t, func() bool {
			return len(srv.Do(c, "GET", "/v2.0/ports?network_id="+netID, nil).List("ports")) == 29
		})
	}
	// Deleting the network through b with ports present is refused, then
	// allowed once a deletes the ports.
	if r := b.Do(c, "DELETE", "/v2.0/networks/"+netID, nil); r.ErrorType() != "NetworkInUse" {
		t.Fatalf("delete network with ports: %d %s", r.Status, r.Raw)
	}
	for _, p := range a.Do(c, "GET", "/v2.0/ports?network_id="+netID, nil).List("ports") {
		if r := a.Do(c, "DELETE", "/v2.0/ports/"+p["id"].(string), nil); r.Status != 204 {
			t.Fatalf("delete port: %d %s", r.Status, r.Raw)
		}
	}
	waitFor(t, func() bool { return b.Do(c, "DELETE", "/v2.0/networks/"+netID, nil).Status == 204 })
}

// 16 concurrent creates against a quota of 5 leave exactly 5: near its
// limit a project's creates serialize, so none can take a unit another
// took meanwhile.
func TestQuotaUnderConcurrency(t *testing.T) {
	srv := testutil.StartServer(t, testutil.NoAuth())
	admin := testutil.Caller{Project: "admin", Admin: true}
	if r := srv.Do(admin, "PUT", "/v2.0/quotas/p1", map[string]any{"quota": map[string]any{"network": 5}}); r.Status != 200 {
		t.Fatalf("set quota: %d %s", r.Status, r.Raw)
	}
	c := testutil.Caller{Project: "p1"}
	var mu sync.Mutex
	var wg sync.WaitGroup
	created, refused := 0, 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := srv.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": fmt.Sprint("n", i)}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.Status == 201:
				created++
			case r.Status == 409 && r.ErrorType() == "OverQuota":
				refused++
			default:
				t.Errorf("create: %d %s", r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	if created != 5 || refused != 11 {
		t.Errorf("%d created, %d refused; want 5 and 11", created, refused)
	}
	if n := len(srv.Do(c, "GET", "/v2.0/networks", nil).List("networks")); n != 5 {
		t.Errorf("%d networks exist, want 5", n)
	}
}
