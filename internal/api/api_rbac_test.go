package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

var third = testutil.Caller{Project: "third", User: "third"}

func rbac(typ, objID, action, target string) map[string]any {
	return map[string]any{"rbac_policy": map[string]any{"object_type": typ, "object_id": objID, "action": action, "target_tenant": target}}
}

// TestRBACSharedNetwork follows neutron-tempest-plugin's
// RBACSharedNetworksTest: visibility to the target only, duplicates,
// in-use refusals, wildcards admin-only, policies seen by their maker.
func TestRBACSharedNetwork(t *testing.T) {
	srv := noAuth(t)
	net := mkNet(t, srv, demo, "n")
	sub := mkSubnet(t, srv, demo, id(net), "10.0.0.0/24")
	refused(t, srv, other, "GET", "/v2.0/networks/"+id(net), nil, 404, "NetworkNotFound")
	refused(t, srv, demo, "POST", "/v2.0/rbac-policies", rbac("network", id(net), "access_as_shared", "*"), 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "POST", "/v2.0/rbac-policies", map[string]any{"rbac_policy": map[string]any{"object_type": "network", "object_id": id(net), "action": "access_as_shared", "target_tenant": nil}}, 400, "")
	refused(t, srv, demo, "POST", "/v2.0/rbac-policies", rbac("bogus", id(net), "access_as_shared", "other"), 400, "")
	refused(t, srv, other, "POST", "/v2.0/rbac-policies", rbac("network", id(net), "access_as_shared", "other"), 400, "InvalidInput")
	refused(t, srv, demo, "POST", "/v2.0/rbac-policies", rbac("network", "00000000-0000-0000-0000-000000000000", "access_as_shared", "other"), 404, "NetworkNotFound")
	rev := num(srv.Do(demo, "GET", "/v2.0/networks/"+id(net), nil).Obj("network")["revision_number"])
	pol := create(t, srv, demo, "rbac-policies", "rbac_policy", rbac("network", id(net), "access_as_shared", "other")["rbac_policy"].(map[string]any))
	if pol["project_id"] != "demo" || pol["target_tenant"] != "other" || pol["object_type"] != "network" {
		t.Fatalf("policy %v", pol)
	}
	n := srv.Do(other, "GET", "/v2.0/networks/"+id(net), nil)
	expect(t, n, 200, "")
	if num(n.Obj("network")["revision_number"]) <= rev || n.Obj("network")["neutrino:shared_with"] != nil {
		t.Fatalf("shared network %s", n.Raw)
	}
	// "shared" is per caller, as upstream's _is_network_shared: true for
	// the policy's target, false for the owner (no wildcard).
	if n.Obj("network")["shared"] != true {
		t.Fatalf("target sees shared=false: %s", n.Raw)
	}
	if l := srv.Do(other, "GET", "/v2.0/networks?fields=id&fields=shared", nil).List("networks"); len(l) != 1 || l[0]["shared"] != true {
		t.Fatalf("target's list: %v", l)
	}
	if sh := srv.Do(demo, "GET", "/v2.0/networks/"+id(net), nil).Obj("network")["shared"]; sh != false {
		t.Fatalf("owner sees shared=%v", sh)
	}
	expect(t, srv.Do(other, "GET", "/v2.0/subnets/"+id(sub), nil), 200, "")
	refused(t, srv, third, "GET", "/v2.0/networks/"+id(net), nil, 404, "NetworkNotFound")
	refused(t, srv, demo, "POST", "/v2.0/rbac-policies", rbac("network", id(net), "access_as_shared", "other"), 409, "DuplicateRbacPolicy")
	if l := srv.Do(other, "GET", "/v2.0/rbac-policies", nil).List("rbac_policies"); len(l) != 0 {
		t.Fatalf("target sees policies %v", l)
	}
	polPath := "/v2.0/rbac-policies/" + id(pol)
	refused(t, srv, demo, "PUT", polPath, map[string]any{"rbac_policy": map[string]any{"target_tenant": "*"}}, 403, "PolicyNotAuthorized")

	port := mkPort(t, srv, other, id(net))
	refused(t, srv, demo, "DELETE", polPath, nil, 409, "RbacPolicyInUse")
	refused(t, srv, demo, "PUT", polPath, map[string]any{"rbac_policy": map[string]any{"target_tenant": "third"}}, 409, "RbacPolicyInUse")
	// A wildcard covers the port's project: the specific policy may go,
	// and then the wildcard may not.
	wild := create(t, srv, admin, "rbac-policies", "rbac_policy", rbac("network", id(net), "access_as_shared", "*")["rbac_policy"].(map[string]any))
	if srv.Do(third, "GET", "/v2.0/networks/"+id(net), nil).Obj("network")["shared"] != true {
		t.Fatal("wildcard does not share")
	}
	expect(t, srv.Do(demo, "DELETE", polPath, nil), 204, "")
	refused(t, srv, admin, "DELETE", "/v2.0/rbac-policies/"+id(wild), nil, 409, "RbacPolicyInUse")
	expect(t, srv.Do(other, "DELETE", "/v2.0/ports/"+id(port), nil), 204, "")
	expect(t, srv.Do(admin, "DELETE", "/v2.0/rbac-policies/"+id(wild), nil), 204, "")
	refused(t, srv, other, "GET", "/v2.0/networks/"+id(net), nil, 404, "NetworkNotFound")

	// shared=True on a network is a wildcard policy.
	sh := create(t, srv, admin, "networks", "network", map[string]any{"name": "s", "shared": true})
	if l := srv.Do(admin, "GET", "/v2.0/rbac-policies?object_id="+id(sh)+"&target_tenant=*", nil).List("rbac_policies"); len(l) != 1 {
		t.Fatalf("wildcard of shared network: %v", l)
	}
	expect(t, srv.Do(admin, "PUT", "/v2.0/networks/"+id(sh), map[string]any{"network": map[string]any{"shared": false}}), 200, "")
	if l := srv.Do(admin, "GET", "/v2.0/rbac-policies?object_id="+id(sh), nil).List("rbac_policies"); len(l) != 0 {
		t.Fatalf("unshared network keeps %v", l)
	}
}

// TestRBACExternalNetwork follows ExternalNetworksRBACTestJSON.
func TestRBACExternalNetwork(t *testing.T) {
	srv := noAuth(t)
	net := create(t, srv, admin, "networks", "network", map[string]any{"name": "e"})
	mkSubnet(t, srv, admin, id(net), "198.51.100.0/24", map[string]any{"enable_dhcp": false})
	pol := create(t, srv, admin, "rbac-policies", "rbac_policy", rbac("network", id(net), "access_as_external", "other")["rbac_policy"].(map[string]any))
	if srv.Do(admin, "GET", "/v2.0/networks/"+id(net), nil).Obj("network")["router:external"] != true {
		t.Fatal("access_as_external does not make the network external")
	}
	gw := map[string]any{"router": map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": id(net)}}}
	refused(t, srv, third, "POST", "/v2.0/routers", gw, 404, "NetworkNotFound")
	refused(t, srv, third, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": id(net)}}, 404, "NetworkNotFound")
	r := srv.Do(other, "POST", "/v2.0/routers", gw)
	expect(t, r, 201, "")
	refused(t, srv, admin, "DELETE", "/v2.0/rbac-policies/"+id(pol), nil, 409, "RbacPolicyInUse")
	refused(t, srv, admin, "POST", "/v2.0/rbac-policies", rbac("subnetpool", id(net), "access_as_external", "other"), 400, "")
	expect(t, srv.Do(admin, "DELETE", "/v2.0/routers/"+id(r.Obj("router")), nil), 204, "")
	expect(t, srv.Do(admin, "DELETE", "/v2.0/rbac-policies/"+id(pol), nil), 204, "")
	if srv.Do(admin, "GET", "/v2.0/networks/"+id(net), nil).Obj("network")["router:external"] != false {
		t.Fatal("network stays external without policies")
	}
	expect(t, srv.Do(admin, "PUT", "/v2.0/networks/"+id(net), map[string]any{"network": map[string]any{"router:external": true}}), 200, "")
	if l := srv.Do(admin, "GET", "/v2.0/rbac-policies?object_id="+id(net)+"&action=access_as_external&target_tenant=*", nil).List("rbac_policies"); len(l) != 1 {
		t.Fatalf("external wildcard: %v", l)
	}
	expect(t, srv.Do(third, "GET", "/v2.0/networks/"+id(net), nil), 200, "")
}

// TestRBACSharedObjects: address groups, scopes, pools and security
// groups shared with one project, kept while that project uses them.
func TestRBACSharedObjects(t *testing.T) {
	srv := noAuth(t)
	ag := create(t, srv, admin, "address-groups", "address_group", map[string]any{"name": "g", "addresses": []string{"10.0.0.0/8"}})
	refused(t, srv, other, "GET", "/v2.0/address-groups/"+id(ag), nil, 404, "AddressGroupNotFound")
	agPol := create(t, srv, admin, "rbac-policies", "rbac_policy", rbac("address_group", id(ag), "access_as_shared", "other")["rbac_policy"].(map[string]any))
	expect(t, srv.Do(other, "GET", "/v2.0/address-groups/"+id(ag), nil), 200, "")
	refused(t, srv, other, "PUT", "/v2.0/address-groups/"+id(ag), map[string]any{"address_group": map[string]any{"name": "x"}}, 404, "AddressGroupNotFound")
	sg := create(t, srv, other, "security-groups", "security_group", map[string]any{"name": "s"})
	rule := create(t, srv, other, "security-group-rules", "security_group_rule", map[string]any{"security_group_id": id(sg), "direction": "ingress", "remote_address_group_id": id(ag)})
	refused(t, srv, admin, "DELETE", "/v2.0/rbac-policies/"+id(agPol), nil, 409, "RbacPolicyInUse")
	expect(t, srv.Do(other, "DELETE", "/v2.0/security-group-rules/"+id(rule), nil), 204, "")
	expect(t, srv.Do(admin, "DELETE", "/v2.0/rbac-policies/"+id(agPol), nil), 204, "")

	scope := create(t, srv, admin, "address-scopes", "address_scope", map[string]any{"name": "s", "ip_version": 4})
	create(t, srv, admin, "rbac-policies", "rbac_policy", rbac("address_scope", id(scope), "access_as_shared", "demo")["rbac_policy"].(map[string]any))
	pool := create(t, srv, demo, "subnetpools", "subnetpool", map[string]any{"name": "p", "prefixes": []string{"10.0.0.0/8"}, "address_scope_id": id(scope)})
	refused(t, srv, demo, "POST", "/v2.0/rbac-policies", rbac("subnetpool", id(pool), "access_as_shared", "other"), 400, "InvalidInput")
	pp := create(t, srv, demo, "rbac-policies", "rbac_policy", rbac("subnetpool", id(pool), "access_as_shared", "demo")["rbac_policy"].(map[string]any))
	expect(t, srv.Do(demo, "DELETE", "/v2.0/rbac-policies/"+id(pp), nil), 204, "")

	// A security group shared with a project: its ports may use it, its
	// rules stay the owner's, the policy stays while a port uses it.
	asg := create(t, srv, admin, "security-groups", "security_group", map[string]any{"name": "shared"})
	onet0 := mkNet(t, srv, other, "o0")
	refused(t, srv, other, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(onet0), "security_groups": []string{id(asg)}}}, 404, "SecurityGroupNotFound")
	sgPol := create(t, srv, admin, "rbac-policies", "rbac_policy", rbac("security_group", id(asg), "access_as_shared", "other")["rbac_policy"].(map[string]any))
	expect(t, srv.Do(other, "GET", "/v2.0/security-groups/"+id(asg), nil), 200, "")
	refused(t, srv, other, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{"security_group_id": id(asg), "direction": "ingress"}}, 404, "SecurityGroupNotFound")
	sport := mkPort(t, srv, other, id(onet0), map[string]any{"security_groups": []string{id(asg)}})
	refused(t, srv, admin, "DELETE", "/v2.0/rbac-policies/"+id(sgPol), nil, 409, "RbacPolicyInUse")
	expect(t, srv.Do(other, "DELETE", "/v2.0/ports/"+id(sport), nil), 204, "")
	expect(t, srv.Do(admin, "DELETE", "/v2.0/rbac-policies/"+id(sgPol), nil), 204, "")
	refused(t, srv, other, "GET", "/v2.0/security-groups/"+id(asg), nil, 404, "SecurityGroupNotFound")

	apool := create(t, srv, admin, "subnetpools", "subnetpool", map[string]any{"name": "a", "prefixes": []string{"172.16.0.0/12"}, "default_prefixlen": 24})
	ap := create(t, srv, admin, "rbac-policies", "rbac_policy", rbac("subnetpool", id(apool), "access_as_shared", "other")["rbac_policy"].(map[string]any))
	onet := mkNet(t, srv, other, "o")
	create(t, srv, other, "subnets", "subnet", map[string]any{"network_id": id(onet), "ip_version": 4, "subnetpool_id": id(apool)})
	refused(t, srv, admin, "DELETE", "/v2.0/rbac-policies/"+id(ap), nil, 409, "RbacPolicyInUse")
}

// TestNetworkOwnerDeletesPortsAndBareGateway: a network's owner deletes
// other projects' ports on it (upstream's delete_port rule), and a router
// gateway on an external network without subnets has no address, as
// upstream allows.
func TestNetworkOwnerDeletesPortsAndBareGateway(t *testing.T) {
	srv := noAuth(t)
	net := mkNet(t, srv, demo, "n")
	mkSubnet(t, srv, demo, id(net), "10.0.0.0/24")
	create(t, srv, demo, "rbac-policies", "rbac_policy", rbac("network", id(net), "access_as_shared", "other")["rbac_policy"].(map[string]any))
	port := mkPort(t, srv, other, id(net))
	refused(t, srv, third, "DELETE", "/v2.0/ports/"+id(port), nil, 404, "PortNotFound")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(port), nil), 204, "")

	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "e", "router:external": true})
	r := srv.Do(demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": id(ext)}}})
	expect(t, r, 201, "")
	if gi, _ := r.Obj("router")["external_gateway_info"].(map[string]any); gi == nil || len(gi["external_fixed_ips"].([]any)) != 0 {
		t.Fatalf("bare gateway: %s", r.Raw)
	}
}

// TestRBACLegacySharedNetwork: a network stored shared before RBAC
// policies existed (no target list) stays shared to all when a policy on
// it is added: its wildcard is made then, once.
func TestRBACLegacySharedNetwork(t *testing.T) {
	srv := noAuth(t)
	net := create(t, srv, admin, "networks", "network", map[string]any{"name": "legacy", "shared": true})
	key := srv.Store.Prefix() + "r/" + model.KindNetwork + "/" + id(net)
	ctx := context.Background()
	got, err := srv.Store.Client().Get(ctx, key)
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("get %s: %v", key, err)
	}
	var n map[string]any
	if err := json.Unmarshal(got.Kvs[0].Value, &n); err != nil {
		t.Fatal(err)
	}
	delete(n, "neutrino:shared_with")
	b, _ := json.Marshal(n)
	for _, p := range srv.Do(admin, "GET", "/v2.0/rbac-policies?object_id="+id(net), nil).List("rbac_policies") {
		if _, err := srv.Store.Client().Delete(ctx, srv.Store.Prefix()+"r/"+model.KindRBAC+"/"+id(p)); err != nil {
			t.Fatal(err)
		}
	}
	put, err := srv.Store.Client().Put(ctx, key, string(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Store.WaitRev(ctx, put.Header.Revision); err != nil {
		t.Fatal(err)
	}
	// The flag alone still shares it; the first policy change makes the
	// wildcard it stood for.
	expect(t, srv.Do(other, "GET", "/v2.0/networks/"+id(net), nil), 200, "")
	create(t, srv, admin, "rbac-policies", "rbac_policy", rbac("network", id(net), "access_as_shared", "third")["rbac_policy"].(map[string]any))
	refused(t, srv, admin, "POST", "/v2.0/rbac-policies", rbac("network", id(net), "access_as_shared", "*"), 409, "DuplicateRbacPolicy")
	if l := srv.Do(admin, "GET", "/v2.0/rbac-policies?object_id="+id(net)+"&target_tenant=*", nil).List("rbac_policies"); len(l) != 1 {
		t.Fatalf("wildcards: %v", l)
	}
	if srv.Do(other, "GET", "/v2.0/networks/"+id(net), nil).Obj("network")["shared"] != true {
		t.Fatal("legacy shared network unshared by a policy change")
	}
}

// TestPortTrusted: port-trusted-vif's "trusted" is null until an admin
// sets it, is refused to others without a change, and is mirrored into
// binding:profile, as upstream's PortTrustedDbMixin.
func TestPortTrusted(t *testing.T) {
	srv := noAuth(t)
	net := mkNet(t, srv, demo, "n")
	mkSubnet(t, srv, demo, id(net), "10.0.0.0/24")
	port := mkPort(t, srv, demo, id(net))
	if v, ok := port["trusted"]; !ok || v != nil {
		t.Fatalf("new port trusted=%v (present %v)", v, ok)
	}
	path := "/v2.0/ports/" + id(port)
	refused(t, srv, demo, "PUT", path, map[string]any{"port": map[string]any{"trusted": true}}, 403, "")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(net), "trusted": true}}, 403, "")
	refused(t, srv, admin, "PUT", path, map[string]any{"port": map[string]any{"trusted": "maybe"}}, 400, "")
	if v := srv.Do(admin, "GET", path, nil).Obj("port")["trusted"]; v != nil {
		t.Fatalf("refused updates changed trusted to %v", v)
	}
	up := srv.Do(admin, "PUT", path, map[string]any{"port": map[string]any{"trusted": true}})
	expect(t, up, 200, "")
	p := up.Obj("port")
	if p["trusted"] != true || p["binding:profile"].(map[string]any)["trusted"] != true {
		t.Fatalf("updated port %s", up.Raw)
	}
	// A new profile keeps the flag.
	up = srv.Do(admin, "PUT", path, map[string]any{"port": map[string]any{"binding:profile": map[string]any{"a": "b"}}})
	expect(t, up, 200, "")
	if pr := up.Obj("port")["binding:profile"].(map[string]any); pr["trusted"] != true || pr["a"] != "b" {
		t.Fatalf("profile %v", pr)
	}
	c := create(t, srv, admin, "ports", "port", map[string]any{"network_id": id(net), "trusted": false})
	if c["trusted"] != false || c["binding:profile"].(map[string]any)["trusted"] != false {
		t.Fatalf("created port %v", c)
	}
	if srv.Do(demo, "GET", path, nil).Obj("port")["trusted"] != true {
		t.Fatal("owner does not read trusted")
	}
}

// TestAvailabilityZoneHints: hints must name a zone of the resource's
// agents or the server's default zone; others are AvailabilityZoneNotFound
// (404) and create nothing.
func TestAvailabilityZoneHints(t *testing.T) {
	srv := noAuth(t)
	zs := srv.Do(admin, "GET", "/v2.0/availability_zones", nil).List("availability_zones")
	if len(zs) != 2 || zs[0]["name"] != "nova" || zs[0]["state"] != "available" {
		t.Fatalf("zones %v", zs)
	}
	create(t, srv, demo, "networks", "network", map[string]any{"name": "n", "availability_zone_hints": []string{"nova"}})
	create(t, srv, demo, "routers", "router", map[string]any{"name": "r", "availability_zone_hints": []string{"nova"}})
	refused(t, srv, demo, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "x", "availability_zone_hints": []string{"az9"}}}, 404, "AvailabilityZoneNotFound")
	refused(t, srv, demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "x", "availability_zone_hints": []string{"nova", "az9"}}}, 404, "AvailabilityZoneNotFound")
	if n := len(srv.Do(demo, "GET", "/v2.0/networks?name=x", nil).List("networks")); n != 0 {
		t.Fatalf("refused create left %d networks", n)
	}
}
