package api_test

import (
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

func TestSubnetInputErrors(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	sub := func(extra map[string]any) map[string]any {
		b := map[string]any{"network_id": id(n), "ip_version": 4, "cidr": "10.1.0.0/24"}
		for k, v := range extra {
			if v == "<absent>" {
				delete(b, k)
				continue
			}
			b[k] = v
		}
		return map[string]any{"subnet": b}
	}
	pool := func(start, end string) map[string]any { return map[string]any{"start": start, "end": end} }
	cases := []struct {
		name   string
		body   map[string]any
		status int
		typ    string
	}{
		{"bad cidr", sub(map[string]any{"cidr": "10.1.0.0/33"}), 400, "InvalidInput"},
		{"garbage cidr", sub(map[string]any{"cidr": "banana"}), 400, "InvalidInput"},
		{"cidr of other version", sub(map[string]any{"cidr": "2001:db8::/64"}), 400, "InvalidInput"},
		{"prefix 0", sub(map[string]any{"cidr": "0.0.0.0/0"}), 400, "InvalidInput"},
		{"ip_version 5", sub(map[string]any{"ip_version": 5}), 400, ""},
		{"gateway = network address", sub(map[string]any{"gateway_ip": "10.1.0.0"}), 400, "InvalidInput"},
		{"gateway = broadcast", sub(map[string]any{"gateway_ip": "10.1.0.255"}), 400, "InvalidInput"},
		{"gateway not an IP", sub(map[string]any{"gateway_ip": "x"}), 400, "InvalidInput"},
		{"overlapping pools", sub(map[string]any{"allocation_pools": []any{pool("10.1.0.10", "10.1.0.20"), pool("10.1.0.15", "10.1.0.30")}}), 409, "OverlappingAllocationPools"},
		{"pool outside cidr", sub(map[string]any{"allocation_pools": []any{pool("10.1.0.10", "10.1.1.20")}}), 400, "OutOfBoundsAllocationPool"},
		{"pool with broadcast", sub(map[string]any{"allocation_pools": []any{pool("10.1.0.10", "10.1.0.255")}}), 400, "OutOfBoundsAllocationPool"},
		{"pool start > end", sub(map[string]any{"allocation_pools": []any{pool("10.1.0.20", "10.1.0.10")}}), 400, "InvalidAllocationPool"},
		{"gateway in pool", sub(map[string]any{"gateway_ip": "10.1.0.15", "allocation_pools": []any{pool("10.1.0.10", "10.1.0.20")}}), 409, "GatewayConflictWithAllocationPools"},
		{"default gateway in pool", sub(map[string]any{"allocation_pools": []any{pool("10.1.0.1", "10.1.0.20")}}), 409, "GatewayConflictWithAllocationPools"},
		{"overlaps subnet on same network", sub(map[string]any{"cidr": "10.0.0.128/25"}), 400, "InvalidInput"},
		{"too many nameservers", sub(map[string]any{"dns_nameservers": []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"}}), 400, ""},
		{"bad nameserver", sub(map[string]any{"dns_nameservers": []string{"dns.example"}}), 400, "InvalidInput"},
		{"bad host route", sub(map[string]any{"host_routes": []any{map[string]any{"destination": "x", "nexthop": "10.1.0.9"}}}), 400, "InvalidInput"},
		{"ipv6 mode on v4", sub(map[string]any{"ipv6_address_mode": "slaac"}), 400, "InvalidInput"},
		{"/31 with dhcp", sub(map[string]any{"cidr": "10.1.0.0/31"}), 400, "InvalidInput"},
		{"unknown network", sub(map[string]any{"network_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}), 404, "NetworkNotFound"},
		{"missing network_id", sub(map[string]any{"network_id": "<absent>"}), 400, "HTTPBadRequest"},
		{"missing ip_version", sub(map[string]any{"ip_version": "<absent>"}), 400, "HTTPBadRequest"},
		{"missing cidr", sub(map[string]any{"cidr": "<absent>"}), 400, ""},
		{"read-only attribute", sub(map[string]any{"id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}), 400, "HTTPBadRequest"},
		{"unknown attribute", sub(map[string]any{"foo": 1}), 400, "HTTPBadRequest"},
		{"name too long", sub(map[string]any{"name": strings.Repeat("n", 256)}), 400, "InvalidInput"},
		{"enable_dhcp not bool", sub(map[string]any{"enable_dhcp": "sometimes"}), 400, "InvalidInput"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, srv, demo, "POST", "/v2.0/subnets", tc.body, tc.status, tc.typ)
		})
	}
	// The same network may not get the CIDR twice, another network may.
	n2 := mkNet(t, srv, demo, "n2")
	mkSubnet(t, srv, demo, id(n2), "10.0.0.0/24")
	// Updates are validated too.
	s := mkSubnet(t, srv, demo, id(n), "10.2.0.0/24")
	path := "/v2.0/subnets/" + id(s)
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet": map[string]any{"gateway_ip": "10.2.0.255"}}, 400, "InvalidInput")
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet": map[string]any{"gateway_ip": "10.2.0.7"}}, 409, "GatewayConflictWithAllocationPools")
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet": map[string]any{"allocation_pools": []any{pool("10.2.0.1", "10.2.0.9")}}}, 409, "GatewayConflictWithAllocationPools")
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet": map[string]any{"cidr": "10.3.0.0/24"}}, 400, "HTTPBadRequest")
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet": map[string]any{"network_id": id(n2)}}, 400, "HTTPBadRequest")
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet": map[string]any{"ip_version": 6}}, 400, "HTTPBadRequest")
	r := srv.Do(demo, "PUT", path, map[string]any{"subnet": map[string]any{"allocation_pools": []any{pool("10.2.0.100", "10.2.0.110")}}})
	expect(t, r, 200, "")
}

func TestPortAddressErrors(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	s := mkSubnet(t, srv, demo, id(n), "10.0.0.0/29") // pool .2-.6
	other := mkNet(t, srv, demo, "other")
	so := mkSubnet(t, srv, demo, id(other), "10.5.0.0/24")
	port := func(ips ...map[string]any) map[string]any {
		l := []any{}
		for _, x := range ips {
			l = append(l, x)
		}
		return map[string]any{"port": map[string]any{"network_id": id(n), "fixed_ips": l}}
	}
	ip := func(kv ...string) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("subnet_id", id(s), "ip_address", "10.0.1.5")), 400, "InvalidIpForSubnet")
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("subnet_id", id(s), "ip_address", "10.0.0.7")), 400, "InvalidIpForSubnet") // broadcast
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("subnet_id", id(s), "ip_address", "10.0.0.0")), 400, "InvalidIpForSubnet") // network
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("ip_address", "10.9.0.5")), 400, "InvalidIpForNetwork")
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("ip_address", "not-an-ip")), 400, "InvalidInput")
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("subnet_id", id(so))), 400, "InvalidInput")
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("subnet_id", "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000")), 404, "SubnetNotFound")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}}, 404, "NetworkNotFound")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"name": "x"}}, 400, "HTTPBadRequest")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "security_groups": []string{"0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}}}, 404, "SecurityGroupNotFound")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "binding:vnic_type": "warp"}}, 400, "InvalidInput")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "mac_address": "zz:zz"}}, 400, "")
	// The gateway is outside the pool but may be taken explicitly.
	gw := mkPort(t, srv, demo, id(n), map[string]any{"fixed_ips": []any{ip("ip_address", "10.0.0.1")}})
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("ip_address", "10.0.0.1")), 409, "IpAddressAlreadyAllocated")
	// Exhaust the pool (.2-.6).
	var last map[string]any
	for range 5 {
		last = mkPort(t, srv, demo, id(n))
	}
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n)}}, 409, "IpAddressGenerationFailure")
	refused(t, srv, demo, "POST", "/v2.0/ports", port(ip("subnet_id", id(s))), 409, "IpAddressGenerationFailure")
	// Updating to a taken address.
	taken := last["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(gw), port(ip("ip_address", taken)), 400, "HTTPBadRequest") // network_id is not updatable
	refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(gw), map[string]any{"port": map[string]any{"fixed_ips": []any{ip("ip_address", taken)}}}, 409, "IpAddressAlreadyAllocated")
	// MAC in use on the network; the same MAC on another network is fine.
	mac := last["mac_address"].(string)
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(gw), nil), 204, "")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "mac_address": mac}}, 409, "MacAddressInUse")
	mkPort(t, srv, demo, id(other), map[string]any{"mac_address": mac})
	refused(t, srv, demo, "PUT", "/v2.0/ports/"+id(mkPort(t, srv, demo, id(n), map[string]any{"fixed_ips": []any{ip("ip_address", "10.0.0.1")}})), map[string]any{"port": map[string]any{"mac_address": mac}}, 409, "MacAddressInUse")
}

func TestRequestFormatErrors(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) { c.MaxRequestBodySize = 512 }))
	n := mkNet(t, srv, demo, "n")
	path := "/v2.0/networks/" + id(n)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		typ                string
		msg                string
	}{
		{"unknown attribute", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "x", "foo": 1}}, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'foo'"},
		{"unknown attribute on PUT", "PUT", path, map[string]any{"network": map[string]any{"foo": 1}}, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'foo'"},
		{"read-only in POST", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"status": "DOWN"}}, 400, "HTTPBadRequest", "Attribute 'status' not allowed in POST"},
		{"id in POST", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}}, 400, "HTTPBadRequest", "not allowed in POST"},
		{"read-only in PUT", "PUT", path, map[string]any{"network": map[string]any{"id": "x"}}, 400, "HTTPBadRequest", "Cannot update read-only attribute id"},
		{"post-only in PUT", "PUT", path, map[string]any{"network": map[string]any{"project_id": "demo"}}, 400, "HTTPBadRequest", "Cannot update read-only attribute project_id"},
		{"missing required", "POST", "/v2.0/ports", map[string]any{"port": map[string]any{}}, 400, "HTTPBadRequest", "Required attribute 'network_id' not specified"},
		{"malformed JSON", "POST", "/v2.0/networks", `{"network": {"name": `, 400, "", ""},
		{"not an object", "POST", "/v2.0/networks", `[1,2]`, 400, "", ""},
		{"wrong envelope", "POST", "/v2.0/networks", map[string]any{"port": map[string]any{"name": "x"}}, 400, "", ""},
		{"wrong envelope on PUT", "PUT", path, map[string]any{"subnet": map[string]any{"name": "x"}}, 400, "", ""},
		{"member not object", "POST", "/v2.0/networks", map[string]any{"network": "x"}, 400, "", ""},
		{"empty body", "POST", "/v2.0/networks", "", 400, "", ""},
		{"too large", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": strings.Repeat("x", 1000)}}, 413, "", ""},
		{"too large PUT", "PUT", path, map[string]any{"network": map[string]any{"description": strings.Repeat("x", 1000)}}, 413, "", ""},
		{"delete with body", "DELETE", path, map[string]any{"network": map[string]any{}}, 400, "", "Request body is not supported in DELETE."},
		{"name not a string", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": 5}}, 400, "", ""},
		{"admin_state_up not bool", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"admin_state_up": "perhaps"}}, 400, "InvalidInput", ""},
		{"project_id and tenant_id differ", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"project_id": "demo", "tenant_id": "x"}}, 400, "", ""},
		{"other project", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"project_id": "someone"}}, 400, "", ""},
		{"other tenant", "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"tenant_id": "someone"}}, 400, "", ""},
		{"unknown URL", "GET", "/v2.0/bogus", nil, 404, "HTTPNotFound", "The resource could not be found."},
		{"unknown method", "PATCH", path, map[string]any{}, 404, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := refused(t, srv, demo, tc.method, tc.path, tc.body, tc.status, tc.typ)
			if tc.status != 404 || tc.typ != "" {
				if r.ErrorType() == "" {
					t.Fatalf("no NeutronError body: %s", r.Raw)
				}
			}
			if tc.msg != "" && !strings.Contains(string(r.Raw), tc.msg) {
				t.Errorf("message lacks %q: %s", tc.msg, r.Raw)
			}
			if e, _ := r.Body["NeutronError"].(map[string]any); e != nil && e["detail"] != "" {
				t.Errorf("detail %v", e["detail"])
			}
		})
	}
	// Admin may create for another project.
	r := srv.Do(admin, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"tenant_id": "someone"}})
	expect(t, r, 201, "")
	if r.Obj("network")["project_id"] != "someone" {
		t.Fatal(string(r.Raw))
	}
}

func TestProviderAttributeErrors(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) { c.NetworkVLANRanges = "physnet1:100:200,physnet2" }))
	net := func(attrs map[string]any) map[string]any { return map[string]any{"network": attrs} }
	cases := []struct {
		name   string
		attrs  map[string]any
		status int
		typ    string
	}{
		{"bad type", map[string]any{"provider:network_type": "warp"}, 400, "InvalidInput"},
		{"vlan id out of range", map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 5000}, 400, "InvalidInput"},
		{"vlan id 0", map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 0}, 400, "InvalidInput"},
		{"vlan physnet unknown", map[string]any{"provider:network_type": "vlan", "provider:physical_network": "nope", "provider:segmentation_id": 10}, 400, "InvalidInput"},
		{"vlan id without physnet", map[string]any{"provider:network_type": "vlan", "provider:segmentation_id": 10}, 400, "InvalidInput"},
		{"flat without physnet", map[string]any{"provider:network_type": "flat"}, 400, "InvalidInput"},
		{"flat with id", map[string]any{"provider:network_type": "flat", "provider:physical_network": "physnet1", "provider:segmentation_id": 3}, 400, "InvalidInput"},
		{"vxlan with physnet", map[string]any{"provider:network_type": "vxlan", "provider:physical_network": "physnet1"}, 400, "InvalidInput"},
		{"vxlan id too big", map[string]any{"provider:network_type": "vxlan", "provider:segmentation_id": 1 << 24}, 400, "InvalidInput"},
		{"id without type", map[string]any{"provider:segmentation_id": 10}, 400, "InvalidInput"},
		{"id not a number", map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": "ten"}, 400, "InvalidInput"},
		{"provider attrs are not updatable", nil, 0, ""},
	}
	for _, tc := range cases {
		if tc.attrs == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			refused(t, srv, admin, "POST", "/v2.0/networks", net(tc.attrs), tc.status, tc.typ)
		})
	}
	vlan := create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 1000})
	if vlan["provider:network_type"] != "vlan" || vlan["provider:physical_network"] != "physnet1" || num(vlan["provider:segmentation_id"]) != 1000 || num(vlan["mtu"]) != 1500 {
		t.Fatalf("vlan network: %v", vlan)
	}
	refused(t, srv, admin, "POST", "/v2.0/networks", net(map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 1000}), 409, "VlanIdInUse")
	// Same id on another physnet is another segment.
	create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet2", "provider:segmentation_id": 1000})
	// Type and physnet only: an id from the range.
	auto := create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1"})
	if sid := num(auto["provider:segmentation_id"]); sid < 100 || sid > 200 {
		t.Errorf("allocated vlan %d outside 100:200", sid)
	}
	create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "vxlan", "provider:segmentation_id": 70000})
	refused(t, srv, admin, "POST", "/v2.0/networks", net(map[string]any{"provider:network_type": "vxlan", "provider:segmentation_id": 70000}), 409, "TunnelIdInUse")
	create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "gre", "provider:segmentation_id": 5})
	refused(t, srv, admin, "POST", "/v2.0/networks", net(map[string]any{"provider:network_type": "gre", "provider:segmentation_id": 5}), 409, "TunnelIdInUse")
	flat := create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "flat", "provider:physical_network": "physnet1"})
	refused(t, srv, admin, "POST", "/v2.0/networks", net(map[string]any{"provider:network_type": "flat", "provider:physical_network": "physnet1"}), 409, "FlatNetworkInUse")
	// A tenant network never takes an admin's provider segment.
	tn := create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "vxlan", "provider:segmentation_id": 7})
	for range 3 {
		if sid := num(mkNet(t, srv, admin, "t")["provider:segmentation_id"]); sid == 7 || sid == 70000 {
			t.Fatalf("tenant network got used segment %d", sid)
		}
	}
	refused(t, srv, admin, "PUT", "/v2.0/networks/"+id(tn), net(map[string]any{"provider:segmentation_id": 8}), 400, "")
	// Deleting frees the segment.
	expect(t, srv.Do(admin, "DELETE", "/v2.0/networks/"+id(flat), nil), 204, "")
	create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "flat", "provider:physical_network": "physnet1"})
	expect(t, srv.Do(admin, "DELETE", "/v2.0/networks/"+id(vlan), nil), 204, "")
	create(t, srv, admin, "networks", "network", map[string]any{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 1000})
}
