package api_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// Tests of divergences from upstream found by its own API suites (tempest,
// neutron-tempest-plugin, gophercloud's acceptance tests): issue 13.

// dhcpOpts renders a port's extra_dhcp_opts as "name/version=value".
func dhcpOpts(p map[string]any) map[string]string {
	out := map[string]string{}
	list, _ := p["extra_dhcp_opts"].([]any)
	for _, x := range list {
		o, _ := x.(map[string]any)
		name, _ := o["opt_name"].(string)
		val, _ := o["opt_value"].(string)
		out[name+"/"+strconv.Itoa(num(o["ip_version"]))] = val
	}
	return out
}

// An update of extra_dhcp_opts merges by opt_name and ip_version, and a
// null opt_value removes the option (what Terraform sends to drop one).
func TestExtraDHCPOptsUpdateMergesAndNullRemoves(t *testing.T) {
	srv := noAuth(t)
	net := mkNet(t, srv, demo, "n")
	p := mkPort(t, srv, demo, id(net), map[string]any{"extra_dhcp_opts": []any{
		map[string]any{"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
		map[string]any{"opt_name": "tftp-server", "opt_value": "10.0.0.5"},
		map[string]any{"opt_name": "tftp-server", "opt_value": "fd00::5", "ip_version": 6},
		map[string]any{"opt_name": "server-ip-address", "opt_value": nil},
	}})
	if got := dhcpOpts(p); len(got) != 3 || got["tftp-server/6"] != "fd00::5" {
		t.Fatalf("created options %v, want three (the null one stores nothing)", got)
	}
	r := srv.Do(demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"extra_dhcp_opts": []any{
		map[string]any{"opt_name": "tftp-server", "opt_value": nil},
		map[string]any{"opt_name": "bootfile-name", "opt_value": "ipxe.efi"},
		map[string]any{"opt_name": "mtu", "opt_value": "1400"},
	}}})
	expect(t, r, http.StatusOK, "")
	got := dhcpOpts(r.Obj("port"))
	want := map[string]string{"bootfile-name/4": "ipxe.efi", "tftp-server/6": "fd00::5", "mtu/4": "1400"}
	if len(got) != len(want) {
		t.Fatalf("options after update %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("options after update %v, want %v", got, want)
		}
	}
	// An empty list (or null) changes nothing.
	r = srv.Do(demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"extra_dhcp_opts": []any{}}})
	expect(t, r, http.StatusOK, "")
	if got := dhcpOpts(r.Obj("port")); len(got) != 3 {
		t.Fatalf("options after an empty update %v, want the three kept", got)
	}
	// opt_value must be present; empty only for the blank-able options.
	for _, bad := range []map[string]any{
		{"opt_name": "mtu"},
		{"opt_name": "mtu", "opt_value": ""},
		{"opt_name": "", "opt_value": "x"},
		{"opt_name": "mtu", "opt_value": "1", "ip_version": 5},
	} {
		refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"extra_dhcp_opts": []any{bad}}}, http.StatusBadRequest, "InvalidInput")
	}
	r = srv.Do(demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"extra_dhcp_opts": []any{
		map[string]any{"opt_name": "router", "opt_value": ""}}}})
	expect(t, r, http.StatusOK, "")
	if got := dhcpOpts(r.Obj("port")); len(got) != 4 || got["router/4"] != "" {
		t.Fatalf("options %v, want an empty router option added", got)
	}
}

// The L3 API is served, so its extensions are advertised (tempest and
// neutron-tempest-plugin skip their router tests otherwise), l3-ha and
// dvr too; router flavors are not served.
func TestExtensionsAdvertiseL3(t *testing.T) {
	srv := noAuth(t)
	for _, alias := range []string{"router", "ext-gw-mode", "extraroute", "extraroute-atomic", "fip-port-details", "router_availability_zone", "l2_adjacency", "floatingip-pools", "l3-ha", "dvr"} {
		r := srv.Do(demo, "GET", "/v2.0/extensions/"+alias, nil)
		expect(t, r, http.StatusOK, "")
		if r.Obj("extension")["alias"] != alias {
			t.Fatalf("GET extension %s: %s", alias, r.Raw)
		}
	}
	for _, alias := range []string{"l3-flavors"} {
		expect(t, srv.Do(demo, "GET", "/v2.0/extensions/"+alias, nil), http.StatusNotFound, "")
	}
}

// A floating IP may be associated with a router interface port (upstream
// refuses DHCP ports only).
func TestFloatingIPOnRouterInterfacePort(t *testing.T) {
	e, r, _ := fipEnv(t)
	srv := e.srv
	ifaces := portsOf(t, srv, "device_owner=network:router_interface&device_id="+id(r))
	if len(ifaces) != 1 {
		t.Fatalf("router interfaces: %v", ifaces)
	}
	f := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext), "port_id": id(ifaces[0])})
	if f["port_id"] != id(ifaces[0]) || f["router_id"] != id(r) || f["fixed_ip_address"] != "10.0.0.1" {
		t.Fatalf("floating IP on the router interface: %v", f)
	}
	dhcp := mkPort(t, srv, admin, id(e.net), map[string]any{"device_owner": "network:dhcp", "tenant_id": "demo"})
	refused(t, srv, demo, "PUT", "/v2.0/floatingips/"+id(f), map[string]any{"floatingip": map[string]any{"port_id": id(dhcp)}}, http.StatusBadRequest, "BadRequest")
}

// A gateway update naming the current address again (with or without a
// further entry for the same subnet) leaves the gateway as it is, as
// upstream's _check_for_external_ip_change decides; so does an empty list.
func TestGatewayUpdateNamingCurrentAddressKeepsIt(t *testing.T) {
	e := newL3(t)
	srv := e.srv
	sub := id(e.extSub)
	r := mkRouter(t, srv, admin, map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": id(e.ext),
		"external_fixed_ips": []any{map[string]any{"subnet_id": sub, "ip_address": "172.24.4.10"}}}})
	gwAddrs := func(r map[string]any) []string {
		gi, _ := r["external_gateway_info"].(map[string]any)
		list, _ := gi["external_fixed_ips"].([]any)
		var out []string
		for _, x := range list {
			ip, _ := x.(map[string]any)
			s, _ := ip["ip_address"].(string)
			out = append(out, s)
		}
		return out
	}
	for _, ips := range [][]any{
		{map[string]any{"subnet_id": sub, "ip_address": "172.24.4.10"}, map[string]any{"subnet_id": sub}},
		{map[string]any{"subnet_id": sub, "ip_address": "172.24.4.10"}},
		{},
	} {
		got := setGateway(t, srv, admin, r, map[string]any{"network_id": id(e.ext), "external_fixed_ips": ips})
		if a := gwAddrs(got); len(a) != 1 || a[0] != "172.24.4.10" {
			t.Fatalf("gateway after naming %v: %v, want 172.24.4.10 only", ips, a)
		}
		if gw := portsOf(t, srv, "device_owner=network:router_gateway&device_id="+id(r)); len(gw) != 1 || len(fixedIPs(gw[0])) != 1 {
			t.Fatalf("gateway port after naming %v: %v", ips, gw)
		}
	}
	// A new address is a change.
	got := setGateway(t, srv, admin, r, map[string]any{"network_id": id(e.ext), "external_fixed_ips": []any{map[string]any{"subnet_id": sub, "ip_address": "172.24.4.11"}}})
	if a := gwAddrs(got); len(a) != 1 || a[0] != "172.24.4.11" {
		t.Fatalf("gateway after moving to .11: %v", a)
	}
}

// "shared" filters subnets by their network's sharing, though a subnet
// does not show it (neutron-tempest-plugin SubnetsSearchCriteriaTest,
// SharedNetworksTest.test_filtering_shared_subnets).
func TestSubnetSharedFilter(t *testing.T) {
	srv := noAuth(t)
	sharedNet := create(t, srv, admin, "networks", "network", map[string]any{"name": "s", "shared": true})
	shared := mkSubnet(t, srv, admin, id(sharedNet), "10.1.0.0/24")
	priv := mkSubnet(t, srv, demo, id(mkNet(t, srv, demo, "p")), "10.2.0.0/24")
	if _, ok := shared["shared"]; ok {
		t.Fatalf("a subnet shows shared: %v", shared)
	}
	list := func(c testutil.Caller, q string) []string {
		t.Helper()
		r := srv.Do(c, "GET", "/v2.0/subnets?"+q, nil)
		expect(t, r, http.StatusOK, "")
		return ids(r.List("subnets"))
	}
	for _, c := range []testutil.Caller{demo, admin} {
		if got := list(c, "shared=true"); !slices.Contains(got, id(shared)) || slices.Contains(got, id(priv)) {
			t.Fatalf("%s: shared=true lists %v (shared %s, private %s)", c.Project, got, id(shared), id(priv))
		}
		if got := list(c, "shared=False"); slices.Contains(got, id(shared)) || !slices.Contains(got, id(priv)) {
			t.Fatalf("%s: shared=False lists %v (shared %s, private %s)", c.Project, got, id(shared), id(priv))
		}
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/subnets?shared=maybe", nil), http.StatusBadRequest, "InvalidInput")
}

// Bulk items may be wrapped in their singular key, with tags
// (PortsTaggingOnCreationTestJSON bulk cases, SecGroupTest bulk create).
func TestBulkItemsWrappedInSingular(t *testing.T) {
	srv := noAuth(t)
	net := mkNet(t, srv, demo, "n")
	r := srv.Do(demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"port": map[string]any{"network_id": id(net), "name": "a-b", "tags": []string{"a", "b"}}},
		map[string]any{"network_id": id(net), "name": "c"},
	}})
	expect(t, r, http.StatusCreated, "")
	got := map[string][]string{}
	for _, p := range r.List("ports") {
		name, _ := p["name"].(string)
		got[name] = strs(p["tags"])
	}
	if len(got) != 2 || !slices.Equal(got["a-b"], []string{"a", "b"}) || len(got["c"]) != 0 {
		t.Fatalf("bulk ports: %s", r.Raw)
	}
	r = srv.Do(demo, "POST", "/v2.0/security-groups", map[string]any{"security_groups": []any{
		map[string]any{"security_group": map[string]any{"name": "sg1"}},
		map[string]any{"security_group": map[string]any{"name": "sg2", "stateful": false}},
	}})
	expect(t, r, http.StatusCreated, "")
	if sgs := r.List("security_groups"); len(sgs) != 2 || sgs[0]["name"] != "sg1" || sgs[1]["stateful"] != false {
		t.Fatalf("bulk security groups: %s", r.Raw)
	}
	// The wrapper must hold an object; unknown attributes inside it are
	// refused as anywhere else.
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{map[string]any{"port": "x"}}}, http.StatusBadRequest, "")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{map[string]any{"port": map[string]any{"network_id": id(net), "bogus": 1}}}}, http.StatusBadRequest, "HTTPBadRequest")
}

// A project member may set service_types (upstream does not enforce its
// policy rules for them), with upstream's validation (SubnetServiceTypeTestJSON,
// test_update_subnet_service_types_bumps_revisions).
func TestSubnetServiceTypesByMember(t *testing.T) {
	srv := noAuth(t)
	net := mkNet(t, srv, demo, "n")
	s1 := mkSubnet(t, srv, demo, id(net), "192.168.1.0/24", map[string]any{"service_types": []string{"test:type_1", "network:distributed"}})
	mkSubnet(t, srv, demo, id(net), "192.168.2.0/24", map[string]any{"service_types": []string{"test:type_2", "network:distributed"}})
	for owner, prefix := range map[string]string{"test:type_1": "192.168.1.", "test:type_2": "192.168.2."} {
		p := mkPort(t, srv, demo, id(net), map[string]any{"device_owner": owner})
		if ips := fixedIPs(p); len(ips) != 1 || !strings.HasPrefix(ips[0][1], prefix) {
			t.Fatalf("port of %s: %v, want one address in %s*", owner, ips, prefix)
		}
	}
	rev := num(s1["revision_number"])
	for _, types := range [][]string{{"compute:"}, {}} {
		r := srv.Do(demo, "PUT", "/v2.0/subnets/"+id(s1), map[string]any{"subnet": map[string]any{"service_types": types}})
		expect(t, r, http.StatusOK, "")
		if u := r.Obj("subnet"); num(u["revision_number"]) <= rev || len(strs(u["service_types"])) != len(types) {
			t.Fatalf("update service_types %v: %v", types, u)
		}
		rev = num(r.Obj("subnet")["revision_number"])
	}
	refused(t, srv, demo, "PUT", "/v2.0/subnets/"+id(s1), map[string]any{"subnet": map[string]any{"service_types": []string{"baremetal:none"}}}, http.StatusBadRequest, "InvalidSubnetServiceType")
	refused(t, srv, demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(net), "ip_version": 4, "cidr": "10.9.0.0/24", "service_types": []string{""}}}, http.StatusBadRequest, "InvalidSubnetServiceType")
}

// project_id and tenant_id that differ are refused with upstream's
// message, for an admin creating for another project too
// (NetworksTestAdmin.test_create_network_with_project_and_other_tenant).
func TestProjectAndOtherTenant(t *testing.T) {
	srv := noAuth(t)
	for _, c := range []testutil.Caller{admin, demo} {
		r := refused(t, srv, c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "x", "project_id": "demo", "tenant_id": "6f1ad2c0a7a64e8b9d0c1e2f3a4b5c6d"}}, http.StatusBadRequest, "HTTPBadRequest")
		if msg := r.Obj("NeutronError")["message"]; msg != "'project_id' and 'tenant_id' do not match" {
			t.Fatalf("message %q", msg)
		}
	}
	r := refused(t, srv, admin, "POST", "/v2.0/security-groups", map[string]any{"security_groups": []any{map[string]any{"name": "x", "project_id": "demo", "tenant_id": "other"}}}, http.StatusBadRequest, "HTTPBadRequest")
	if msg := r.Obj("NeutronError")["message"]; msg != "'project_id' and 'tenant_id' do not match" {
		t.Fatalf("message %q", msg)
	}
	n := create(t, srv, admin, "networks", "network", map[string]any{"name": "y", "project_id": "demo", "tenant_id": "demo"})
	if n["project_id"] != "demo" || n["tenant_id"] != "demo" {
		t.Fatalf("network for demo: %v", n)
	}
}

// On another project's shared network a project may not set
// port_security_enabled or allowed_address_pairs (upstream's policy:
// admin or network owner): AllowedAddressPairSharedNetworkTest,
// PortSecurityAdminTests.test_create_port_security_false_on_shared_network.
func TestPortSecurityOnSharedNetworkOwnerOnly(t *testing.T) {
	srv := noAuth(t)
	net := create(t, srv, admin, "networks", "network", map[string]any{"name": "s", "shared": true})
	mkSubnet(t, srv, admin, id(net), "10.5.0.0/24")
	pairs := []any{map[string]any{"ip_address": "1.1.1.1"}}
	for _, attrs := range []map[string]any{
		{"allowed_address_pairs": pairs},
		{"allowed_address_pairs": []any{}},
		{"port_security_enabled": false},
	} {
		body := map[string]any{"network_id": id(net)}
		for k, v := range attrs {
			body[k] = v
		}
		refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": body}, http.StatusForbidden, "PolicyNotAuthorized")
	}
	p := mkPort(t, srv, demo, id(net))
	refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"allowed_address_pairs": pairs}}, http.StatusForbidden, "PolicyNotAuthorized")
	refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"port_security_enabled": true}}, http.StatusForbidden, "PolicyNotAuthorized")
	// The network's owner (and admins) may.
	r := srv.Do(admin, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"allowed_address_pairs": pairs}})
	expect(t, r, http.StatusOK, "")
	own := mkNet(t, srv, demo, "own")
	mkSubnet(t, srv, demo, id(own), "10.6.0.0/24")
	mkPort(t, srv, demo, id(own), map[string]any{"allowed_address_pairs": pairs})
}

// Deleting an external network deletes its unassociated floating IPs
// (tempest test_delete_external_networks_with_floating_ip); an associated
// one keeps the network in use.
func TestDeleteExternalNetworkWithFloatingIPs(t *testing.T) {
	e, r, p := fipEnv(t)
	srv := e.srv
	free := create(t, srv, admin, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext)})
	bound := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext), "port_id": id(p)})
	// The router's gateway and the associated floating IP hold it.
	refused(t, srv, admin, "DELETE", "/v2.0/networks/"+id(e.ext), nil, http.StatusConflict, "NetworkInUse")
	expect(t, srv.Do(demo, "PUT", "/v2.0/floatingips/"+id(bound), map[string]any{"floatingip": map[string]any{"port_id": nil}}), http.StatusOK, "")
	expect(t, srv.Do(demo, "PUT", "/v2.0/routers/"+id(r), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{}}}), http.StatusOK, "")
	expect(t, srv.Do(admin, "DELETE", "/v2.0/networks/"+id(e.ext), nil), http.StatusNoContent, "")
	for _, f := range []map[string]any{free, bound} {
		expect(t, srv.Do(admin, "GET", "/v2.0/floatingips/"+id(f), nil), http.StatusNotFound, "FloatingIPNotFound")
	}
	if left := portsOf(t, srv, "network_id="+id(e.ext)); len(left) != 0 {
		t.Fatalf("ports left on the deleted network: %v", left)
	}
	expect(t, srv.Do(admin, "GET", "/v2.0/subnets/"+id(e.extSub), nil), http.StatusNotFound, "SubnetNotFound")
}

// The subnets of a non-shared external network are hidden from other
// projects, IPv4 and IPv6 (tempest test_external_network_visibility); a
// shared one's are not.
func TestExternalNetworkSubnetsHidden(t *testing.T) {
	srv := noAuth(t)
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	v4 := mkSubnet(t, srv, admin, id(ext), "172.24.4.0/24")
	v6 := mkSubnet(t, srv, admin, id(ext), "2001:db8::/64", map[string]any{"ip_version": 6})
	r := srv.Do(demo, "GET", "/v2.0/subnets?network_id="+id(ext), nil)
	expect(t, r, http.StatusOK, "")
	if got := r.List("subnets"); len(got) != 0 {
		t.Fatalf("demo sees the external network's subnets: %v", got)
	}
	for _, s := range []map[string]any{v4, v6} {
		expect(t, srv.Do(demo, "GET", "/v2.0/subnets/"+id(s), nil), http.StatusNotFound, "SubnetNotFound")
	}
	// The network itself stays visible; shared, its subnets are too.
	expect(t, srv.Do(demo, "GET", "/v2.0/networks/"+id(ext), nil), http.StatusOK, "")
	expect(t, srv.Do(admin, "PUT", "/v2.0/networks/"+id(ext), map[string]any{"network": map[string]any{"shared": true}}), http.StatusOK, "")
	r = srv.Do(demo, "GET", "/v2.0/subnets?network_id="+id(ext), nil)
	if got := r.List("subnets"); len(got) != 2 {
		t.Fatalf("demo sees %d subnets of the shared external network, want 2: %s", len(got), r.Raw)
	}
}

// A SLAAC or DHCPv6-stateless subnet can be deleted while ports hold
// automatic addresses from it: they lose them and stay, so the network
// is still in use (tempest test_create_delete_slaac_subnet_with_ports and
// ..._stateless_...). A router interface still keeps it.
func TestDeleteAutoAddressSubnetWithPorts(t *testing.T) {
	srv := noAuth(t)
	for i, mode := range []string{"slaac", "dhcpv6-stateless"} {
		net := mkNet(t, srv, demo, mode)
		cidr := "2001:db8:" + strconv.Itoa(i+1) + "::/64"
		sub := mkSubnet(t, srv, demo, id(net), cidr, map[string]any{"ip_version": 6, "ipv6_ra_mode": mode, "ipv6_address_mode": mode})
		p := mkPort(t, srv, demo, id(net))
		if len(fixedIPs(p)) != 1 {
			t.Fatalf("%s port: %v", mode, p)
		}
		expect(t, srv.Do(demo, "DELETE", "/v2.0/subnets/"+id(sub), nil), http.StatusNoContent, "")
		expect(t, srv.Do(demo, "GET", "/v2.0/subnets/"+id(sub), nil), http.StatusNotFound, "SubnetNotFound")
		if got := show(t, srv, demo, "ports", "port", id(p)); len(fixedIPs(got)) != 0 {
			t.Fatalf("%s port after its subnet went: %v", mode, got)
		}
		r := refused(t, srv, demo, "DELETE", "/v2.0/networks/"+id(net), nil, http.StatusConflict, "NetworkInUse")
		if !strings.Contains(string(r.Raw), "There are one or more ports still in use on the network") {
			t.Fatalf("network delete: %s", r.Raw)
		}
	}
	// A router interface keeps even an automatic-address subnet.
	net := mkNet(t, srv, demo, "routed")
	sub := mkSubnet(t, srv, demo, id(net), "2001:db8:9::/64", map[string]any{"ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})
	r := mkRouter(t, srv, demo, map[string]any{"name": "r"})
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(sub)})
	refused(t, srv, demo, "DELETE", "/v2.0/subnets/"+id(sub), nil, http.StatusConflict, "SubnetInUse")
}

// A router interface request naming an id that is not a UUID is a 400
// (RoutersNegativeTest.test_add_interface_port_nonexist).
func TestRouterInterfaceIDNotUUID(t *testing.T) {
	e := newL3(t)
	r := mkRouter(t, e.srv, demo, map[string]any{"name": "r"})
	for _, action := range []string{"add_router_interface", "remove_router_interface"} {
		for _, body := range []map[string]any{{"port_id": "port-123"}, {"subnet_id": "subnet-123"}} {
			refused(t, e.srv, demo, "PUT", routerPath(r, action), body, http.StatusBadRequest, "BadRequest")
		}
	}
}
