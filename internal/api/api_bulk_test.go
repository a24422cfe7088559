package api_test

import (
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestBulkSharedParent: bulk creates whose items change the same parent
// (subnets of one network, rules of one group) commit as one write that
// sees each earlier item: 201 with all of them, and overlapping or
// duplicate items refused as a whole.
func TestBulkSharedParent(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "bulk")
	sub := func(cidr string) map[string]any {
		return map[string]any{"network_id": id(n), "cidr": cidr, "ip_version": 4}
	}
	r := srv.Do(demo, "POST", "/v2.0/subnets", map[string]any{"subnets": []any{sub("10.31.1.0/24"), sub("10.31.2.0/24")}})
	expect(t, r, 201, "")
	subs := r.List("subnets")
	if len(subs) != 2 || subs[0]["cidr"] != "10.31.1.0/24" || subs[1]["cidr"] != "10.31.2.0/24" {
		t.Fatalf("bulk subnets: %s", r.Raw)
	}
	nn := srv.Do(demo, "GET", "/v2.0/networks/"+id(n), nil).Obj("network")
	if got, want := strs(nn["subnets"]), ids(subs); !slices.Equal(got, want) {
		t.Fatalf("network subnets %v, want %v", got, want)
	}
	// One revision per request, as upstream bumps a related resource
	// once per transaction.
	if got, want := num(nn["revision_number"]), num(n["revision_number"])+1; got != want {
		t.Errorf("network revision %d, want %d", got, want)
	}
	// Overlap inside one bulk, and with an existing subnet.
	refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnets": []any{sub("10.31.3.0/24"), sub("10.31.3.128/25")}}, 400, "InvalidInput")
	refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnets": []any{sub("10.31.4.0/24"), sub("10.31.1.0/24")}}, 400, "InvalidInput")
	// Ports in bulk on the new subnets get distinct addresses.
	r = srv.Do(demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": id(n)}, map[string]any{"network_id": id(n)}, map[string]any{"network_id": id(n)},
	}})
	expect(t, r, 201, "")
	seen := map[string]bool{}
	for _, p := range r.List("ports") {
		for _, ip := range p["fixed_ips"].([]any) {
			a := ip.(map[string]any)["ip_address"].(string)
			if seen[a] {
				t.Fatalf("address %s twice: %s", a, r.Raw)
			}
			seen[a] = true
		}
	}

	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "bulk"})
	rule := func(port int) map[string]any {
		return map[string]any{"security_group_id": id(sg), "direction": "ingress", "protocol": "tcp", "port_range_min": port, "port_range_max": port}
	}
	r = srv.Do(demo, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rules": []any{rule(22), rule(80)}})
	expect(t, r, 201, "")
	if rules := r.List("security_group_rules"); len(rules) != 2 {
		t.Fatalf("bulk rules: %s", r.Raw)
	}
	sgNow := srv.Do(demo, "GET", "/v2.0/security-groups/"+id(sg), nil).Obj("security_group")
	if got, want := num(sgNow["revision_number"]), num(sg["revision_number"])+1; got != want {
		t.Errorf("group revision %d, want %d", got, want)
	}
	if got := len(sgNow["security_group_rules"].([]any)); got != 4 { // 2 default egress + 2
		t.Errorf("group has %d rules", got)
	}
	// The same rule twice in one request (upstream's native bulk check).
	refused(t, srv, demo, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rules": []any{rule(443), rule(443)}}, 409, "DuplicateSecurityGroupRuleInPost")
	// A rule that exists already.
	refused(t, srv, demo, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rules": []any{rule(443), rule(22)}}, 409, "SecurityGroupRuleExists")
	// Rules of two groups in one request.
	sg2 := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "other"})
	other := rule(8080)
	other["security_group_id"] = id(sg2)
	refused(t, srv, demo, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rules": []any{rule(8080), other}}, 400, "SecurityGroupNotSingleGroupRules")
	// Rules of two projects in one request (only an admin can try).
	forOther := rule(8081)
	forOther["project_id"] = "other"
	refused(t, srv, admin, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rules": []any{rule(8080), forOther}}, 400, "SecurityGroupRulesNotSingleProject")
}

// TestBulkEveryKind: a two-item bulk create of every collection that
// takes one succeeds.
func TestBulkEveryKind(t *testing.T) {
	srv := noAuth(t)
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "ext", "router:external": true})
	mkSubnet(t, srv, admin, id(ext), "172.24.4.0/24")
	n := mkNet(t, srv, demo, "n")
	mkSubnet(t, srv, demo, id(n), "10.40.0.0/24")
	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "g"})
	for _, c := range []struct {
		coll, key string
		item      func(i int) map[string]any
	}{
		{"networks", "networks", func(i int) map[string]any { return map[string]any{"name": "x"} }},
		{"subnets", "subnets", func(i int) map[string]any {
			return map[string]any{"network_id": id(n), "ip_version": 4, "cidr": []string{"10.40.1.0/24", "10.40.2.0/24"}[i]}
		}},
		{"ports", "ports", func(i int) map[string]any { return map[string]any{"network_id": id(n)} }},
		{"security-groups", "security_groups", func(i int) map[string]any { return map[string]any{"name": "s"} }},
		{"security-group-rules", "security_group_rules", func(i int) map[string]any {
			return map[string]any{"security_group_id": id(sg), "direction": "egress", "protocol": "udp", "port_range_min": 100 + i, "port_range_max": 100 + i}
		}},
		{"routers", "routers", func(i int) map[string]any {
			return map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": id(ext)}}
		}},
		{"floatingips", "floatingips", func(i int) map[string]any { return map[string]any{"floating_network_id": id(ext)} }},
	} {
		r := srv.Do(demo, "POST", "/v2.0/"+c.coll, map[string]any{c.key: []any{c.item(0), c.item(1)}})
		if r.Status != 201 || len(r.List(c.key)) != 2 {
			t.Errorf("bulk %s: %d %s", c.coll, r.Status, r.Raw)
		}
	}
}

// TestBulkFloatingIPsOnePort: two floating IPs of one bulk create may not
// take the same fixed IP of a port (upstream sees the first one in the
// same transaction: 409 FloatingIPPortAlreadyAssociated).
func TestBulkFloatingIPsOnePort(t *testing.T) {
	srv := noAuth(t)
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "ext", "router:external": true})
	mkSubnet(t, srv, admin, id(ext), "172.24.10.0/24")
	n := mkNet(t, srv, demo, "n")
	s := mkSubnet(t, srv, demo, id(n), "10.90.0.0/24")
	r := mkRouter(t, srv, demo, map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": id(ext)}})
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(s)})
	p := mkPort(t, srv, demo, id(n))
	item := map[string]any{"floating_network_id": id(ext), "port_id": id(p)}
	refused(t, srv, demo, "POST", "/v2.0/floatingips", map[string]any{"floatingips": []any{item, item}}, 409, "FloatingIPPortAlreadyAssociated")
	// One associated and one free floating IP in one bulk are fine.
	resp := srv.Do(demo, "POST", "/v2.0/floatingips", map[string]any{"floatingips": []any{item, map[string]any{"floating_network_id": id(ext)}}})
	expect(t, resp, 201, "")
	if fips := resp.List("floatingips"); len(fips) != 2 || fips[0]["port_id"] != id(p) || fips[1]["port_id"] != nil {
		t.Fatalf("bulk: %s", resp.Raw)
	}
}

// TestBulkNetworksSegments: networks of one bulk create never share a
// segment, whether allocated or given by an admin.
func TestBulkNetworksSegments(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) {
		c.VNIRanges = "7:7" // one tenant segment: the second network finds none
		c.NetworkVLANRanges = "physnet1:100:200,physnet2"
	}))
	two := map[string]any{"networks": []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}}
	refused(t, srv, demo, "POST", "/v2.0/networks", two, 503, "NoNetworkAvailable")
	vlan := map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 150}
	refused(t, srv, admin, "POST", "/v2.0/networks", map[string]any{"networks": []any{vlan, vlan}}, 409, "VlanIdInUse")
	flat := map[string]any{"provider:network_type": "flat", "provider:physical_network": "physnet2"}
	refused(t, srv, admin, "POST", "/v2.0/networks", map[string]any{"networks": []any{flat, flat}}, 409, "FlatNetworkInUse")
	// Allocated VLANs of one bulk differ.
	auto := map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1"}
	items := []any{}
	for range 20 {
		items = append(items, auto)
	}
	r := srv.Do(admin, "POST", "/v2.0/networks", map[string]any{"networks": items})
	expect(t, r, 201, "")
	seen := map[int]bool{}
	for _, n := range r.List("networks") {
		id := num(n["provider:segmentation_id"])
		if seen[id] {
			t.Fatalf("VLAN %d given twice in one bulk", id)
		}
		seen[id] = true
	}
}
