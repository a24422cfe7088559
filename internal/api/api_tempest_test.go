package api_test

import (
	"net/http"
	"testing"
)

// Behaviour upstream's API suites (docs/conformance.md) caught us without.

// An update with an empty body disassociates a floating IP (its port_id
// once was its only attribute); one that changes only the description
// keeps the association (neutron-tempest-plugin
// test_blank_update_clears_association,
// test_floatingip_update_extra_attributes_port_id_not_changed).
func TestFloatingIPBlankUpdateClearsAssociation(t *testing.T) {
	e, _, p := fipEnv(t)
	srv := e.srv
	f := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext), "port_id": id(p)})
	r := srv.Do(demo, "PUT", "/v2.0/floatingips/"+id(f), map[string]any{"floatingip": map[string]any{"description": "d2"}})
	expect(t, r, http.StatusOK, "")
	if got := r.Obj("floatingip")["port_id"]; got != id(p) {
		t.Fatalf("description update changed port_id to %v", got)
	}
	r = srv.Do(demo, "PUT", "/v2.0/floatingips/"+id(f), map[string]any{"floatingip": map[string]any{}})
	expect(t, r, http.StatusOK, "")
	got := r.Obj("floatingip")
	if got["port_id"] != nil || got["fixed_ip_address"] != nil || got["description"] != "d2" {
		t.Fatalf("blank update: %s", r.Raw)
	}
	// The port is free for another floating IP.
	create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext), "port_id": id(p)})
}

// PUT mac_address=null gives a port a new generated MAC
// (port-mac-address-regenerate; neutron-tempest-plugin
// test_regenerate_mac_address).
func TestPortMACRegenerate(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, admin, "n")
	mkSubnet(t, srv, admin, id(n), "10.7.0.0/24")
	p := mkPort(t, srv, admin, id(n), nil)
	r := srv.Do(admin, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"mac_address": nil}})
	expect(t, r, http.StatusOK, "")
	mac, _ := r.Obj("port")["mac_address"].(string)
	if mac == "" || mac == p["mac_address"] {
		t.Fatalf("mac_address %q after regenerate, was %v", mac, p["mac_address"])
	}
	// The old MAC is free again, the new one taken.
	mkPort(t, srv, admin, id(n), map[string]any{"mac_address": p["mac_address"]})
	refused(t, srv, admin, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "mac_address": mac}}, http.StatusConflict, "MacAddressInUse")
	r = srv.Do(admin, "GET", "/v2.0/extensions/port-mac-address-regenerate", nil)
	expect(t, r, http.StatusOK, "")
}

// GET /v2.0/service-providers (service-type): no service drivers are
// configured, so the list is empty, as upstream's without
// [service_providers] entries (tempest test_service_providers_list).
func TestServiceProviders(t *testing.T) {
	srv := noAuth(t)
	r := srv.Do(demo, "GET", "/v2.0/service-providers", nil)
	expect(t, r, http.StatusOK, "")
	if l, ok := r.Body["service_providers"].([]any); !ok || len(l) != 0 {
		t.Fatalf("service providers: %s", r.Raw)
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/extensions/service-type", nil), http.StatusOK, "")
}

// A network's MTU may be chosen and changed (net-mtu-writable), from 68
// up to what its segment type allows; IPv6 needs 1280 (neutron-tempest-
// plugin NetworksMtuTestJSON).
func TestNetworkMTUWritable(t *testing.T) {
	srv := noAuth(t)
	n := create(t, srv, demo, "networks", "network", map[string]any{"name": "m", "mtu": 68})
	if n["mtu"] != float64(68) {
		t.Fatalf("created with mtu 68: %v", n["mtu"])
	}
	r := srv.Do(demo, "PUT", "/v2.0/networks/"+id(n), map[string]any{"network": map[string]any{"mtu": 1280}})
	expect(t, r, http.StatusOK, "")
	if r.Obj("network")["mtu"] != float64(1280) {
		t.Fatalf("updated mtu: %s", r.Raw)
	}
	refused(t, srv, demo, "PUT", "/v2.0/networks/"+id(n), map[string]any{"network": map[string]any{"mtu": 9000}}, http.StatusBadRequest, "InvalidInput")
	refused(t, srv, demo, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"mtu": 67}}, http.StatusBadRequest, "InvalidInput")
	mkSubnet(t, srv, demo, id(n), "2001:db8:7::/64", map[string]any{"ip_version": 6})
	refused(t, srv, demo, "PUT", "/v2.0/networks/"+id(n), map[string]any{"network": map[string]any{"mtu": 1279}}, http.StatusBadRequest, "InvalidInput")
	small := create(t, srv, demo, "networks", "network", map[string]any{"name": "s", "mtu": 1000})
	refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": id(small), "cidr": "2001:db8:8::/64", "ip_version": 6}}, http.StatusBadRequest, "InvalidInput")
	expect(t, srv.Do(demo, "GET", "/v2.0/extensions/net-mtu-writable", nil), http.StatusOK, "")
}

// GET /v2.0/floatingip-pools lists the IPv4 subnets of external networks
// that floating IPs may come from, to every project (floatingip-pools;
// neutron-tempest-plugin test_create_floatingip_from_specific_pool).
func TestFloatingIPPools(t *testing.T) {
	srv := noAuth(t)
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	s1 := mkSubnet(t, srv, admin, id(ext), "198.51.100.0/24")
	mkSubnet(t, srv, admin, id(ext), "2001:db8:9::/64", map[string]any{"ip_version": 6})
	mkSubnet(t, srv, admin, id(ext), "203.0.113.0/24", map[string]any{"service_types": []string{"network:router_gateway"}})
	own := mkNet(t, srv, demo, "own")
	mkSubnet(t, srv, demo, id(own), "10.8.0.0/24")
	r := srv.Do(demo, "GET", "/v2.0/floatingip-pools", nil)
	expect(t, r, http.StatusOK, "")
	pools := r.List("floatingip_pools")
	if len(pools) != 1 {
		t.Fatalf("pools: %s", r.Raw)
	}
	p := pools[0]
	if p["subnet_id"] != id(s1) || p["network_id"] != id(ext) || p["cidr"] != "198.51.100.0/24" ||
		p["project_id"] != "admin" || p["tenant_id"] != "admin" || p["subnet_name"] != s1["name"] {
		t.Fatalf("pool: %v", p)
	}
	f := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext), "subnet_id": id(s1)})
	if addr, _ := f["floating_ip_address"].(string); len(addr) < 11 || addr[:11] != "198.51.100." {
		t.Fatalf("floating IP from the pool: %v", f["floating_ip_address"])
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/extensions/floatingip-pools", nil), http.StatusOK, "")
}

func TestFloatingIPPoolsFilter(t *testing.T) {
	srv := noAuth(t)
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	mkSubnet(t, srv, admin, id(ext), "198.51.100.0/24")
	for q, want := range map[string]int{"network_id=" + id(ext): 1, "network_id=other": 0, "cidr=198.51.100.0/24": 1} {
		r := srv.Do(demo, "GET", "/v2.0/floatingip-pools?"+q, nil)
		expect(t, r, http.StatusOK, "")
		if got := len(r.List("floatingip_pools")); got != want {
			t.Errorf("?%s: %d pools, want %d", q, got, want)
		}
	}
}
