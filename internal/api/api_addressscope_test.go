package api_test

import "testing"

// TestAddressScopes follows neutron-tempest-plugin's test_address_scopes
// and the scope cases of test_subnetpools(_negative).
func TestAddressScopes(t *testing.T) {
	srv := noAuth(t)
	scope := create(t, srv, demo, "address-scopes", "address_scope", map[string]any{"name": "s", "ip_version": 4})
	if scope["shared"] != false || num(scope["ip_version"]) != 4 || scope["project_id"] != "demo" || scope["revision_number"] != nil {
		t.Fatalf("created %v", scope)
	}
	path := "/v2.0/address-scopes/" + id(scope)
	as := func(m map[string]any) map[string]any { return map[string]any{"address_scope": m} }
	refused(t, srv, demo, "POST", "/v2.0/address-scopes", as(map[string]any{"name": "x", "ip_version": 5}), 400, "")
	refused(t, srv, demo, "POST", "/v2.0/address-scopes", as(map[string]any{"name": "x", "ip_version": 4, "shared": true}), 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "PUT", path, as(map[string]any{"name": "y", "shared": false}), 403, "PolicyNotAuthorized")
	expect(t, srv.Do(demo, "PUT", path, as(map[string]any{"name": "y"})), 200, "")

	shared := create(t, srv, admin, "address-scopes", "address_scope", map[string]any{"name": "sh", "ip_version": 4, "shared": true})
	refused(t, srv, admin, "PUT", "/v2.0/address-scopes/"+id(shared), as(map[string]any{"shared": false}), 400, "AddressScopeUpdateError")
	private := create(t, srv, admin, "address-scopes", "address_scope", map[string]any{"name": "pr", "ip_version": 4})
	refused(t, srv, demo, "GET", "/v2.0/address-scopes/"+id(private), nil, 404, "AddressScopeNotFound")
	v6 := create(t, srv, demo, "address-scopes", "address_scope", map[string]any{"name": "v6", "ip_version": 6})

	sp := func(m map[string]any) map[string]any {
		b := map[string]any{"name": "p", "prefixes": []string{"20.0.0.0/18", "30.0.0.0/18"}, "address_scope_id": id(scope)}
		for k, v := range m {
			b[k] = v
		}
		return map[string]any{"subnetpool": b}
	}
	pool := create(t, srv, demo, "subnetpools", "subnetpool", sp(nil)["subnetpool"].(map[string]any))
	if pool["address_scope_id"] != id(scope) {
		t.Fatalf("pool %v", pool)
	}
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", sp(map[string]any{"prefixes": []string{"40.0.0.0/18", "30.0.0.0/12"}}), 409, "AddressScopePrefixConflict")
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", sp(map[string]any{"prefixes": []string{"40.0.0.0/18"}, "address_scope_id": "foo"}), 400, "")
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", sp(map[string]any{"prefixes": []string{"40.0.0.0/18"}, "address_scope_id": id(private)}), 404, "AddressScopeNotFound")
	refused(t, srv, demo, "POST", "/v2.0/subnetpools", sp(map[string]any{"prefixes": []string{"40.0.0.0/18"}, "address_scope_id": id(v6)}), 400, "IllegalSubnetPoolIpVersionAssociationToAddressScope")
	refused(t, srv, demo, "DELETE", path, nil, 409, "AddressScopeInUse")

	// A network reports the scope of its pool subnets.
	net := mkNet(t, srv, demo, "n")
	sub := create(t, srv, demo, "subnets", "subnet", map[string]any{"network_id": id(net), "ip_version": 4, "subnetpool_id": id(pool), "prefixlen": 24})
	if n := srv.Do(demo, "GET", "/v2.0/networks/"+id(net), nil).Obj("network"); n["ipv4_address_scope"] != id(scope) || n["ipv6_address_scope"] != nil {
		t.Fatalf("network scopes %v", n)
	}
	// Moving the pool to the shared scope moves the network; a member
	// may then no longer change the pool (the scope is not its own).
	expect(t, srv.Do(demo, "PUT", "/v2.0/subnetpools/"+id(pool), sp(map[string]any{"address_scope_id": id(shared)})), 200, "")
	if n := srv.Do(demo, "GET", "/v2.0/networks/"+id(net), nil).Obj("network"); n["ipv4_address_scope"] != id(shared) {
		t.Fatalf("network scope after re-scope %v", n)
	}
	refused(t, srv, demo, "PUT", "/v2.0/subnetpools/"+id(pool), sp(map[string]any{"prefixes": []string{"20.0.0.0/18", "30.0.0.0/18", "40.0.0.0/18"}}), 400, "IllegalSubnetPoolUpdate")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/subnets/"+id(sub), nil), 204, "")
	if n := srv.Do(demo, "GET", "/v2.0/networks/"+id(net), nil).Obj("network"); n["ipv4_address_scope"] != nil {
		t.Fatalf("network scope after delete %v", n)
	}
	expect(t, srv.Do(demo, "DELETE", path, nil), 204, "")
}
