package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// ---------------------------------------------------------------------------
// Helpers shared by the api_*_test.go files.

var (
	admin = testutil.Admin
	demo  = testutil.Demo
)

var stampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func noAuth(t *testing.T, opts ...testutil.Option) *testutil.Server {
	t.Helper()
	return testutil.StartServer(t, append([]testutil.Option{testutil.NoAuth()}, opts...)...)
}

// expect fails unless the reply has the status (and, if typ is not "",
// the NeutronError type).
func expect(t *testing.T, r *testutil.Response, status int, typ string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if typ != "" && r.ErrorType() != typ {
		t.Fatalf("error type %q, want %q: %s", r.ErrorType(), typ, r.Raw)
	}
}

// create POSTs {singular: body} and returns the created object.
func create(t *testing.T, srv *testutil.Server, c testutil.Caller, coll, singular string, body map[string]any) map[string]any {
	t.Helper()
	r := srv.Do(c, "POST", "/v2.0/"+coll, map[string]any{singular: body})
	expect(t, r, http.StatusCreated, "")
	obj := r.Obj(singular)
	if obj == nil || obj["id"] == nil {
		t.Fatalf("create %s: no object in %s", singular, r.Raw)
	}
	return obj
}

func mkNet(t *testing.T, srv *testutil.Server, c testutil.Caller, name string) map[string]any {
	t.Helper()
	return create(t, srv, c, "networks", "network", map[string]any{"name": name})
}

func mkSubnet(t *testing.T, srv *testutil.Server, c testutil.Caller, netID, cidr string, extra ...map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"network_id": netID, "ip_version": 4, "cidr": cidr}
	for _, e := range extra {
		for k, v := range e {
			body[k] = v
		}
	}
	return create(t, srv, c, "subnets", "subnet", body)
}

func mkPort(t *testing.T, srv *testutil.Server, c testutil.Caller, netID string, extra ...map[string]any) map[string]any {
	t.Helper()
	body := map[string]any{"network_id": netID}
	for _, e := range extra {
		for k, v := range e {
			body[k] = v
		}
	}
	return create(t, srv, c, "ports", "port", body)
}

func id(o map[string]any) string { s, _ := o["id"].(string); return s }

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func strs(v any) []string {
	raw, _ := v.([]any)
	out := []string{}
	for _, x := range raw {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func ids(list []map[string]any) []string {
	out := []string{}
	for _, o := range list {
		out = append(out, id(o))
	}
	return out
}

// refused sends a request that must fail with status/typ and change
// nothing in the store.
func refused(t *testing.T, srv *testutil.Server, c testutil.Caller, method, path string, body any, status int, typ string) *testutil.Response {
	t.Helper()
	before := srv.Dump()
	r := srv.Do(c, method, path, body)
	expect(t, r, status, typ)
	if after := srv.Dump(); after != before {
		t.Fatalf("%s %s failed with %d but changed the store:\nbefore:\n%s\nafter:\n%s", method, path, r.Status, before, after)
	}
	return r
}

// raw sends a request with extra headers (a "" value removes the
// header), authenticated like srv.Do.
func raw(t *testing.T, srv *testutil.Server, c testutil.Caller, method, path string, hdr map[string]string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if srv.Keystone != nil {
		if c.User != "" {
			req.Header.Set("X-Auth-Token", srv.Token(c.User))
		}
	} else if c.Project != "" {
		req.Header.Set("X-Project-Id", c.Project)
		roles := "member,reader"
		if c.Admin {
			roles = "admin,member,reader"
		}
		req.Header.Set("X-Roles", roles)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k) // "" = send no such header
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func checkStandard(t *testing.T, o map[string]any, project string) {
	t.Helper()
	if o["project_id"] != project || o["tenant_id"] != project {
		t.Errorf("project_id %v tenant_id %v, want %s", o["project_id"], o["tenant_id"], project)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		s, _ := o[k].(string)
		if !stampRE.MatchString(s) {
			t.Errorf("%s = %q, want YYYY-MM-DDTHH:MM:SSZ", k, s)
		}
	}
	if _, ok := o["revision_number"].(float64); !ok {
		t.Errorf("revision_number missing: %v", o)
	}
	if _, ok := o["description"].(string); !ok {
		t.Errorf("description missing: %v", o)
	}
	if _, ok := o["tags"].([]any); !ok {
		t.Errorf("tags missing: %v", o)
	}
}

// ---------------------------------------------------------------------------

func TestVersionDocumentAndIndex(t *testing.T) {
	srv := noAuth(t)
	r := srv.Do(testutil.Caller{}, "GET", "/", nil)
	expect(t, r, 200, "")
	vs := r.List("versions")
	if len(vs) != 1 || vs[0]["id"] != "v2.0" || vs[0]["status"] != "CURRENT" {
		t.Fatalf("versions: %s", r.Raw)
	}
	links, _ := vs[0]["links"].([]any)
	l0, _ := links[0].(map[string]any)
	if l0["rel"] != "self" || l0["href"] != srv.URL+"/v2.0/" {
		t.Fatalf("self link: %s", r.Raw)
	}
	expect(t, srv.Do(testutil.Caller{}, "POST", "/", "{}"), 405, "")

	r = srv.Do(demo, "GET", "/v2.0/", nil)
	expect(t, r, 200, "")
	byName := map[string]map[string]any{}
	for _, res := range r.List("resources") {
		byName[res["name"].(string)] = res
	}
	for name, coll := range map[string]string{"network": "networks", "subnet": "subnets", "port": "ports", "security_group": "security_groups"} {
		res := byName[name]
		if res == nil || res["collection"] != coll {
			t.Errorf("index lacks %s: %s", name, r.Raw)
		}
	}
	if l, _ := byName["network"]["links"].([]any); len(l) != 1 || l[0].(map[string]any)["href"] != srv.URL+"/v2.0/networks" {
		t.Errorf("network link: %v", byName["network"])
	}
	expect(t, srv.Do(demo, "GET", "/v2.0", nil), 404, "")
	// ".json" suffix is accepted.
	expect(t, srv.Do(demo, "GET", "/v2.0/networks.json", nil), 200, "")
}

func TestExtensions(t *testing.T) {
	srv := noAuth(t)
	r := srv.Do(demo, "GET", "/v2.0/extensions", nil)
	expect(t, r, 200, "")
	aliases := map[string]bool{}
	for _, e := range r.List("extensions") {
		aliases[e["alias"].(string)] = true
		for _, k := range []string{"name", "description", "updated", "links"} {
			if _, ok := e[k]; !ok {
				t.Errorf("extension %v lacks %s", e["alias"], k)
			}
		}
	}
	for _, a := range []string{"security-group", "quotas", "quota_details", "provider", "external-net", "standard-attr-tag", "revision-if-match", "pagination", "sorting", "filter-validation", "network-ip-availability", "binding", "port-security"} {
		if !aliases[a] {
			t.Errorf("extension %s not listed", a)
		}
	}
	// Not implemented here, so must not be promised.
	for _, a := range []string{"external-gateway-multihoming", "multi-provider", "qos"} {
		if aliases[a] {
			t.Errorf("extension %s listed but not implemented", a)
		}
	}
	r = srv.Do(demo, "GET", "/v2.0/extensions/quotas", nil)
	expect(t, r, 200, "")
	if r.Obj("extension")["alias"] != "quotas" {
		t.Fatalf("show extension: %s", r.Raw)
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/extensions/no-such-alias", nil), 404, "")
}

func TestNetworkCRUD(t *testing.T) {
	srv := noAuth(t)
	r := srv.Do(demo, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "net1", "description": "d"}})
	expect(t, r, 201, "")
	n := r.Obj("network")
	checkStandard(t, n, "demo")
	want := map[string]any{"name": "net1", "description": "d", "admin_state_up": true, "status": "ACTIVE", "shared": false,
		"router:external": false, "port_security_enabled": true, "revision_number": float64(1), "mtu": float64(1450)}
	for k, v := range want {
		if n[k] != v {
			t.Errorf("%s = %v, want %v", k, n[k], v)
		}
	}
	if s := strs(n["subnets"]); len(s) != 0 {
		t.Errorf("subnets %v", s)
	}
	for k := range n {
		if strings.HasPrefix(k, "provider:") {
			t.Errorf("demo sees %s", k)
		}
	}
	nid := id(n)
	r = srv.Do(demo, "GET", "/v2.0/networks/"+nid, nil)
	expect(t, r, 200, "")
	if r.Obj("network")["name"] != "net1" {
		t.Fatal(string(r.Raw))
	}
	r = srv.Do(demo, "PUT", "/v2.0/networks/"+nid, map[string]any{"network": map[string]any{"name": "net2", "admin_state_up": false}})
	expect(t, r, 200, "")
	u := r.Obj("network")
	if u["name"] != "net2" || u["admin_state_up"] != false || num(u["revision_number"]) != 2 {
		t.Fatalf("update: %s", r.Raw)
	}
	checkStandard(t, u, "demo")
	if u["created_at"] != n["created_at"] {
		t.Errorf("created_at changed on update")
	}
	r = srv.Do(demo, "GET", "/v2.0/networks", nil)
	expect(t, r, 200, "")
	if got := ids(r.List("networks")); !slices.Equal(got, []string{nid}) {
		t.Fatalf("list: %v", got)
	}
	resp, body := raw(t, srv, demo, "DELETE", "/v2.0/networks/"+nid, nil, nil)
	if resp.StatusCode != 204 || len(body) != 0 || resp.Header.Get("Content-Type") != "" {
		t.Fatalf("delete: %d %q content-type %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/networks/"+nid, nil), 404, "NetworkNotFound")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/networks/"+nid, nil), 404, "NetworkNotFound")
	expect(t, srv.Do(demo, "PUT", "/v2.0/networks/"+nid, map[string]any{"network": map[string]any{"name": "x"}}), 404, "NetworkNotFound")
}

func TestSubnetCRUDAndNetworkRevision(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	r := srv.Do(demo, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": id(n), "ip_version": 4, "cidr": "192.168.199.7/24", "name": "s"}})
	expect(t, r, 201, "")
	s := r.Obj("subnet")
	checkStandard(t, s, "demo")
	if s["cidr"] != "192.168.199.0/24" || s["gateway_ip"] != "192.168.199.1" || s["enable_dhcp"] != true || num(s["ip_version"]) != 4 {
		t.Fatalf("subnet: %s", r.Raw)
	}
	pools, _ := s["allocation_pools"].([]any)
	if len(pools) != 1 || fmt.Sprint(pools[0]) != "map[end:192.168.199.254 start:192.168.199.2]" {
		t.Errorf("pools %v", pools)
	}
	for _, k := range []string{"ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id"} {
		if v, ok := s[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	for _, k := range []string{"host_routes", "dns_nameservers", "service_types"} {
		if l, ok := s[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %v, want []", k, s[k])
		}
	}
	// Adding a subnet is a change of the network.
	nn := srv.Do(demo, "GET", "/v2.0/networks/"+id(n), nil).Obj("network")
	if num(nn["revision_number"]) != num(n["revision_number"])+1 || !slices.Equal(strs(nn["subnets"]), []string{id(s)}) {
		t.Fatalf("network after subnet: %v", nn)
	}
	r = srv.Do(demo, "PUT", "/v2.0/subnets/"+id(s), map[string]any{"subnet": map[string]any{"name": "s2", "dns_nameservers": []string{"8.8.8.8"}}})
	expect(t, r, 200, "")
	if u := r.Obj("subnet"); u["name"] != "s2" || !slices.Equal(strs(u["dns_nameservers"]), []string{"8.8.8.8"}) || num(u["revision_number"]) != 2 {
		t.Fatalf("update: %s", r.Raw)
	}
	expect(t, srv.Do(demo, "DELETE", "/v2.0/subnets/"+id(s), nil), 204, "")
	nn2 := srv.Do(demo, "GET", "/v2.0/networks/"+id(n), nil).Obj("network")
	if len(strs(nn2["subnets"])) != 0 || num(nn2["revision_number"]) != num(nn["revision_number"])+1 {
		t.Fatalf("network after subnet delete: %v", nn2)
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/subnets/"+id(s), nil), 404, "SubnetNotFound")
	// Gateway outside the CIDR is accepted (on-link).
	s3 := mkSubnet(t, srv, demo, id(n), "10.9.0.0/24", map[string]any{"gateway_ip": "10.10.0.1"})
	if s3["gateway_ip"] != "10.10.0.1" {
		t.Fatalf("gateway %v", s3["gateway_ip"])
	}
	// No gateway.
	s4 := mkSubnet(t, srv, demo, id(n), "10.11.0.0/29", map[string]any{"gateway_ip": nil})
	if v, ok := s4["gateway_ip"]; !ok || v != nil {
		t.Fatalf("gateway_ip %v", v)
	}
	if p := fmt.Sprint(s4["allocation_pools"]); p != "[map[end:10.11.0.6 start:10.11.0.1]]" {
		t.Fatalf("pools without gateway %s", p)
	}
}

func TestPortCRUD(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	s := mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	r := srv.Do(demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "name": "p"}})
	expect(t, r, 201, "")
	p := r.Obj("port")
	checkStandard(t, p, "demo")
	if p["status"] != "DOWN" || p["admin_state_up"] != true || p["device_owner"] != "" || p["binding:vnic_type"] != "normal" {
		t.Errorf("port: %s", r.Raw)
	}
	if mac, _ := p["mac_address"].(string); !regexp.MustCompile(`^fa:16:3e(:[0-9a-f]{2}){3}$`).MatchString(mac) {
		t.Errorf("mac %q", mac)
	}
	fips, _ := p["fixed_ips"].([]any)
	if len(fips) != 1 {
		t.Fatalf("fixed_ips %v", fips)
	}
	fip := fips[0].(map[string]any)
	if fip["subnet_id"] != id(s) || !strings.HasPrefix(fip["ip_address"].(string), "10.0.0.") {
		t.Errorf("fixed ip %v", fip)
	}
	for k := range p {
		if strings.HasPrefix(k, "binding:") && k != "binding:vnic_type" {
			t.Errorf("demo sees %s", k)
		}
	}
	// The project's default security group was created and assigned.
	sgs := srv.Do(demo, "GET", "/v2.0/security-groups?name=default", nil).List("security_groups")
	if len(sgs) != 1 || !slices.Equal(strs(p["security_groups"]), []string{id(sgs[0])}) {
		t.Fatalf("security_groups %v, default %v", p["security_groups"], ids(sgs))
	}
	// Admin sees binding details.
	ap := srv.Do(admin, "GET", "/v2.0/ports/"+id(p), nil).Obj("port")
	for _, k := range []string{"binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"} {
		if _, ok := ap[k]; !ok {
			t.Errorf("admin does not see %s", k)
		}
	}
	// Update: name and a specific address.
	r = srv.Do(demo, "PUT", "/v2.0/ports/"+id(p), map[string]any{"port": map[string]any{"name": "p2", "fixed_ips": []any{map[string]any{"subnet_id": id(s), "ip_address": "10.0.0.50"}}}})
	expect(t, r, 200, "")
	u := r.Obj("port")
	if u["name"] != "p2" || fmt.Sprint(u["fixed_ips"]) != fmt.Sprintf("[map[ip_address:10.0.0.50 subnet_id:%s]]", id(s)) || num(u["revision_number"]) != 2 {
		t.Fatalf("update: %s", r.Raw)
	}
	// The old address is free again, the new one taken.
	old := fip["ip_address"].(string)
	if old != "10.0.0.50" {
		q := mkPort(t, srv, demo, id(n), map[string]any{"fixed_ips": []any{map[string]any{"ip_address": old}}})
		expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(q), nil), 204, "")
	}
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n), "fixed_ips": []any{map[string]any{"ip_address": "10.0.0.50"}}}}, 409, "IpAddressAlreadyAllocated")
	// Specific MAC.
	q := mkPort(t, srv, demo, id(n), map[string]any{"mac_address": "FA:16:3E:AA:BB:CC"})
	if q["mac_address"] != "fa:16:3e:aa:bb:cc" {
		t.Errorf("mac %v", q["mac_address"])
	}
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p), nil), 204, "")
	expect(t, srv.Do(demo, "GET", "/v2.0/ports/"+id(p), nil), 404, "PortNotFound")
}

func TestSecurityGroupCRUD(t *testing.T) {
	srv := noAuth(t)
	// Lazy default group with its 4 rules.
	r := srv.Do(demo, "GET", "/v2.0/security-groups", nil)
	expect(t, r, 200, "")
	groups := r.List("security_groups")
	if len(groups) != 1 || groups[0]["name"] != "default" || groups[0]["description"] != "Default security group" {
		t.Fatalf("default group: %s", r.Raw)
	}
	def := groups[0]
	checkStandard(t, def, "demo")
	rules, _ := def["security_group_rules"].([]any)
	if len(rules) != 4 {
		t.Fatalf("default rules: %v", rules)
	}
	var kinds []string
	for _, x := range rules {
		ru := x.(map[string]any)
		remote := ""
		if ru["remote_group_id"] == id(def) {
			remote = "+self"
		}
		kinds = append(kinds, fmt.Sprint(ru["direction"], "/", ru["ethertype"], remote))
	}
	slices.Sort(kinds)
	if want := []string{"egress/IPv4", "egress/IPv6", "ingress/IPv4+self", "ingress/IPv6+self"}; !slices.Equal(kinds, want) {
		t.Errorf("default rules %v, want %v", kinds, want)
	}
	// Listing again does not create another one.
	if n := len(srv.Do(demo, "GET", "/v2.0/security-groups", nil).List("security_groups")); n != 1 {
		t.Fatalf("%d groups", n)
	}
	r = srv.Do(demo, "GET", "/v2.0/security-group-rules", nil)
	expect(t, r, 200, "")
	if n := len(r.List("security_group_rules")); n != 4 {
		t.Fatalf("%d rules", n)
	}

	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "web", "description": "w"})
	checkStandard(t, sg, "demo")
	if sg["stateful"] != true || len(sg["security_group_rules"].([]any)) != 2 {
		t.Fatalf("new group: %v", sg)
	}
	rule := create(t, srv, demo, "security-group-rules", "security_group_rule", map[string]any{
		"security_group_id": id(sg), "direction": "ingress", "protocol": "TCP", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.1.2.3/8"})
	if rule["protocol"] != "tcp" || rule["ethertype"] != "IPv4" || rule["remote_ip_prefix"] != "10.1.2.3/8" || rule["normalized_cidr"] != "10.0.0.0/8" || num(rule["port_range_min"]) != 22 {
		t.Errorf("rule: %v", rule)
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/security-group-rules/"+id(rule), nil), 200, "")
	got := srv.Do(demo, "GET", "/v2.0/security-groups/"+id(sg), nil).Obj("security_group")
	if len(got["security_group_rules"].([]any)) != 3 {
		t.Fatalf("rules after add: %v", got["security_group_rules"])
	}
	r = srv.Do(demo, "PUT", "/v2.0/security-groups/"+id(sg), map[string]any{"security_group": map[string]any{"name": "web2", "description": "x"}})
	expect(t, r, 200, "")
	if r.Obj("security_group")["name"] != "web2" {
		t.Fatal(string(r.Raw))
	}
	expect(t, srv.Do(demo, "DELETE", "/v2.0/security-group-rules/"+id(rule), nil), 204, "")
	expect(t, srv.Do(demo, "GET", "/v2.0/security-group-rules/"+id(rule), nil), 404, "SecurityGroupRuleNotFound")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/security-groups/"+id(sg), nil), 204, "")
	expect(t, srv.Do(demo, "GET", "/v2.0/security-groups/"+id(sg), nil), 404, "SecurityGroupNotFound")
	// Its rules went with it.
	if n := len(srv.Do(demo, "GET", "/v2.0/security-group-rules", nil).List("security_group_rules")); n != 4 {
		t.Fatalf("%d rules left", n)
	}
	// Another project cannot see the group.
	expect(t, srv.Do(testutil.Caller{Project: "other"}, "GET", "/v2.0/security-groups/"+id(def), nil), 404, "SecurityGroupNotFound")
}

func TestDefaultSecurityGroupRules(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n") // creating a network creates the default group
	mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	groups := srv.Do(demo, "GET", "/v2.0/security-groups", nil).List("security_groups")
	if len(groups) != 1 {
		t.Fatalf("groups %v", ids(groups))
	}
	def := id(groups[0])
	// Cannot rename it; demo cannot delete it.
	refused(t, srv, demo, "PUT", "/v2.0/security-groups/"+def, map[string]any{"security_group": map[string]any{"name": "x"}}, 409, "SecurityGroupCannotUpdateDefault")
	refused(t, srv, demo, "DELETE", "/v2.0/security-groups/"+def, nil, 409, "SecurityGroupCannotRemoveDefault")
	// Its description may change.
	expect(t, srv.Do(demo, "PUT", "/v2.0/security-groups/"+def, map[string]any{"security_group": map[string]any{"description": "mine"}}), 200, "")
	// A second group called default is refused.
	refused(t, srv, demo, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "default"}}, 409, "SecurityGroupDefaultAlreadyExists")
	// In use.
	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "app"})
	p := mkPort(t, srv, demo, id(n), map[string]any{"security_groups": []string{id(sg)}})
	if !slices.Equal(strs(p["security_groups"]), []string{id(sg)}) {
		t.Fatalf("port groups %v", p["security_groups"])
	}
	refused(t, srv, demo, "DELETE", "/v2.0/security-groups/"+id(sg), nil, 409, "SecurityGroupInUse")
	// Ports of network:* owners get no group.
	dhcp := mkPort(t, srv, demo, id(n), map[string]any{"device_owner": "network:dhcp"})
	if len(strs(dhcp["security_groups"])) != 0 {
		t.Errorf("dhcp port groups %v", dhcp["security_groups"])
	}
	// Admin may delete the default group once unused.
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p), nil), 204, "")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/security-groups/"+id(sg), nil), 204, "")
	expect(t, srv.Do(admin, "DELETE", "/v2.0/security-groups/"+def, nil), 204, "")
}

func TestSecurityGroupRuleValidation(t *testing.T) {
	srv := noAuth(t)
	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "v"})
	rule := func(extra map[string]any) map[string]any {
		b := map[string]any{"security_group_id": id(sg), "direction": "ingress"}
		for k, v := range extra {
			b[k] = v
		}
		return map[string]any{"security_group_rule": b}
	}
	cases := []struct {
		name   string
		body   map[string]any
		status int
		typ    string
	}{
		{"bad protocol", map[string]any{"protocol": "bogus"}, 400, "SecurityGroupRuleInvalidProtocol"},
		{"protocol number too big", map[string]any{"protocol": "256"}, 400, "SecurityGroupRuleInvalidProtocol"},
		{"min > max", map[string]any{"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}, 400, "SecurityGroupInvalidPortRange"},
		{"port 0", map[string]any{"protocol": "tcp", "port_range_min": 0, "port_range_max": 80}, 400, "SecurityGroupInvalidPortValue"},
		{"port too big", map[string]any{"protocol": "udp", "port_range_min": 80, "port_range_max": 70000}, 400, "SecurityGroupInvalidPortValue"},
		{"only min", map[string]any{"protocol": "tcp", "port_range_min": 80}, 400, "SecurityGroupInvalidPortRange"},
		{"ports without protocol", map[string]any{"port_range_min": 80, "port_range_max": 80}, 400, "SecurityGroupProtocolRequiredWithPorts"},
		{"ports with gre", map[string]any{"protocol": "gre", "port_range_min": 80, "port_range_max": 80}, 400, ""},
		{"icmp code without type", map[string]any{"protocol": "icmp", "port_range_max": 0}, 400, "SecurityGroupMissingIcmpType"},
		{"icmp type 256", map[string]any{"protocol": "icmp", "port_range_min": 256}, 400, "SecurityGroupInvalidIcmpValue"},
		{"ethertype vs prefix", map[string]any{"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, 400, "SecurityGroupRuleParameterConflict"},
		{"ethertype v4 vs v6 prefix", map[string]any{"remote_ip_prefix": "2001:db8::/64"}, 400, "SecurityGroupRuleParameterConflict"},
		{"group and prefix", map[string]any{"remote_group_id": id(sg), "remote_ip_prefix": "10.0.0.0/8"}, 400, "SecurityGroupMultipleRemoteEntites"},
		{"bad direction", map[string]any{"direction": "sideways"}, 400, ""},
		{"bad ethertype", map[string]any{"ethertype": "IPv5"}, 400, "SecurityGroupRuleInvalidEtherType"},
		{"bad prefix", map[string]any{"remote_ip_prefix": "10.0.0.0/33"}, 400, ""},
		{"unknown group", map[string]any{"security_group_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}, 404, "SecurityGroupNotFound"},
		{"unknown remote group", map[string]any{"remote_group_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}, 404, "SecurityGroupNotFound"},
		{"missing direction", map[string]any{"direction": nil}, 400, ""},
		{"duplicate of default egress", map[string]any{"direction": "egress"}, 409, "SecurityGroupRuleExists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := rule(tc.body)
			if tc.name == "missing direction" {
				delete(body["security_group_rule"].(map[string]any), "direction")
			}
			refused(t, srv, demo, "POST", "/v2.0/security-group-rules", body, tc.status, tc.typ)
		})
	}
	// Accepted forms.
	for _, ok := range []map[string]any{
		{"protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
		{"protocol": "icmp", "port_range_min": 3},
		{"protocol": "6", "port_range_min": 1, "port_range_max": 65535},
		{"protocol": "any", "remote_ip_prefix": "192.168.0.0/16"},
		{"ethertype": "ipv6", "protocol": "ipv6-icmp"},
		{"protocol": "udp", "remote_group_id": id(sg)},
	} {
		r := srv.Do(demo, "POST", "/v2.0/security-group-rules", rule(ok))
		expect(t, r, 201, "")
	}
	// An exact duplicate of a created rule is 409 naming it.
	r := srv.Do(demo, "POST", "/v2.0/security-group-rules", rule(map[string]any{"protocol": "tcp", "port_range_min": 443, "port_range_max": 443}))
	expect(t, r, 201, "")
	dup := refused(t, srv, demo, "POST", "/v2.0/security-group-rules", rule(map[string]any{"protocol": "tcp", "port_range_min": 443, "port_range_max": 443}), 409, "SecurityGroupRuleExists")
	if !strings.Contains(string(dup.Raw), id(r.Obj("security_group_rule"))) {
		t.Errorf("duplicate message does not name the rule: %s", dup.Raw)
	}
	// Rules are immutable.
	if st := srv.Do(demo, "PUT", "/v2.0/security-group-rules/"+id(r.Obj("security_group_rule")), map[string]any{"security_group_rule": map[string]any{"description": "x"}}).Status; st < 400 {
		t.Errorf("PUT rule: %d", st)
	}
}

func TestQuotas(t *testing.T) {
	srv := noAuth(t)
	r := srv.Do(demo, "GET", "/v2.0/quotas/demo", nil)
	expect(t, r, 200, "")
	q := r.Obj("quota")
	for k, v := range map[string]int{"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50, "security_group": 10, "security_group_rule": 100, "subnetpool": -1, "rbac_policy": 10} {
		if num(q[k]) != v {
			t.Errorf("quota %s = %v, want %d", k, q[k], v)
		}
	}
	r = srv.Do(demo, "GET", "/v2.0/quotas/demo/default", nil)
	expect(t, r, 200, "")
	if num(r.Obj("quota")["network"]) != 100 {
		t.Fatal(string(r.Raw))
	}
	mkNet(t, srv, demo, "a")
	r = srv.Do(demo, "GET", "/v2.0/quotas/demo/details", nil)
	expect(t, r, 200, "")
	nd, _ := r.Obj("quota")["network"].(map[string]any)
	if num(nd["used"]) != 1 || num(nd["limit"]) != 100 || num(nd["reserved"]) != 0 {
		t.Fatalf("details: %s", r.Raw)
	}
	sgd, _ := r.Obj("quota")["security_group"].(map[string]any)
	if num(sgd["used"]) != 1 {
		t.Errorf("default group not counted: %v", sgd)
	}
	// Only admins change quotas.
	refused(t, srv, demo, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"network": 1}}, 403, "")
	refused(t, srv, admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"bogus": 1}}, 400, "")
	refused(t, srv, admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"network": "many"}}, 400, "")
	refused(t, srv, admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"network": -2}}, 400, "")
	r = srv.Do(admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"network": 2, "port": 1}})
	expect(t, r, 200, "")
	if num(r.Obj("quota")["network"]) != 2 || num(r.Obj("quota")["subnet"]) != 100 {
		t.Fatalf("put: %s", r.Raw)
	}
	r = srv.Do(admin, "GET", "/v2.0/quotas", nil)
	expect(t, r, 200, "")
	if l := r.List("quotas"); len(l) != 1 || l[0]["project_id"] != "demo" || num(l[0]["network"]) != 2 {
		t.Fatalf("list: %s", r.Raw)
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/quotas", nil), 403, "")
	n2 := mkNet(t, srv, demo, "b")
	refused(t, srv, demo, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "c"}}, 409, "OverQuota")
	// Bulk create going over the quota creates nothing.
	expect(t, srv.Do(demo, "DELETE", "/v2.0/networks/"+id(n2), nil), 204, "")
	refused(t, srv, demo, "POST", "/v2.0/networks", map[string]any{"networks": []any{map[string]any{"name": "c"}, map[string]any{"name": "d"}}}, 409, "OverQuota")
	mkSubnet(t, srv, demo, id(mkNet(t, srv, demo, "c")), "10.0.0.0/24")
	refused(t, srv, demo, "GET", "/v2.0/quotas/demo/details", nil, 200, "")
	nets := srv.Do(demo, "GET", "/v2.0/networks?name=c", nil).List("networks")
	mkPort(t, srv, demo, id(nets[0]))
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(nets[0])}}, 409, "OverQuota")
	// Reset.
	resp, body := raw(t, srv, admin, "DELETE", "/v2.0/quotas/demo", nil, nil)
	if resp.StatusCode != 204 || len(body) != 0 {
		t.Fatalf("delete quota: %d %s", resp.StatusCode, body)
	}
	if num(srv.Do(demo, "GET", "/v2.0/quotas/demo", nil).Obj("quota")["network"]) != 100 {
		t.Fatal("quota not reset")
	}
	if l := srv.Do(admin, "GET", "/v2.0/quotas", nil).List("quotas"); len(l) != 0 {
		t.Fatalf("quotas after reset: %v", l)
	}
	mkNet(t, srv, demo, "d")
}

func TestNetworkIPAvailability(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	s := mkSubnet(t, srv, demo, id(n), "10.0.0.0/24", map[string]any{"name": "s"})
	mkPort(t, srv, demo, id(n))
	mkPort(t, srv, demo, id(n))
	r := srv.Do(admin, "GET", "/v2.0/network-ip-availabilities/"+id(n), nil)
	expect(t, r, 200, "")
	a := r.Obj("network_ip_availability")
	if a["network_id"] != id(n) || a["network_name"] != "n" || a["project_id"] != "demo" || a["tenant_id"] != "demo" || num(a["total_ips"]) != 253 || num(a["used_ips"]) != 2 {
		t.Fatalf("availability: %s", r.Raw)
	}
	subs, _ := a["subnet_ip_availability"].([]any)
	if len(subs) != 1 {
		t.Fatalf("subnets %v", subs)
	}
	sa := subs[0].(map[string]any)
	if sa["subnet_id"] != id(s) || sa["subnet_name"] != "s" || sa["cidr"] != "10.0.0.0/24" || num(sa["ip_version"]) != 4 || num(sa["total_ips"]) != 253 || num(sa["used_ips"]) != 2 {
		t.Fatalf("subnet availability %v", sa)
	}
	r = srv.Do(admin, "GET", "/v2.0/network-ip-availabilities", nil)
	expect(t, r, 200, "")
	if l := r.List("network_ip_availabilities"); len(l) != 1 || l[0]["network_id"] != id(n) {
		t.Fatalf("list: %s", r.Raw)
	}
	if l := srv.Do(admin, "GET", "/v2.0/network-ip-availabilities?network_name=zz", nil).List("network_ip_availabilities"); len(l) != 0 {
		t.Fatalf("filtered list: %v", l)
	}
	expect(t, srv.Do(demo, "GET", "/v2.0/network-ip-availabilities", nil), 403, "")
	expect(t, srv.Do(admin, "GET", "/v2.0/network-ip-availabilities/0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000", nil), 404, "NetworkNotFound")
}

func TestTags(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	base := "/v2.0/networks/" + id(n) + "/tags"
	rev := func() int {
		return num(srv.Do(demo, "GET", "/v2.0/networks/"+id(n), nil).Obj("network")["revision_number"])
	}
	r0 := rev()
	r := srv.Do(demo, "PUT", base, map[string]any{"tags": []string{"a", "b", "a"}})
	expect(t, r, 200, "")
	if got := strs(r.Body["tags"]); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("put tags: %v", got)
	}
	if rev() != r0+1 {
		t.Errorf("tags did not bump revision")
	}
	r = srv.Do(demo, "GET", base, nil)
	expect(t, r, 200, "")
	if got := strs(r.Body["tags"]); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("get tags: %v", got)
	}
	expect(t, srv.Do(demo, "PUT", base+"/c", nil), 201, "")
	expect(t, srv.Do(demo, "PUT", base+"/c", nil), 201, "") // idempotent
	expect(t, srv.Do(demo, "GET", base+"/c", nil), 204, "")
	expect(t, srv.Do(demo, "GET", base+"/zz", nil), 404, "")
	if got := strs(srv.Do(demo, "GET", "/v2.0/networks/"+id(n), nil).Obj("network")["tags"]); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("network tags: %v", got)
	}
	expect(t, srv.Do(demo, "DELETE", base+"/a", nil), 204, "")
	refused(t, srv, demo, "DELETE", base+"/a", nil, 404, "")
	if got := strs(srv.Do(demo, "GET", base, nil).Body["tags"]); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("after delete: %v", got)
	}
	resp, body := raw(t, srv, demo, "DELETE", base, nil, nil)
	if resp.StatusCode != 204 || len(body) != 0 {
		t.Fatalf("delete all: %d %s", resp.StatusCode, body)
	}
	if got := strs(srv.Do(demo, "GET", base, nil).Body["tags"]); len(got) != 0 {
		t.Fatalf("after delete all: %v", got)
	}
	refused(t, srv, demo, "PUT", base, map[string]any{"tags": "notalist"}, 400, "")
	refused(t, srv, demo, "PUT", base, map[string]any{"tags": []string{strings.Repeat("x", 256)}}, 400, "")
	// Tags on the other tagged kinds.
	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "g"})
	s := mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	p := mkPort(t, srv, demo, id(n), map[string]any{"tags": []string{"t1"}})
	if got := strs(p["tags"]); !slices.Equal(got, []string{"t1"}) {
		t.Errorf("port tags on create: %v", got)
	}
	for _, path := range []string{"/v2.0/security-groups/" + id(sg), "/v2.0/subnets/" + id(s), "/v2.0/ports/" + id(p)} {
		expect(t, srv.Do(demo, "PUT", path+"/tags/x", nil), 201, "")
		expect(t, srv.Do(demo, "GET", path+"/tags/x", nil), 204, "")
	}
	// Invisible resources are 404.
	expect(t, srv.Do(testutil.Caller{Project: "other"}, "PUT", base+"/x", nil), 404, "NetworkNotFound")
}

func TestIfMatchRevision(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	path := "/v2.0/networks/" + id(n)
	before := srv.Dump()
	resp, body := raw(t, srv, demo, "PUT", path, map[string]string{"If-Match": "revision_number=7"}, map[string]any{"network": map[string]any{"name": "x"}})
	if resp.StatusCode != 412 {
		t.Fatalf("PUT with stale revision: %d %s", resp.StatusCode, body)
	}
	if srv.Dump() != before {
		t.Fatal("412 changed the store")
	}
	resp, body = raw(t, srv, demo, "DELETE", path, map[string]string{"If-Match": "revision_number=7"}, nil)
	if resp.StatusCode != 412 {
		t.Fatalf("DELETE with stale revision: %d %s", resp.StatusCode, body)
	}
	resp, body = raw(t, srv, demo, "PUT", path, map[string]string{"If-Match": "revision_number=1"}, map[string]any{"network": map[string]any{"name": "x"}})
	if resp.StatusCode != 200 {
		t.Fatalf("PUT with current revision: %d %s", resp.StatusCode, body)
	}
	resp, _ = raw(t, srv, demo, "DELETE", path, map[string]string{"If-Match": "revision_number=2"}, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE with current revision: %d", resp.StatusCode)
	}
}

func TestBulkCreate(t *testing.T) {
	srv := noAuth(t)
	r := srv.Do(demo, "POST", "/v2.0/networks", map[string]any{"networks": []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}})
	expect(t, r, 201, "")
	nets := r.List("networks")
	if len(nets) != 2 || nets[0]["name"] != "a" || nets[1]["name"] != "b" {
		t.Fatalf("bulk: %s", r.Raw)
	}
	mkSubnet(t, srv, demo, id(nets[0]), "10.0.0.0/24")
	// One bad port: nothing is created (and no default group either).
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": id(nets[0]), "name": "ok"},
		map[string]any{"network_id": id(nets[0]), "fixed_ips": []any{map[string]any{"ip_address": "10.9.9.9"}}},
	}}, 400, "InvalidIpForNetwork")
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": id(nets[0]), "name": "ok"},
		map[string]any{"network_id": id(nets[0]), "bogus": 1},
	}}, 400, "")
	// Two ports asking for the same address in one request.
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": id(nets[0]), "fixed_ips": []any{map[string]any{"ip_address": "10.0.0.9"}}},
		map[string]any{"network_id": id(nets[0]), "fixed_ips": []any{map[string]any{"ip_address": "10.0.0.9"}}},
	}}, 409, "IpAddressAlreadyAllocated")
	refused(t, srv, demo, "POST", "/v2.0/networks", map[string]any{"networks": []any{}}, 400, "")
	r = srv.Do(demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": id(nets[0]), "name": "p1"},
		map[string]any{"network_id": id(nets[0]), "name": "p2"},
	}})
	expect(t, r, 201, "")
	ports := r.List("ports")
	if len(ports) != 2 || ports[0]["name"] != "p1" || ports[1]["name"] != "p2" {
		t.Fatalf("bulk ports: %s", r.Raw)
	}
	// Both got the same (single) default group.
	if g0, g1 := strs(ports[0]["security_groups"]), strs(ports[1]["security_groups"]); len(g0) != 1 || !slices.Equal(g0, g1) {
		t.Fatalf("groups %v %v", g0, g1)
	}
	if n := len(srv.Do(demo, "GET", "/v2.0/security-groups", nil).List("security_groups")); n != 1 {
		t.Fatalf("%d groups", n)
	}
}

func TestDeleteNetworkWithPorts(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	s := mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	dhcp := mkPort(t, srv, demo, id(n), map[string]any{"device_owner": "network:dhcp"})
	p := mkPort(t, srv, demo, id(n))
	refused(t, srv, demo, "DELETE", "/v2.0/networks/"+id(n), nil, 409, "NetworkInUse")
	refused(t, srv, demo, "DELETE", "/v2.0/subnets/"+id(s), nil, 409, "SubnetInUse")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p), nil), 204, "")
	// DHCP ports do not block and go with the network (and its subnets).
	expect(t, srv.Do(demo, "DELETE", "/v2.0/networks/"+id(n), nil), 204, "")
	expect(t, srv.Do(demo, "GET", "/v2.0/ports/"+id(dhcp), nil), 404, "PortNotFound")
	expect(t, srv.Do(demo, "GET", "/v2.0/subnets/"+id(s), nil), 404, "SubnetNotFound")
	dump := srv.Dump()
	for _, bad := range []string{id(n), id(s), id(dhcp), "c/ip:", "c/mac:"} {
		if strings.Contains(dump, bad) {
			t.Errorf("store still holds %s:\n%s", bad, dump)
		}
	}
	// A DHCP port does not block deleting its subnet either.
	n2 := mkNet(t, srv, demo, "n2")
	s2 := mkSubnet(t, srv, demo, id(n2), "10.0.0.0/24")
	d2 := mkPort(t, srv, demo, id(n2), map[string]any{"device_owner": "network:dhcp"})
	expect(t, srv.Do(demo, "DELETE", "/v2.0/subnets/"+id(s2), nil), 204, "")
	expect(t, srv.Do(demo, "GET", "/v2.0/ports/"+id(d2), nil), 404, "")
}

func TestRevisionBumps(t *testing.T) {
	srv := noAuth(t)
	sg := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "g"})
	rev := func(path, key string) int {
		t.Helper()
		return num(srv.Do(demo, "GET", path, nil).Obj(key)["revision_number"])
	}
	sgPath := "/v2.0/security-groups/" + id(sg)
	r0 := rev(sgPath, "security_group")
	rule := create(t, srv, demo, "security-group-rules", "security_group_rule", map[string]any{"security_group_id": id(sg), "direction": "ingress", "protocol": "udp"})
	if r1 := rev(sgPath, "security_group"); r1 != r0+1 {
		t.Errorf("adding a rule: revision %d -> %d", r0, r1)
	}
	expect(t, srv.Do(demo, "DELETE", "/v2.0/security-group-rules/"+id(rule), nil), 204, "")
	if r2 := rev(sgPath, "security_group"); r2 != r0+2 {
		t.Errorf("deleting a rule: revision %d -> %d", r0, r2)
	}
	n := mkNet(t, srv, demo, "n")
	s := mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	p := mkPort(t, srv, demo, id(n))
	pPath := "/v2.0/ports/" + id(p)
	expect(t, srv.Do(demo, "PUT", pPath+"/tags/x", nil), 201, "")
	if r := rev(pPath, "port"); r != 2 {
		t.Errorf("port revision after tag: %d", r)
	}
	sPath := "/v2.0/subnets/" + id(s)
	expect(t, srv.Do(demo, "PUT", sPath, map[string]any{"subnet": map[string]any{"enable_dhcp": false}}), 200, "")
	if r := rev(sPath, "subnet"); r != 2 {
		t.Errorf("subnet revision after update: %d", r)
	}
	// Bulk port creation may carry tags (tag-ports-during-bulk-creation).
	r := srv.Do(demo, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": id(n), "tags": []string{"a"}},
		map[string]any{"network_id": id(n), "tags": []string{"b", "c"}},
	}})
	expect(t, r, 201, "")
	if l := r.List("ports"); !slices.Equal(strs(l[0]["tags"]), []string{"a"}) || !slices.Equal(strs(l[1]["tags"]), []string{"b", "c"}) {
		t.Errorf("bulk tags: %s", r.Raw)
	}
}
