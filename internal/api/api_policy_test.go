package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

func TestPolicyKeystone(t *testing.T) {
	srv := testutil.StartServer(t) // keystone mode, real tokens
	adminProject, demoProject := srv.ProjectID(admin), srv.ProjectID(demo)
	if adminProject == demoProject || adminProject == "" {
		t.Fatalf("projects %q %q", adminProject, demoProject)
	}

	t.Run("authentication", func(t *testing.T) {
		expect(t, srv.Do(testutil.Caller{}, "GET", "/v2.0/networks", nil), 401, "")
		resp, body := raw(t, srv, testutil.Caller{}, "GET", "/v2.0/networks", map[string]string{"X-Auth-Token": "bogus"}, nil)
		if resp.StatusCode != 401 {
			t.Fatalf("bad token: %d %s", resp.StatusCode, body)
		}
		resp, _ = raw(t, srv, testutil.Caller{}, "POST", "/v2.0/networks", map[string]string{"X-Auth-Token": srv.Token("demo") + "x"}, map[string]any{"network": map[string]any{}})
		if resp.StatusCode != 401 {
			t.Fatalf("tampered token: %d", resp.StatusCode)
		}
		// The version document needs no token.
		expect(t, srv.Do(testutil.Caller{}, "GET", "/", nil), 200, "")
	})

	t.Run("admin-only attributes", func(t *testing.T) {
		for _, attrs := range []map[string]any{
			{"shared": true},
			{"router:external": true},
			{"provider:network_type": "vxlan"},
			{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 5},
			{"provider:segmentation_id": 5},
			{"is_default": true},
		} {
			r := refused(t, srv, demo, "POST", "/v2.0/networks", map[string]any{"network": attrs}, 403, "PolicyNotAuthorized")
			if !strings.Contains(r.Obj("NeutronError")["message"].(string), "is disallowed by policy") {
				t.Errorf("message: %s", r.Raw)
			}
		}
		// Setting the default value is allowed.
		n := create(t, srv, demo, "networks", "network", map[string]any{"shared": false, "router:external": false})
		refused(t, srv, demo, "PUT", "/v2.0/networks/"+id(n), map[string]any{"network": map[string]any{"shared": true}}, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "PUT", "/v2.0/networks/"+id(n), map[string]any{"network": map[string]any{"router:external": true}}, 403, "PolicyNotAuthorized")
		s := mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
		refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "binding:host_id": "h1"}}, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "binding:profile": map[string]any{"a": 1}}}, 403, "PolicyNotAuthorized")
		// Own project id in the body is fine; another one is 400.
		create(t, srv, demo, "networks", "network", map[string]any{"project_id": demoProject})
		refused(t, srv, demo, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"project_id": adminProject}}, 400, "")
		refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(n), "ip_version": 4, "cidr": "10.1.0.0/24", "tenant_id": adminProject}}, 400, "")
		refused(t, srv, demo, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "x", "project_id": adminProject}}, 400, "")
		// Demo does not see provider:* or binding:*; admin does.
		p := mkPort(t, srv, demo, id(n))
		for _, obj := range []map[string]any{n, srv.Do(demo, "GET", "/v2.0/networks/"+id(n), nil).Obj("network"), srv.Do(demo, "GET", "/v2.0/networks?id="+id(n), nil).List("networks")[0]} {
			for k := range obj {
				if strings.HasPrefix(k, "provider:") {
					t.Errorf("demo sees %s", k)
				}
			}
		}
		for _, obj := range []map[string]any{p, srv.Do(demo, "GET", "/v2.0/ports/"+id(p), nil).Obj("port"), srv.Do(demo, "GET", "/v2.0/ports", nil).List("ports")[0]} {
			for k := range obj {
				if strings.HasPrefix(k, "binding:") && k != "binding:vnic_type" {
					t.Errorf("demo sees %s", k)
				}
			}
		}
		an := srv.Do(admin, "GET", "/v2.0/networks/"+id(n), nil).Obj("network")
		for _, k := range []string{"provider:network_type", "provider:physical_network", "provider:segmentation_id"} {
			if _, ok := an[k]; !ok {
				t.Errorf("admin does not see %s", k)
			}
		}
		ap := srv.Do(admin, "GET", "/v2.0/ports/"+id(p), nil).Obj("port")
		for _, k := range []string{"binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile", "binding:vnic_type"} {
			if _, ok := ap[k]; !ok {
				t.Errorf("admin does not see %s", k)
			}
		}
		// Admin may bind the port.
		r := srv.Do(admin, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"binding:host_id": "h1"}})
		expect(t, r, 200, "")
		if r.Obj("port")["binding:host_id"] != "h1" {
			t.Fatal(string(r.Raw))
		}
		refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"binding:host_id": "h2"}}, 403, "PolicyNotAuthorized")
		// Non-owners of a network may not pick addresses or network:* owners.
		_ = s
	})

	t.Run("private network of another project", func(t *testing.T) {
		n := mkNet(t, srv, admin, "admin-private")
		s := mkSubnet(t, srv, admin, id(n), "10.50.0.0/24")
		p := mkPort(t, srv, admin, id(n))
		sg := create(t, srv, admin, "security-groups", "security_group", map[string]any{"name": "adm"})
		for _, path := range []string{"/v2.0/networks/" + id(n), "/v2.0/subnets/" + id(s), "/v2.0/ports/" + id(p), "/v2.0/security-groups/" + id(sg)} {
			expect(t, srv.Do(demo, "GET", path, nil), 404, "")
			refused(t, srv, demo, "DELETE", path, nil, 404, "")
			refused(t, srv, demo, "PUT", path+"/tags/x", nil, 404, "")
		}
		refused(t, srv, demo, "PUT", "/v2.0/networks/"+id(n), map[string]any{"network": map[string]any{"name": "mine"}}, 404, "NetworkNotFound")
		refused(t, srv, demo, "PUT", "/v2.0/subnets/"+id(s), map[string]any{"subnet": map[string]any{"name": "mine"}}, 404, "SubnetNotFound")
		refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"name": "mine"}}, 404, "PortNotFound")
		refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n)}}, 404, "NetworkNotFound")
		refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(n), "ip_version": 4, "cidr": "10.51.0.0/24"}}, 404, "NetworkNotFound")
		refused(t, srv, demo, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{"security_group_id": id(sg), "direction": "ingress"}}, 404, "SecurityGroupNotFound")
		for _, coll := range []string{"networks", "subnets", "ports", "security-groups"} {
			for _, x := range listIDs(t, srv, demo, coll, "") {
				if x == id(n) || x == id(s) || x == id(p) || x == id(sg) {
					t.Errorf("demo lists admin's %s %s", coll, x)
				}
			}
		}
		expect(t, srv.Do(demo, "GET", "/v2.0/quotas/"+adminProject, nil), 403, "")
		expect(t, srv.Do(demo, "GET", "/v2.0/network-ip-availabilities/"+id(n), nil), 404, "")
	})

	t.Run("external network of another project", func(t *testing.T) {
		ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
		es := mkSubnet(t, srv, admin, id(ext), "172.24.4.0/24")
		if ext["router:external"] != true {
			t.Fatalf("external: %v", ext)
		}
		if got := listIDs(t, srv, demo, "networks", "router:external=true"); !slices.Contains(got, id(ext)) {
			t.Fatalf("demo does not list the external network: %v", got)
		}
		r := srv.Do(demo, "GET", "/v2.0/networks/"+id(ext), nil)
		expect(t, r, 200, "")
		for k := range r.Obj("network") {
			if strings.HasPrefix(k, "provider:") {
				t.Errorf("demo sees %s of external network", k)
			}
		}
		// Its subnets are hidden from other projects (tempest's
		// test_external_network_visibility), so writes to them are 404.
		expect(t, srv.Do(demo, "GET", "/v2.0/subnets/"+id(es), nil), 404, "SubnetNotFound")
		refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(ext)}}, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(ext), "ip_version": 4, "cidr": "172.25.0.0/24"}}, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "PUT", "/v2.0/networks/"+id(ext), map[string]any{"network": map[string]any{"name": "mine"}}, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "DELETE", "/v2.0/networks/"+id(ext), nil, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "PUT", "/v2.0/subnets/"+id(es), map[string]any{"subnet": map[string]any{"name": "mine"}}, 404, "SubnetNotFound")
		refused(t, srv, demo, "DELETE", "/v2.0/subnets/"+id(es), nil, 404, "SubnetNotFound")
		refused(t, srv, demo, "PUT", "/v2.0/networks/"+id(ext)+"/tags/x", nil, 403, "PolicyNotAuthorized")
		// Admin's ports on it stay hidden from demo.
		p := mkPort(t, srv, admin, id(ext))
		expect(t, srv.Do(demo, "GET", "/v2.0/ports/"+id(p), nil), 404, "PortNotFound")
	})

	t.Run("shared network", func(t *testing.T) {
		sh := create(t, srv, admin, "networks", "network", map[string]any{"name": "shared", "shared": true})
		ss := mkSubnet(t, srv, admin, id(sh), "10.60.0.0/24")
		expect(t, srv.Do(demo, "GET", "/v2.0/networks/"+id(sh), nil), 200, "")
		// Others may create ports on it, but not subnets, and not pick addresses.
		p := mkPort(t, srv, demo, id(sh))
		refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(sh), "ip_version": 4, "cidr": "10.61.0.0/24"}}, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(sh), "fixed_ips": []any{map[string]any{"subnet_id": id(ss), "ip_address": "10.60.0.77"}}}}, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(sh), "device_owner": "network:dhcp"}}, 403, "PolicyNotAuthorized")
		refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(sh), "mac_address": "fa:16:3e:01:02:03"}}, 403, "PolicyNotAuthorized")
		// Unsharing while demo has a port is refused.
		refused(t, srv, admin, "PUT", "/v2.0/networks/"+id(sh), map[string]any{"network": map[string]any{"shared": false}}, 409, "")
		// Admin cannot delete the network while demo's port is on it.
		refused(t, srv, admin, "DELETE", "/v2.0/networks/"+id(sh), nil, 409, "NetworkInUse")
		expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p), nil), 204, "")
		expect(t, srv.Do(admin, "PUT", "/v2.0/networks/"+id(sh), map[string]any{"network": map[string]any{"shared": false}}), 200, "")
		expect(t, srv.Do(demo, "GET", "/v2.0/networks/"+id(sh), nil), 404, "NetworkNotFound")
	})

	t.Run("admin sees all", func(t *testing.T) {
		demoNets := listIDs(t, srv, demo, "networks", "")
		all := listIDs(t, srv, admin, "networks", "")
		for _, x := range demoNets {
			if !slices.Contains(all, x) {
				t.Errorf("admin does not list %s", x)
			}
		}
		if got := listIDs(t, srv, admin, "networks", "project_id="+demoProject); len(got) == 0 {
			t.Errorf("admin cannot filter by demo's project")
		}
		// Admin can act on demo's resources.
		n := mkNet(t, srv, demo, "demo-net")
		expect(t, srv.Do(admin, "PUT", "/v2.0/networks/"+id(n), map[string]any{"network": map[string]any{"name": "renamed"}}), 200, "")
		expect(t, srv.Do(admin, "DELETE", "/v2.0/networks/"+id(n), nil), 204, "")
		// Admin creates in demo's project: the resource and its default group belong to demo.
		r := srv.Do(admin, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"project_id": demoProject, "name": "for-demo"}})
		expect(t, r, http.StatusCreated, "")
		expect(t, srv.Do(demo, "GET", "/v2.0/networks/"+id(r.Obj("network")), nil), 200, "")
		// Quotas of any project.
		expect(t, srv.Do(admin, "GET", "/v2.0/quotas/"+demoProject, nil), 200, "")
	})
}
