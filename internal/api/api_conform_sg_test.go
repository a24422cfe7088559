package api_test

import (
	"net/http"
	"testing"
)

// Security-group divergences found by neutron-tempest-plugin's
// test_security_groups_negative and QuotasAdminNegativeTestJSON (issue 13).

// Assigning the same group twice is refused, and leaves the port as it
// was (NegativeSecGroupTest.test_assign_sec_group_twice).
func TestAssignSecurityGroupTwice(t *testing.T) {
	srv := noAuth(t)
	net := mkNet(t, srv, demo, "n")
	p := mkPort(t, srv, demo, id(net))
	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "g"})
	refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"security_groups": []string{id(sg), id(sg)}}}, http.StatusBadRequest, "HTTPBadRequest")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(net), "security_groups": []string{id(sg), id(sg)}}}, http.StatusBadRequest, "HTTPBadRequest")
	refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"security_groups": []string{"not-a-uuid"}}}, http.StatusBadRequest, "HTTPBadRequest")
}

// IPv6-only protocols, by name or number, are refused in IPv4 rules
// (NegativeSecGroupProtocolTest) and accepted in IPv6 ones.
func TestIPv6ProtocolsInIPv4Rules(t *testing.T) {
	srv := noAuth(t)
	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "g"})
	rule := func(proto any, ethertype string) map[string]any {
		return map[string]any{"security_group_rule": map[string]any{"security_group_id": id(sg), "direction": "ingress", "protocol": proto, "ethertype": ethertype}}
	}
	for _, proto := range []any{"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route", 41, 44, 58, 59, 60, 43, "58"} {
		refused(t, srv, demo, "POST", "/v2.0/security-group-rules", rule(proto, "IPv4"), http.StatusBadRequest, "SecurityGroupEthertypeConflictWithProtocol")
	}
	expect(t, srv.Do(demo, "POST", "/v2.0/security-group-rules", rule("ipv6-frag", "IPv6")), http.StatusCreated, "")
	expect(t, srv.Do(demo, "POST", "/v2.0/security-group-rules", rule(43, "IPv6")), http.StatusCreated, "")
}

// Quota limits run from -1 to 2^31-1 (NegativeSecGroupQuotaTest.
// test_sg_quota_incorrect_values); "force" and "check_limit" are flags,
// not resources.
func TestQuotaValues(t *testing.T) {
	srv := noAuth(t)
	for _, bad := range []any{-2, 2147483648, "value"} {
		refused(t, srv, admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"security_group": bad}}, http.StatusBadRequest, "HTTPBadRequest")
	}
	r := srv.Do(admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"security_group": 2147483647, "force": true}})
	expect(t, r, http.StatusOK, "")
	if num(r.Obj("quota")["security_group"]) != 2147483647 {
		t.Fatalf("quota: %s", r.Raw)
	}
	mkNet(t, srv, demo, "a")
	mkNet(t, srv, demo, "b")
	refused(t, srv, admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"network": 1, "check_limit": true}}, http.StatusBadRequest, "HTTPBadRequest")
	expect(t, srv.Do(admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"network": 1, "check_limit": true, "force": true}}), http.StatusOK, "")
	expect(t, srv.Do(demo, "GET", "/v2.0/extensions/quota-check-limit", nil), http.StatusOK, "")
}

// An admin creating a group for a fresh project with room for one more
// group gets it: the default group created on the side does not count
// (QuotasAdminNegativeTestJSON.test_create_security_group_when_quotas_is_full).
func TestSecurityGroupQuotaLeavesOutDefaultGroup(t *testing.T) {
	srv := noAuth(t)
	const project = "0d6c3a0c4b8a4f47a1f6b2a9e7c1d5f3"
	r := srv.Do(admin, "GET", "/v2.0/security-groups?tenant_id="+project, nil)
	expect(t, r, http.StatusOK, "")
	n := len(r.List("security_groups"))
	expect(t, srv.Do(admin, "PUT", "/v2.0/quotas/"+project, map[string]any{"quota": map[string]any{"security_group": n + 1}}), http.StatusOK, "")
	create(t, srv, admin, "security-groups", "security_group", map[string]any{"name": "one", "tenant_id": project})
	refused(t, srv, admin, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "two", "tenant_id": project}}, http.StatusConflict, "OverQuota")
}

// A port may not have both stateful and stateless groups
// (NegativeStatelessSecGroupTest).
func TestPortStatefulAndStatelessGroups(t *testing.T) {
	srv := noAuth(t)
	net := mkNet(t, srv, demo, "n")
	full := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "stateful"})
	less := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "stateless", "stateful": false})
	both := []string{id(full), id(less)}
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(net), "security_groups": both}}, http.StatusConflict, "SecurityGroupConflict")
	p := mkPort(t, srv, demo, id(net), map[string]any{"security_groups": []string{id(less)}})
	refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"security_groups": both}}, http.StatusConflict, "SecurityGroupConflict")
}
