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
