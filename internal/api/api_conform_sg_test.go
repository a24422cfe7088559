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

