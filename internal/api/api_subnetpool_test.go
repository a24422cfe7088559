package api_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestSubnetPools follows neutron-tempest-plugin's test_subnetpools and
// test_subnetpools_negative: defaults, bounds, prefix growth only,
// allocation by prefixlen, cidr and default, quotas, refusals. Prefix
// lengths render as strings, as upstream's.
func TestSubnetPools(t *testing.T) {
	srv := noAuth(t)
	pool := create(t, srv, demo, "subnetpools", "subnetpool", map[string]any{"name": "p", "prefixes": []string{"10.11.12.13/24"}, "min_prefixlen": "29"})
	if fmt.Sprint(pool["prefixes"]) != "[10.11.12.0/24]" || pool["min_prefixlen"] != "29" || pool["default_prefixlen"] != "29" ||
		pool["max_prefixlen"] != "32" || num(pool["ip_version"]) != 4 || pool["shared"] != false || pool["is_default"] != false || pool["address_scope_id"] != nil {
		t.Fatalf("created %v", pool)
	}
	path := "/v2.0/subnetpools/" + id(pool)
	body := func(m map[string]any) map[string]any { return map[string]any{"subnetpool": m} }
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", body(map[string]any{"name": "x", "prefixes": []string{}}), 400, "EmptySubnetPoolPrefixList")
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", body(map[string]any{"name": "x", "prefixes": []string{"10.0.0.0/8", "2001:db8::/32"}}), 400, "PrefixVersionMismatch")
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", body(map[string]any{"name": "x", "prefixes": []string{"10.0.0.0/8"}, "min_prefixlen": 30, "max_prefixlen": 24}), 400, "IllegalSubnetPoolPrefixBounds")
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", body(map[string]any{"name": "x", "prefixes": []string{"10.0.0.0/8"}, "shared": true}), 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", body(map[string]any{"name": "x", "prefixes": []string{"10.0.0.0/8"}, "is_default": true}), 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", body(map[string]any{"prefixes": []string{"10.0.0.0/8"}}), 400, "")
	refused(t, srv, demo, "PUT", path, body(map[string]any{"prefixes": []string{"10.11.12.0/26"}}), 400, "IllegalSubnetPoolPrefixUpdate")
	refused(t, srv, admin, "PUT", path, body(map[string]any{"shared": true}), 400, "")
	refused(t, srv, demo, "PUT", path, body(map[string]any{"min_prefixlen": 30}), 400, "IllegalSubnetPoolPrefixBounds")
	r := srv.Do(demo, "PUT", path, body(map[string]any{"prefixes": []string{"10.11.12.0/24", "10.11.15.0/24"}, "min_prefixlen": 28, "max_prefixlen": 30}))
	expect(t, r, 200, "")
	if fmt.Sprint(r.Obj("subnetpool")["prefixes"]) != "[10.11.12.0/24 10.11.15.0/24]" || num(r.Obj("subnetpool")["revision_number"]) != 2 {
		t.Fatalf("update: %s", r.Raw)
	}

	net := mkNet(t, srv, demo, "n")
	sub := create(t, srv, demo, "subnets", "subnet", map[string]any{"network_id": id(net), "ip_version": 4, "subnetpool_id": id(pool), "prefixlen": 30})
	if sub["cidr"] != "10.11.12.0/30" || sub["subnetpool_id"] != id(pool) || sub["gateway_ip"] != "10.11.12.1" {
		t.Fatalf("allocated %v", sub)
	}
	sub2 := create(t, srv, demo, "subnets", "subnet", map[string]any{"network_id": id(net), "ip_version": 4, "subnetpool_id": id(pool)})
	if sub2["cidr"] != "10.11.12.8/29" { // default_prefixlen stays 29
		t.Fatalf("default prefixlen: %v", sub2)
	}
	sub3 := create(t, srv, demo, "subnets", "subnet", map[string]any{"network_id": id(net), "ip_version": 4, "subnetpool_id": id(pool), "cidr": "10.11.15.0/29"})
	if sub3["cidr"] != "10.11.15.0/29" {
		t.Fatalf("given cidr: %v", sub3)
	}
	subnet := func(m map[string]any) map[string]any {
		b := map[string]any{"network_id": id(net), "ip_version": 4, "subnetpool_id": id(pool)}
		for k, v := range m {
			b[k] = v
		}
		return map[string]any{"subnet": b}
	}
	refused(t, srv, demo, "POST", "/v2.0/subnets", subnet(map[string]any{"prefixlen": 31}), 400, "MaxPrefixSubnetAllocationError")
	refused(t, srv, demo, "POST", "/v2.0/subnets", subnet(map[string]any{"prefixlen": 24}), 400, "MinPrefixSubnetAllocationError")
	refused(t, srv, demo, "POST", "/v2.0/subnets", subnet(map[string]any{"cidr": "10.11.12.0/29"}), 500, "SubnetAllocationError")
	refused(t, srv, demo, "POST", "/v2.0/subnets", subnet(map[string]any{"cidr": "10.99.0.0/29"}), 500, "SubnetAllocationError")
	refused(t, srv, demo, "POST", "/v2.0/subnets", subnet(map[string]any{"ip_version": 6}), 400, "")
	refused(t, srv, demo, "POST", "/v2.0/subnets", subnet(map[string]any{"use_default_subnetpool": true}), 400, "")
	refused(t, srv, demo, "DELETE", path, nil, 400, "SubnetPoolDeleteError")

	// A network's subnets of one family come from one pool.
	net2 := mkNet(t, srv, demo, "n2")
	mkSubnet(t, srv, demo, id(net2), "10.10.10.0/24")
	refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(net2), "ip_version": 4, "subnetpool_id": id(pool)}}, 400, "NetworkSubnetPoolAffinityError")

	// Another project sees neither the pool nor allocates from it.
	refused(t, srv, other, "GET", path, nil, 404, "SubnetPoolNotFound")
	onet := mkNet(t, srv, other, "o")
	refused(t, srv, other, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(onet), "ip_version": 4, "subnetpool_id": id(pool)}}, 404, "SubnetPoolNotFound")

	for _, s := range []map[string]any{sub, sub2, sub3} {
		expect(t, srv.Do(demo, "DELETE", "/v2.0/subnets/"+id(s), nil), 204, "")
	}
	expect(t, srv.Do(demo, "DELETE", path, nil), 204, "")
}

func TestSubnetPoolQuotaAndDefault(t *testing.T) {
	srv := noAuth(t)
	pool := create(t, srv, admin, "subnetpools", "subnetpool", map[string]any{"name": "d", "prefixes": []string{"2001:db8:3::/48"},
		"min_prefixlen": 64, "default_quota": 2, "shared": true, "is_default": true})
	refused(t, srv, admin, "POST", "/v2.0/subnetpools", map[string]any{"subnetpool": map[string]any{"name": "d2", "prefixes": []string{"2001:db8:9::/48"}, "is_default": true}}, 400, "InvalidInput")
	if r := srv.Do(demo, "GET", "/v2.0/subnetpools/"+id(pool), nil); r.Status != 200 || r.Obj("subnetpool")["shared"] != true {
		t.Fatalf("shared pool: %s", r.Raw)
	}
	net := mkNet(t, srv, demo, "n")
	req := map[string]any{"subnet": map[string]any{"network_id": id(net), "ip_version": 6, "use_default_subnetpool": true}}
	for range 2 {
		r := srv.Do(demo, "POST", "/v2.0/subnets", req)
		expect(t, r, 201, "")
		if !strings.HasSuffix(r.Obj("subnet")["cidr"].(string), "/64") || r.Obj("subnet")["subnetpool_id"] != id(pool) {
			t.Fatalf("default pool subnet: %s", r.Raw)
		}
	}
	refused(t, srv, demo, "POST", "/v2.0/subnets", req, 409, "SubnetPoolQuotaExceeded")
}

func TestSubnetPoolPrefixOps(t *testing.T) {
	srv := noAuth(t)
	pool := create(t, srv, demo, "subnetpools", "subnetpool", map[string]any{"name": "p", "prefixes": []string{"192.168.1.0/24", "10.10.10.0/24"}, "min_prefixlen": 16})
	path := "/v2.0/subnetpools/" + id(pool)
	r := srv.Do(demo, "PUT", path+"/add_prefixes", map[string]any{"prefixes": []string{"10.10.0.0/16", "192.168.2.0/24"}})
	expect(t, r, 200, "")
	if fmt.Sprint(r.Body["prefixes"]) != "[10.10.0.0/16 192.168.1.0/24 192.168.2.0/24]" {
		t.Fatalf("add: %s", r.Raw)
	}
	net := mkNet(t, srv, demo, "n")
	create(t, srv, demo, "subnets", "subnet", map[string]any{"network_id": id(net), "ip_version": 4, "subnetpool_id": id(pool), "cidr": "192.168.2.0/24"})
	refused(t, srv, demo, "PUT", path+"/remove_prefixes", map[string]any{"prefixes": []string{"192.168.2.0/24"}}, 400, "IllegalSubnetPoolPrefixUpdate")
	refused(t, srv, other, "PUT", path+"/add_prefixes", map[string]any{"prefixes": []string{"10.99.0.0/16"}}, 404, "SubnetPoolNotFound")
	r = srv.Do(demo, "PUT", path+"/remove_prefixes", map[string]any{"prefixes": []string{"192.168.1.0/24"}})
	expect(t, r, 200, "")
	if fmt.Sprint(r.Body["prefixes"]) != "[10.10.0.0/16 192.168.2.0/24]" {
		t.Fatalf("remove: %s", r.Raw)
	}
}

// TestSubnetPoolConcurrentAllocations: subnets allocated at the same time
// from one pool never overlap (allocations serialize on the pool).
func TestSubnetPoolConcurrentAllocations(t *testing.T) {
	srv := noAuth(t)
	pool := create(t, srv, demo, "subnetpools", "subnetpool", map[string]any{"name": "p", "prefixes": []string{"10.20.0.0/24"}, "default_prefixlen": 28})
	const n = 8
	nets := make([]string, n)
	for i := range nets {
		nets[i] = id(mkNet(t, srv, demo, fmt.Sprint("n", i)))
	}
	cidrs := make(chan string, n)
	var wg sync.WaitGroup
	for _, netID := range nets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := srv.Do(demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": netID, "ip_version": 4, "subnetpool_id": id(pool)}})
			if r.Status != 201 {
				t.Errorf("allocate: %s", r.Raw)
				return
			}
			cidrs <- r.Obj("subnet")["cidr"].(string)
		}()
	}
	wg.Wait()
	close(cidrs)
	seen := map[string]bool{}
	for c := range cidrs {
		if seen[c] {
			t.Errorf("%s allocated twice", c)
		}
		seen[c] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct subnets, want %d", len(seen), n)
	}
}
