package api_test

import (
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

var other = testutil.Caller{Project: "other", User: "other"}

// TestAddressGroups follows neutron-tempest-plugin's test_address_groups:
// normalized addresses, add/remove actions and their refusals, the
// group's use by security group rules, project isolation.
func TestAddressGroups(t *testing.T) {
	srv := noAuth(t)
	ag := create(t, srv, demo, "address-groups", "address_group", map[string]any{
		"name": "g", "description": "d", "addresses": []string{"10.10.10.3/32", "192.168.0.10/24", "2001:db8::f00/64"}})
	want := []string{"10.10.10.3/32", "192.168.0.0/24", "2001:db8::/64"}
	got := strs(ag["addresses"])
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || ag["description"] != "d" {
		t.Fatalf("created %v", ag)
	}
	path := "/v2.0/address-groups/" + id(ag)
	refused(t, srv, demo, "POST", "/v2.0/address-groups", map[string]any{"address_group": map[string]any{"addresses": []string{"10.20.30.40"}}}, 400, "")
	refused(t, srv, demo, "POST", "/v2.0/address-groups", map[string]any{"address_group": map[string]any{"addresses": []string{"bad"}}}, 400, "")
	refused(t, srv, demo, "PUT", path, map[string]any{"address_group": map[string]any{"addresses": []string{}}}, 400, "")

	r := srv.Do(demo, "PUT", path+"/add_addresses", map[string]any{"addresses": []string{"10.20.30.40/32"}})
	expect(t, r, 200, "")
	if !slices.Contains(strs(r.Obj("address_group")["addresses"]), "10.20.30.40/32") {
		t.Fatalf("add: %s", r.Raw)
	}
	refused(t, srv, demo, "PUT", path+"/add_addresses", map[string]any{"addresses": []string{"10.20.30.40"}}, 400, "AddressesAlreadyExist")
	refused(t, srv, demo, "PUT", path+"/add_addresses", map[string]any{"addresses": []string{"bad ip"}}, 400, "")
	refused(t, srv, demo, "PUT", path+"/remove_addresses", map[string]any{"addresses": []string{"10.200.200.200"}}, 404, "AddressesNotFound")
	r = srv.Do(demo, "PUT", path+"/remove_addresses", map[string]any{"addresses": []string{"10.10.10.3"}})
	expect(t, r, 200, "")
	if slices.Contains(strs(r.Obj("address_group")["addresses"]), "10.10.10.3/32") {
		t.Fatalf("remove: %s", r.Raw)
	}

	// Another project neither sees nor uses nor changes it.
	refused(t, srv, other, "GET", path, nil, 404, "AddressGroupNotFound")
	refused(t, srv, other, "PUT", path+"/add_addresses", map[string]any{"addresses": []string{"10.9.9.0/24"}}, 404, "AddressGroupNotFound")
	refused(t, srv, other, "DELETE", path, nil, 404, "AddressGroupNotFound")
	if l := srv.Do(other, "GET", "/v2.0/address-groups", nil).List("address_groups"); len(l) != 0 {
		t.Fatalf("other project lists %v", l)
	}
	osg := create(t, srv, other, "security-groups", "security_group", map[string]any{"name": "o"})
	refused(t, srv, other, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": id(osg), "direction": "ingress", "remote_address_group_id": id(ag)}}, 404, "AddressGroupNotFound")

	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "s"})
	refused(t, srv, demo, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": id(sg), "direction": "ingress", "remote_address_group_id": id(ag), "remote_ip_prefix": "10.0.0.0/8"}}, 400, "SecurityGroupMultipleRemoteEntites")
	refused(t, srv, demo, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": id(sg), "direction": "ingress", "remote_address_group_id": id(ag), "remote_group_id": id(sg)}}, 400, "SecurityGroupMultipleRemoteEntites")
	rule := create(t, srv, demo, "security-group-rules", "security_group_rule", map[string]any{
		"security_group_id": id(sg), "direction": "ingress", "protocol": "tcp", "remote_address_group_id": id(ag)})
	if rule["remote_address_group_id"] != id(ag) {
		t.Fatalf("rule %v", rule)
	}
	refused(t, srv, demo, "DELETE", path, nil, 409, "AddressGroupInUse")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/security-group-rules/"+id(rule), nil), 204, "")
	expect(t, srv.Do(demo, "DELETE", path, nil), 204, "")
	expect(t, srv.Do(demo, "GET", path, nil), 404, "AddressGroupNotFound")
}
