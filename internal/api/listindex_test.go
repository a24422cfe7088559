package api_test

import (
	"net/url"
	"testing"
)

// TestIndexedPortFilters: lists filtered by device_id or network_id visit
// the store's indexes instead of every port; they must answer exactly as
// a scan would, after updates and deletes too, and keep visibility.
func TestIndexedPortFilters(t *testing.T) {
	srv := noAuth(t)
	n1 := mkNet(t, srv, demo, "n1")
	n2 := mkNet(t, srv, demo, "n2")
	mkSubnet(t, srv, demo, id(n1), "10.0.0.0/24")
	mkSubnet(t, srv, demo, id(n2), "10.0.1.0/24")
	p1 := mkPort(t, srv, demo, id(n1), map[string]any{"device_id": "vm1"})
	p2 := mkPort(t, srv, demo, id(n1), map[string]any{"device_id": "vm2"})
	p3 := mkPort(t, srv, demo, id(n2), map[string]any{"device_id": "vm1"})
	p4 := mkPort(t, srv, demo, id(n2)) // device_id ""
	// Another project's port on its own network, same device id.
	other := mkNet(t, srv, admin, "other")
	mkSubnet(t, srv, admin, id(other), "10.0.2.0/24")
	p5 := mkPort(t, srv, admin, id(other), map[string]any{"device_id": "vm1"})

	check := func(c string, q string, want ...string) {
		t.Helper()
		caller := demo
		if c == "admin" {
			caller = admin
		}
		if got := listIDs(t, srv, caller, "ports", q); !sameSet(got, append([]string{}, want...)) {
			t.Errorf("%s ?%s: got %v want %v", c, q, got, want)
		}
	}
	check("demo", "device_id=vm1", id(p1), id(p3))
	check("admin", "device_id=vm1", id(p1), id(p3), id(p5))
	check("demo", "device_id=vm1&device_id=vm1", id(p1), id(p3))
	check("demo", "device_id=vm1&device_id=vm2", id(p1), id(p2), id(p3))
	check("demo", "device_id=", id(p4))
	check("demo", "device_id=vm1&device_id=", id(p1), id(p3), id(p4))
	check("demo", "device_id=nope")
	check("demo", "device_id=vm1&network_id="+id(n2), id(p3))
	check("demo", "network_id="+id(n1), id(p1), id(p2))
	check("demo", "network_id="+id(n1)+"&network_id="+id(n2), id(p1), id(p2), id(p3), id(p4))
	check("demo", "device_id=vm1&name=x")
	check("demo", "device_id=vm1&limit=1&sort_key=id&sort_dir=asc", minID(id(p1), id(p3)))

	// The index follows updates and deletes.
	r := srv.Do(demo, "PUT", "/v2.0/ports/"+id(p1), map[string]any{"port": map[string]any{"device_id": "vm9"}})
	expect(t, r, 200, "")
	check("demo", "device_id=vm1", id(p3))
	check("demo", "device_id="+url.QueryEscape("vm9"), id(p1))
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p3), nil), 204, "")
	check("demo", "device_id=vm1")
	check("admin", "device_id=vm1", id(p5))
}

func minID(a, b string) string {
	if a < b {
		return a
	}
	return b
}
