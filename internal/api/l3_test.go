package api_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// Router and floating IP API rules (fact sheet §3.4–3.5, §4.4–4.7): every
// refused request is checked for upstream's status and NeutronError type
// and for leaving the store exactly as it was.

// l3env is an external network (172.24.4.0/24) and a demo network
// (10.0.0.0/24) for routers and floating IPs.
type l3env struct {
	srv         *testutil.Server
	ext, extSub map[string]any
	net, sub    map[string]any
}

func newL3(t *testing.T, opts ...testutil.Option) *l3env {
	t.Helper()
	srv := noAuth(t, opts...)
	e := &l3env{srv: srv}
	e.ext = create(t, srv, admin, "networks", "network", map[string]any{"name": "public", "router:external": true})
	e.extSub = mkSubnet(t, srv, admin, id(e.ext), "172.24.4.0/24")
	e.net = mkNet(t, srv, demo, "private")
	e.sub = mkSubnet(t, srv, demo, id(e.net), "10.0.0.0/24")
	return e
}

func mkRouter(t *testing.T, srv *testutil.Server, c testutil.Caller, body map[string]any) map[string]any {
	t.Helper()
	return create(t, srv, c, "routers", "router", body)
}

func routerPath(r map[string]any, action ...string) string {
	p := "/v2.0/routers/" + id(r)
	for _, a := range action {
		p += "/" + a
	}
	return p
}

// addIface adds an interface and returns the interface-info body.
func addIface(t *testing.T, srv *testutil.Server, c testutil.Caller, r map[string]any, body map[string]any) map[string]any {
	t.Helper()
	resp := srv.Do(c, "PUT", routerPath(r, "add_router_interface"), body)
	expect(t, resp, 200, "")
	return resp.Body
}

func setGateway(t *testing.T, srv *testutil.Server, c testutil.Caller, r map[string]any, gw any) map[string]any {
	t.Helper()
	resp := srv.Do(c, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": gw}})
	expect(t, resp, 200, "")
	return resp.Obj("router")
}

func show(t *testing.T, srv *testutil.Server, c testutil.Caller, coll, singular, objID string) map[string]any {
	t.Helper()
	r := srv.Do(c, "GET", "/v2.0/"+coll+"/"+objID, nil)
	expect(t, r, 200, "")
	return r.Obj(singular)
}

func portsOf(t *testing.T, srv *testutil.Server, query string) []map[string]any {
	t.Helper()
	r := srv.Do(admin, "GET", "/v2.0/ports?"+query, nil)
	expect(t, r, 200, "")
	return r.List("ports")
}

func fixedIPs(p map[string]any) [][2]string {
	var out [][2]string
	raw, _ := p["fixed_ips"].([]any)
	for _, x := range raw {
		m, _ := x.(map[string]any)
		s, _ := m["subnet_id"].(string)
		ip, _ := m["ip_address"].(string)
		out = append(out, [2]string{s, ip})
	}
	return out
}

func routesOf(r map[string]any) []string {
	raw, _ := r["routes"].([]any)
	out := []string{}
	for _, x := range raw {
		m, _ := x.(map[string]any)
		out = append(out, fmt.Sprint(m["destination"], ">", m["nexthop"]))
	}
	slices.Sort(out)
	return out
}

func route(dst, hop string) map[string]any { return map[string]any{"destination": dst, "nexthop": hop} }

func TestRouterCRUD(t *testing.T) {
	e := newL3(t)
	srv := e.srv
	r := mkRouter(t, srv, demo, map[string]any{"name": "r1"})
	checkStandard(t, r, "demo")
	if r["name"] != "r1" || r["status"] != "ACTIVE" || r["admin_state_up"] != true || r["external_gateway_info"] != nil {
		t.Fatalf("created router: %v", r)
	}
	if routes, ok := r["routes"].([]any); !ok || len(routes) != 0 {
		t.Errorf("routes = %v, want []", r["routes"])
	}
	// distributed and ha are admin-only attributes: hidden from members.
	for _, k := range []string{"distributed", "ha"} {
		if _, ok := r[k]; ok {
			t.Errorf("member sees %s: %v", k, r)
		}
	}
	ar := show(t, srv, admin, "routers", "router", id(r))
	if ar["distributed"] != false || ar["ha"] != false {
		t.Errorf("admin view lacks distributed/ha: %v", ar)
	}
	// Members may not set them.
	refused(t, srv, demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"distributed": true}}, 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"ha": true}}, 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"distributed": true}}, 403, "PolicyNotAuthorized")
	// Read-only and unknown attributes.
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"status": "ERROR"}}, 400, "HTTPBadRequest")
	refused(t, srv, demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"routes": []any{}}}, 400, "HTTPBadRequest")
	refused(t, srv, demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"bogus": 1}}, 400, "HTTPBadRequest")

	// Show, list, update.
	if got := show(t, srv, demo, "routers", "router", id(r)); got["name"] != "r1" {
		t.Fatalf("show: %v", got)
	}
	other := mkRouter(t, srv, admin, map[string]any{"name": "admins"})
	if got := listIDs(t, srv, demo, "routers", ""); !sameSet(got, []string{id(r)}) {
		t.Errorf("member lists %v, want only its router", got)
	}
	if got := listIDs(t, srv, admin, "routers", ""); !sameSet(got, []string{id(r), id(other)}) {
		t.Errorf("admin lists %v", got)
	}
	refused(t, srv, demo, "GET", routerPath(other), nil, 404, "RouterNotFound")
	refused(t, srv, demo, "PUT", routerPath(other), map[string]any{"router": map[string]any{"name": "x"}}, 404, "RouterNotFound")
	refused(t, srv, demo, "DELETE", routerPath(other), nil, 404, "RouterNotFound")
	resp := srv.Do(demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"name": "r2", "admin_state_up": false, "description": "d"}})
	expect(t, resp, 200, "")
	u := resp.Obj("router")
	if u["name"] != "r2" || u["admin_state_up"] != false || u["description"] != "d" || num(u["revision_number"]) <= num(r["revision_number"]) {
		t.Fatalf("update: %v", u)
	}
	// Admin creates a distributed router.
	d := mkRouter(t, srv, admin, map[string]any{"name": "dvr", "distributed": true})
	if d["distributed"] != true {
		t.Fatalf("distributed router: %v", d)
	}
	// Delete.
	for _, x := range []map[string]any{r, other, d} {
		expect(t, srv.Do(admin, "DELETE", routerPath(x), nil), 204, "")
	}
	refused(t, srv, demo, "GET", routerPath(r), nil, 404, "RouterNotFound")
	refused(t, srv, demo, "DELETE", routerPath(r), nil, 404, "RouterNotFound")
}

func TestRouterGateway(t *testing.T) {
	e := newL3(t)
	srv := e.srv
	r := mkRouter(t, srv, demo, map[string]any{"name": "r"})
	// Not an external network: 400.
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": id(e.net)}}}, 400, "BadRequest")
	refused(t, srv, demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": id(e.net)}}}, 400, "BadRequest")
	// Unknown network: 404.
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}}}, 404, "NetworkNotFound")
	// enable_snat and external_fixed_ips are admin-only.
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": id(e.ext), "enable_snat": false}}}, 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": id(e.ext), "external_fixed_ips": []any{map[string]any{"ip_address": "172.24.4.50"}}}}}, 403, "PolicyNotAuthorized")
	refused(t, srv, demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": id(e.ext), "enable_snat": true}}}, 403, "PolicyNotAuthorized")
	// network_id is required inside.
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"enable_snat": true}}}, 400, "")
	// An external fixed IP may not be the subnet's gateway.
	refused(t, srv, admin, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": id(e.ext), "external_fixed_ips": []any{map[string]any{"ip_address": "172.24.4.1"}}}}}, 400, "BadRequest")

	// A member sets the gateway: all three keys come back.
	g := setGateway(t, srv, demo, r, map[string]any{"network_id": id(e.ext)})
	gi, _ := g["external_gateway_info"].(map[string]any)
	if gi == nil || gi["network_id"] != id(e.ext) || gi["enable_snat"] != true {
		t.Fatalf("gateway info: %v", g["external_gateway_info"])
	}
	efi := fixedIPs(map[string]any{"fixed_ips": gi["external_fixed_ips"]})
	if len(efi) != 1 || efi[0][0] != id(e.extSub) || !strings.HasPrefix(efi[0][1], "172.24.4.") {
		t.Fatalf("external_fixed_ips: %v", gi["external_fixed_ips"])
	}
	gw := portsOf(t, srv, "device_owner=network:router_gateway&device_id="+id(r))
	if len(gw) != 1 || gw[0]["project_id"] != "" || fixedIPs(gw[0])[0][1] != efi[0][1] {
		t.Fatalf("gateway port: %v", gw)
	}
	// The member does not see the gateway port (no project).
	if l := srv.Do(demo, "GET", "/v2.0/ports?device_id="+id(r), nil).List("ports"); len(l) != 0 {
		t.Errorf("member sees router-owned gateway port: %v", l)
	}
	// Admin: explicit IP (one no port took at random) and SNAT off.
	explicit := freeExternalAddress(t, srv, id(e.ext), 50)
	g = setGateway(t, srv, admin, r, map[string]any{"network_id": id(e.ext), "enable_snat": false, "external_fixed_ips": []any{map[string]any{"ip_address": explicit}}})
	gi, _ = g["external_gateway_info"].(map[string]any)
	if gi["enable_snat"] != false || fixedIPs(map[string]any{"fixed_ips": gi["external_fixed_ips"]})[0][1] != explicit {
		t.Fatalf("admin gateway: %v", gi)
	}
	if gw2 := portsOf(t, srv, "device_owner=network:router_gateway&device_id="+id(r)); len(gw2) != 1 || id(gw2[0]) != id(gw[0]) {
		t.Errorf("gateway port replaced instead of re-addressed: %v", gw2)
	}
	// The old address is free again: a floating IP may take it (admin).
	f := create(t, srv, admin, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext), "floating_ip_address": efi[0][1]})
	expect(t, srv.Do(admin, "DELETE", "/v2.0/floatingips/"+id(f), nil), 204, "")
	// Clearing: {} and null.
	g = setGateway(t, srv, demo, r, map[string]any{})
	if g["external_gateway_info"] != nil {
		t.Fatalf("cleared gateway: %v", g)
	}
	if gw := portsOf(t, srv, "device_owner=network:router_gateway"); len(gw) != 0 {
		t.Fatalf("gateway port left: %v", gw)
	}
	setGateway(t, srv, demo, r, map[string]any{"network_id": id(e.ext)})
	g = setGateway(t, srv, demo, r, nil)
	if g["external_gateway_info"] != nil {
		t.Fatalf("cleared gateway: %v", g)
	}
	// Create with a gateway; delete removes the gateway port too.
	r2 := mkRouter(t, srv, demo, map[string]any{"external_gateway_info": map[string]any{"network_id": id(e.ext)}})
	if gi, _ := r2["external_gateway_info"].(map[string]any); gi == nil || gi["enable_snat"] != true {
		t.Fatalf("create with gateway: %v", r2)
	}
	expect(t, srv.Do(demo, "DELETE", routerPath(r2), nil), 204, "")
	if gw := portsOf(t, srv, "device_owner=network:router_gateway"); len(gw) != 0 {
		t.Fatalf("gateway port left after delete: %v", gw)
	}
	// The gateway network's subnets count as connected: a private subnet
	// overlapping them cannot be attached.
	setGateway(t, srv, demo, r, map[string]any{"network_id": id(e.ext)})
	n2 := mkNet(t, srv, demo, "n2")
	s2 := mkSubnet(t, srv, demo, id(n2), "172.24.4.0/25")
	refused(t, srv, demo, "PUT", routerPath(r, "add_router_interface"), map[string]any{"subnet_id": id(s2)}, 400, "BadRequest")
}

func TestRouterExtraRoutes(t *testing.T) {
	e := newL3(t)
	srv := e.srv
	r := mkRouter(t, srv, demo, map[string]any{"name": "r"})
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(e.sub)})
	put := func(routes ...map[string]any) map[string]any {
		return map[string]any{"router": map[string]any{"routes": routes}}
	}
	// Nexthop not on a connected subnet.
	refused(t, srv, demo, "PUT", routerPath(r), put(route("10.9.0.0/24", "192.168.1.1")), 400, "InvalidRoutes")
	// Nexthop is the router's own interface address.
	refused(t, srv, demo, "PUT", routerPath(r), put(route("10.9.0.0/24", "10.0.0.1")), 400, "InvalidRoutes")
	// Malformed.
	refused(t, srv, demo, "PUT", routerPath(r), put(route("banana", "10.0.0.5")), 400, "InvalidRoutes")
	// More than 30.
	var many []map[string]any
	for i := range 31 {
		many = append(many, route(fmt.Sprintf("10.%d.0.0/24", 100+i), "10.0.0.5"))
	}
	refused(t, srv, demo, "PUT", routerPath(r), put(many...), 400, "RoutesExhausted")
	// Exactly 30 is fine; PUT replaces.
	resp := srv.Do(demo, "PUT", routerPath(r), put(many[:30]...))
	expect(t, resp, 200, "")
	if n := len(routesOf(resp.Obj("router"))); n != 30 {
		t.Fatalf("%d routes, want 30", n)
	}
	// Adding one more through add_extraroutes is exhausted too.
	refused(t, srv, demo, "PUT", routerPath(r, "add_extraroutes"), put(many[30]), 400, "RoutesExhausted")
	resp = srv.Do(demo, "PUT", routerPath(r), put(route("10.1.0.0/24", "10.0.0.5")))
	expect(t, resp, 200, "")
	if got := routesOf(resp.Obj("router")); !slices.Equal(got, []string{"10.1.0.0/24>10.0.0.5"}) {
		t.Fatalf("routes after replace: %v", got)
	}
	// add_extraroutes merges: exact duplicates collapse, same destination
	// with another nexthop is kept.
	resp = srv.Do(demo, "PUT", routerPath(r, "add_extraroutes"), put(route("10.1.0.0/24", "10.0.0.5"), route("10.1.0.0/24", "10.0.0.6"), route("10.2.0.0/24", "10.0.0.7")))
	expect(t, resp, 200, "")
	want := []string{"10.1.0.0/24>10.0.0.5", "10.1.0.0/24>10.0.0.6", "10.2.0.0/24>10.0.0.7"}
	if got := routesOf(resp.Obj("router")); !slices.Equal(got, want) {
		t.Fatalf("after add: %v, want %v", got, want)
	}
	if resp.Obj("router")["id"] != id(r) {
		t.Fatalf("add_extraroutes does not return the router: %s", resp.Raw)
	}
	refused(t, srv, demo, "PUT", routerPath(r, "add_extraroutes"), put(route("10.3.0.0/24", "192.168.1.1")), 400, "InvalidRoutes")
	// remove_extraroutes: exact matches only, absent ones ignored.
	resp = srv.Do(demo, "PUT", routerPath(r, "remove_extraroutes"), put(route("10.1.0.0/24", "10.0.0.6"), route("10.2.0.0/24", "10.0.0.99"), route("10.8.0.0/24", "10.0.0.5")))
	expect(t, resp, 200, "")
	want = []string{"10.1.0.0/24>10.0.0.5", "10.2.0.0/24>10.0.0.7"}
	if got := routesOf(resp.Obj("router")); !slices.Equal(got, want) {
		t.Fatalf("after remove: %v, want %v", got, want)
	}
	// The interface whose subnet holds a nexthop cannot be removed.
	refused(t, srv, demo, "PUT", routerPath(r, "remove_router_interface"), map[string]any{"subnet_id": id(e.sub)}, 409, "RouterInterfaceInUseByRoute")
	// A gateway network's subnet is connected too.
	setGateway(t, srv, demo, r, map[string]any{"network_id": id(e.ext)})
	resp = srv.Do(demo, "PUT", routerPath(r, "add_extraroutes"), put(route("0.0.0.0/0", "172.24.4.254")))
	expect(t, resp, 200, "")
	// ...and removing the gateway re-validates the routes.
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": nil}}, 400, "InvalidRoutes")
	// Clearing the routes frees the interface.
	expect(t, srv.Do(demo, "PUT", routerPath(r), put()), 200, "")
	expect(t, srv.Do(demo, "PUT", routerPath(r, "remove_router_interface"), map[string]any{"subnet_id": id(e.sub)}), 200, "")
}

func TestRouterInterfaces(t *testing.T) {
	e := newL3(t)
	srv := e.srv
	r := mkRouter(t, srv, demo, map[string]any{"name": "r"})
	path := routerPath(r, "add_router_interface")
	// Neither or both.
	refused(t, srv, demo, "PUT", path, map[string]any{}, 400, "BadRequest")
	p0 := mkPort(t, srv, demo, id(e.net))
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet_id": id(e.sub), "port_id": id(p0)}, 400, "BadRequest")
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet_id": id(e.sub), "bogus": 1}, 400, "")
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}, 404, "SubnetNotFound")
	// Subnet without gateway.
	nogw := mkNet(t, srv, demo, "nogw")
	snogw := mkSubnet(t, srv, demo, id(nogw), "10.5.0.0/24", map[string]any{"gateway_ip": nil})
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet_id": id(snogw)}, 400, "BadRequest")

	// By subnet: the gateway IP, owner network:router_interface.
	info := addIface(t, srv, demo, r, map[string]any{"subnet_id": id(e.sub)})
	keys := []string{}
	for k := range info {
		keys = append(keys, k)
	}
	for _, k := range []string{"id", "tenant_id", "project_id", "port_id", "network_id", "subnet_id", "subnet_ids"} {
		if _, ok := info[k]; !ok {
			t.Errorf("interface info lacks %s: %v", k, keys)
		}
	}
	if info["id"] != id(r) || info["tenant_id"] != "demo" || info["project_id"] != "demo" || info["network_id"] != id(e.net) ||
		info["subnet_id"] != id(e.sub) || !slices.Equal(strs(info["subnet_ids"]), []string{id(e.sub)}) {
		t.Fatalf("interface info: %v", info)
	}
	ip := show(t, srv, demo, "ports", "port", info["port_id"].(string))
	if ip["device_owner"] != "network:router_interface" || ip["device_id"] != id(r) || fixedIPs(ip)[0] != [2]string{id(e.sub), "10.0.0.1"} || ip["project_id"] != "demo" {
		t.Fatalf("interface port: %v", ip)
	}
	// Already on the router; overlapping another attached subnet.
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet_id": id(e.sub)}, 400, "BadRequest")
	ov := mkNet(t, srv, demo, "ov")
	sov := mkSubnet(t, srv, demo, id(ov), "10.0.0.0/16")
	refused(t, srv, demo, "PUT", path, map[string]any{"subnet_id": id(sov)}, 400, "BadRequest")
	// The gateway IP is taken: a port asking for it collides.
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(e.net), "fixed_ips": []any{map[string]any{"ip_address": "10.0.0.1"}}}}, 409, "IpAddressAlreadyAllocated")
	// The interface port cannot be deleted through /ports.
	refused(t, srv, demo, "DELETE", "/v2.0/ports/"+id(ip), nil, 409, "ServicePortInUse")

	// By port.
	n3 := mkNet(t, srv, demo, "n3")
	s3 := mkSubnet(t, srv, demo, id(n3), "10.3.0.0/24")
	used := mkPort(t, srv, demo, id(n3), map[string]any{"device_id": "some-vm"})
	refused(t, srv, demo, "PUT", path, map[string]any{"port_id": id(used)}, 409, "PortInUse")
	noip := mkPort(t, srv, demo, id(n3), map[string]any{"fixed_ips": []any{}})
	refused(t, srv, demo, "PUT", path, map[string]any{"port_id": id(noip)}, 400, "BadRequest")
	refused(t, srv, demo, "PUT", path, map[string]any{"port_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}, 404, "PortNotFound")
	free := mkPort(t, srv, demo, id(n3), map[string]any{"fixed_ips": []any{map[string]any{"subnet_id": id(s3), "ip_address": "10.3.0.10"}}})
	info3 := addIface(t, srv, demo, r, map[string]any{"port_id": id(free)})
	if info3["port_id"] != id(free) || info3["subnet_id"] != id(s3) || info3["network_id"] != id(n3) {
		t.Fatalf("by port info: %v", info3)
	}
	fp := show(t, srv, demo, "ports", "port", id(free))
	if fp["device_owner"] != "network:router_interface" || fp["device_id"] != id(r) {
		t.Fatalf("port after add: %v", fp)
	}
	// Router delete with interfaces: 409.
	refused(t, srv, demo, "DELETE", routerPath(r), nil, 409, "RouterInUse")

	// remove_router_interface.
	rm := routerPath(r, "remove_router_interface")
	refused(t, srv, demo, "PUT", rm, map[string]any{}, 400, "BadRequest")
	refused(t, srv, demo, "PUT", rm, map[string]any{"subnet_id": id(sov)}, 404, "RouterInterfaceNotFoundForSubnet")
	refused(t, srv, demo, "PUT", rm, map[string]any{"port_id": id(p0)}, 404, "RouterInterfaceNotFound")
	resp := srv.Do(demo, "PUT", rm, map[string]any{"port_id": id(free)})
	expect(t, resp, 200, "")
	if resp.Body["id"] != id(r) || resp.Body["port_id"] != id(free) || resp.Body["subnet_id"] != id(s3) {
		t.Fatalf("remove info: %s", resp.Raw)
	}
	refused(t, srv, demo, "GET", "/v2.0/ports/"+id(free), nil, 404, "PortNotFound")
	resp = srv.Do(demo, "PUT", rm, map[string]any{"subnet_id": id(e.sub)})
	expect(t, resp, 200, "")
	if resp.Body["port_id"] != id(ip) {
		t.Fatalf("remove by subnet info: %s", resp.Raw)
	}
	// The gateway IP is free again.
	mkPort(t, srv, demo, id(e.net), map[string]any{"fixed_ips": []any{map[string]any{"ip_address": "10.0.0.1"}}})
	expect(t, srv.Do(demo, "DELETE", routerPath(r), nil), 204, "")

	// A DVR router's interfaces are network:router_interface_distributed.
	d := mkRouter(t, srv, admin, map[string]any{"distributed": true, "tenant_id": "demo"})
	info = addIface(t, srv, demo, d, map[string]any{"subnet_id": id(s3)})
	if p := show(t, srv, admin, "ports", "port", info["port_id"].(string)); p["device_owner"] != "network:router_interface_distributed" {
		t.Fatalf("DVR interface owner: %v", p["device_owner"])
	}
	// IPv6: one router port per network; further IPv6 subnets become
	// addresses of that port, and leave it one by one.
	n6 := mkNet(t, srv, demo, "n6")
	a6 := mkSubnet(t, srv, demo, id(n6), "2001:db8:a::/64", map[string]any{"ip_version": 6})
	b6 := mkSubnet(t, srv, demo, id(n6), "2001:db8:b::/64", map[string]any{"ip_version": 6})
	ia := addIface(t, srv, demo, d, map[string]any{"subnet_id": id(a6)})
	ib := addIface(t, srv, demo, d, map[string]any{"subnet_id": id(b6)})
	if ia["port_id"] != ib["port_id"] || ib["subnet_id"] != id(b6) || !sameSet(strs(ib["subnet_ids"]), []string{id(a6), id(b6)}) {
		t.Fatalf("second IPv6 subnet: %v then %v", ia, ib)
	}
	if got := fixedIPs(show(t, srv, demo, "ports", "port", ib["port_id"].(string))); len(got) != 2 || got[1] != [2]string{id(b6), "2001:db8:b::1"} {
		t.Fatalf("IPv6 router port addresses: %v", got)
	}
	p6 := mkPort(t, srv, demo, id(n6), map[string]any{"fixed_ips": []any{map[string]any{"subnet_id": id(a6)}}})
	refused(t, srv, demo, "PUT", routerPath(d, "add_router_interface"), map[string]any{"port_id": id(p6)}, 400, "BadRequest")
	resp = srv.Do(demo, "PUT", routerPath(d, "remove_router_interface"), map[string]any{"subnet_id": id(a6)})
	expect(t, resp, 200, "")
	if got := fixedIPs(show(t, srv, demo, "ports", "port", ib["port_id"].(string))); len(got) != 1 || got[0][0] != id(b6) {
		t.Fatalf("after removing one IPv6 subnet: %v", got)
	}
	// Members may not use another project's subnet.
	priv := mkNet(t, srv, admin, "adminnet")
	spriv := mkSubnet(t, srv, admin, id(priv), "10.7.0.0/24")
	refused(t, srv, demo, "PUT", routerPath(d, "add_router_interface"), map[string]any{"subnet_id": id(spriv)}, 404, "SubnetNotFound")
}

func TestRouterDistributedMigration(t *testing.T) {
	e := newL3(t)
	srv := e.srv
	r := mkRouter(t, srv, admin, map[string]any{"tenant_id": "demo", "external_gateway_info": map[string]any{"network_id": id(e.ext)}})
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(e.sub)})
	n2 := mkNet(t, srv, demo, "n2")
	s2 := mkSubnet(t, srv, demo, id(n2), "10.2.0.0/24")
	s2v6 := mkSubnet(t, srv, demo, id(n2), "2001:db8:2::/64", map[string]any{"ip_version": 6})
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(s2)})
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(s2v6)})
	owners := func() (iface []string, snat [][2]string) {
		for _, p := range portsOf(t, srv, "device_id="+id(r)) {
			switch p["device_owner"] {
			case "network:router_interface", "network:router_interface_distributed":
				iface = append(iface, p["device_owner"].(string))
			case "network:router_centralized_snat":
				if p["project_id"] != "" {
					t.Errorf("SNAT port has a project: %v", p)
				}
				snat = append(snat, fixedIPs(p)...)
			}
		}
		return
	}
	// Only while admin_state_up is false (upstream: 400 BadRequest).
	refused(t, srv, admin, "PUT", routerPath(r), map[string]any{"router": map[string]any{"distributed": true}}, 400, "BadRequest")
	refused(t, srv, admin, "PUT", routerPath(r), map[string]any{"router": map[string]any{"distributed": true, "admin_state_up": false}}, 400, "BadRequest")
	expect(t, srv.Do(admin, "PUT", routerPath(r), map[string]any{"router": map[string]any{"admin_state_up": false}}), 200, "")
	// Setting it up again in the same request is refused too.
	refused(t, srv, admin, "PUT", routerPath(r), map[string]any{"router": map[string]any{"distributed": true, "admin_state_up": true}}, 400, "BadRequest")
	resp := srv.Do(admin, "PUT", routerPath(r), map[string]any{"router": map[string]any{"distributed": true}})
	expect(t, resp, 200, "")
	if resp.Obj("router")["distributed"] != true {
		t.Fatalf("not distributed: %s", resp.Raw)
	}
	iface, snat := owners()
	if len(iface) != 3 || slices.ContainsFunc(iface, func(o string) bool { return o != "network:router_interface_distributed" }) {
		t.Fatalf("interface owners after migration: %v", iface)
	}
	// One SNAT port per IPv4 interface subnet.
	snatSubnets := []string{}
	for _, f := range snat {
		snatSubnets = append(snatSubnets, f[0])
	}
	if !sameSet(snatSubnets, []string{id(e.sub), id(s2)}) {
		t.Fatalf("SNAT ports on %v, want the two IPv4 subnets", snat)
	}
	// A new interface of the DVR router gets its SNAT port at once.
	n4 := mkNet(t, srv, demo, "n4")
	s4 := mkSubnet(t, srv, demo, id(n4), "10.4.0.0/24")
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(s4)})
	if _, snat = owners(); len(snat) != 3 {
		t.Fatalf("SNAT ports after adding an interface: %v", snat)
	}
	// ...and loses it with the interface.
	expect(t, srv.Do(demo, "PUT", routerPath(r, "remove_router_interface"), map[string]any{"subnet_id": id(s4)}), 200, "")
	if _, snat = owners(); len(snat) != 2 {
		t.Fatalf("SNAT ports after removing an interface: %v", snat)
	}
	// Removing the gateway removes SNAT ports; setting it brings them back.
	setGateway(t, srv, admin, r, nil)
	if _, snat = owners(); len(snat) != 0 {
		t.Fatalf("SNAT ports without a gateway: %v", snat)
	}
	setGateway(t, srv, admin, r, map[string]any{"network_id": id(e.ext)})
	if _, snat = owners(); len(snat) != 2 {
		t.Fatalf("SNAT ports after setting the gateway: %v", snat)
	}
	// Back to legacy.
	resp = srv.Do(admin, "PUT", routerPath(r), map[string]any{"router": map[string]any{"distributed": false}})
	expect(t, resp, 200, "")
	iface, snat = owners()
	if len(iface) != 3 || slices.ContainsFunc(iface, func(o string) bool { return o != "network:router_interface" }) || len(snat) != 0 {
		t.Fatalf("after migrating back: %v %v", iface, snat)
	}
	// No gateway: migration creates no SNAT ports.
	setGateway(t, srv, admin, r, nil)
	expect(t, srv.Do(admin, "PUT", routerPath(r), map[string]any{"router": map[string]any{"distributed": true}}), 200, "")
	if _, snat = owners(); len(snat) != 0 {
		t.Fatalf("SNAT ports without gateway: %v", snat)
	}
}

// fipEnv is l3env plus a router connecting the demo subnet to the
// external network and a compute port on the demo subnet.
func fipEnv(t *testing.T, opts ...testutil.Option) (*l3env, map[string]any, map[string]any) {
	t.Helper()
	e := newL3(t, opts...)
	r := mkRouter(t, e.srv, demo, map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": id(e.ext)}})
	addIface(t, e.srv, demo, r, map[string]any{"subnet_id": id(e.sub)})
	p := mkPort(t, e.srv, demo, id(e.net), map[string]any{"device_owner": "compute:nova", "device_id": "vm1"})
	return e, r, p
}

func TestFloatingIPs(t *testing.T) {
	e, r, p := fipEnv(t)
	srv := e.srv
	body := func(m map[string]any) map[string]any { return map[string]any{"floatingip": m} }
	// Not external.
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": id(e.net)}), 400, "BadRequest")
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{}), 400, "HTTPBadRequest")
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}), 404, "NetworkNotFound")
	// Requested address: admin only.
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": id(e.ext), "floating_ip_address": "172.24.4.77"}), 403, "PolicyNotAuthorized")
	// fixed_ip_address without port_id.
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": id(e.ext), "fixed_ip_address": "10.0.0.5"}), 400, "BadRequest")
	// Read-only attributes.
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": id(e.ext), "status": "ACTIVE"}), 400, "HTTPBadRequest")
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": id(e.ext), "router_id": id(r)}), 400, "HTTPBadRequest")

	// Random address, unassociated.
	f := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext)})
	checkStandard(t, f, "demo")
	addr, _ := f["floating_ip_address"].(string)
	if !strings.HasPrefix(addr, "172.24.4.") || f["status"] != "DOWN" || f["port_id"] != nil || f["router_id"] != nil || f["fixed_ip_address"] != nil {
		t.Fatalf("created FIP: %v", f)
	}
	if _, ok := f["port_details"]; !ok || f["port_details"] != nil {
		t.Errorf("port_details = %v, want null", f["port_details"])
	}
	if _, ok := f["subnet_id"]; ok {
		t.Errorf("subnet_id is input-only: %v", f)
	}
	hidden := portsOf(t, srv, "device_owner=network:floatingip&device_id="+id(f))
	if len(hidden) != 1 || hidden[0]["project_id"] != "" || hidden[0]["status"] != "N/A" || fixedIPs(hidden[0])[0][1] != addr {
		t.Fatalf("FIP port: %v", hidden)
	}
	refused(t, srv, admin, "DELETE", "/v2.0/ports/"+id(hidden[0]), nil, 409, "ServicePortInUse")
	// Requested address (admin), on the demo project: one that no port
	// took at random so far.
	want := freeExternalAddress(t, srv, id(e.ext), 77)
	fa := create(t, srv, admin, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext), "floating_ip_address": want, "tenant_id": "demo"})
	if fa["floating_ip_address"] != want {
		t.Fatalf("requested address: %v", fa)
	}
	// The same address again: in use.
	refused(t, srv, admin, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": id(e.ext), "floating_ip_address": want}), 409, "")

	fpath := "/v2.0/floatingips/" + id(f)
	assoc := func(m map[string]any) map[string]any { return map[string]any{"floatingip": m} }
	// Associate through PUT.
	refused(t, srv, demo, "PUT", fpath, assoc(map[string]any{"fixed_ip_address": "10.0.0.5"}), 400, "BadRequest")
	refused(t, srv, demo, "PUT", fpath, assoc(map[string]any{"port_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"}), 404, "PortNotFound")
	pip := fixedIPs(p)[0][1]
	notPorts := "10.0.0.250" // the port's address is random: pick another
	if pip == notPorts {
		notPorts = "10.0.0.251"
	}
	refused(t, srv, demo, "PUT", fpath, assoc(map[string]any{"port_id": id(p), "fixed_ip_address": notPorts}), 400, "BadRequest")
	resp := srv.Do(demo, "PUT", fpath, assoc(map[string]any{"port_id": id(p)}))
	expect(t, resp, 200, "")
	got := resp.Obj("floatingip")
	if got["port_id"] != id(p) || got["fixed_ip_address"] != pip || got["router_id"] != id(r) || got["status"] != "DOWN" {
		t.Fatalf("associated: %v", got)
	}
	pd, _ := got["port_details"].(map[string]any)
	if pd == nil || pd["network_id"] != id(e.net) || pd["device_owner"] != "compute:nova" || pd["device_id"] != "vm1" || pd["mac_address"] != p["mac_address"] {
		t.Fatalf("port_details: %v", got["port_details"])
	}
	for _, k := range []string{"name", "network_id", "mac_address", "admin_state_up", "status", "device_id", "device_owner"} {
		if _, ok := pd[k]; !ok {
			t.Errorf("port_details lacks %s", k)
		}
	}
	// One FIP per fixed IP.
	refused(t, srv, demo, "PUT", "/v2.0/floatingips/"+id(fa), assoc(map[string]any{"port_id": id(p)}), 409, "FloatingIPPortAlreadyAssociated")
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": id(e.ext), "port_id": id(p)}), 409, "FloatingIPPortAlreadyAssociated")
	// Re-associating the same FIP with the same port is fine.
	expect(t, srv.Do(demo, "PUT", fpath, assoc(map[string]any{"port_id": id(p), "fixed_ip_address": pip})), 200, "")

	// The interface and the gateway are in use by the FIP.
	refused(t, srv, demo, "PUT", routerPath(r, "remove_router_interface"), map[string]any{"subnet_id": id(e.sub)}, 409, "RouterInterfaceInUseByFloatingIP")
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": nil}}, 409, "RouterExternalGatewayInUseByFloatingIp")
	ext2 := create(t, srv, admin, "networks", "network", map[string]any{"name": "public2", "router:external": true})
	mkSubnet(t, srv, admin, id(ext2), "172.25.0.0/24")
	refused(t, srv, demo, "PUT", routerPath(r), map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": id(ext2)}}}, 409, "RouterExternalGatewayInUseByFloatingIp")

	// Disassociate.
	resp = srv.Do(demo, "PUT", fpath, assoc(map[string]any{"port_id": nil}))
	expect(t, resp, 200, "")
	got = resp.Obj("floatingip")
	if got["port_id"] != nil || got["fixed_ip_address"] != nil || got["router_id"] != nil || got["port_details"] != nil || got["status"] != "DOWN" {
		t.Fatalf("disassociated: %v", got)
	}
	// Now fa can take the fixed IP, via POST-time association of a new FIP too.
	expect(t, srv.Do(demo, "PUT", "/v2.0/floatingips/"+id(fa), assoc(map[string]any{"port_id": id(p)})), 200, "")

	// Deleting the port disassociates (the FIP stays).
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p), nil), 204, "")
	got = show(t, srv, demo, "floatingips", "floatingip", id(fa))
	if got["port_id"] != nil || got["router_id"] != nil || got["fixed_ip_address"] != nil || got["floating_ip_address"] != want {
		t.Fatalf("FIP after port delete: %v", got)
	}

	// No router connects a subnet to the external network: 404.
	iso := mkNet(t, srv, demo, "isolated")
	mkSubnet(t, srv, demo, id(iso), "10.9.0.0/24")
	pi := mkPort(t, srv, demo, id(iso))
	refused(t, srv, demo, "PUT", fpath, assoc(map[string]any{"port_id": id(pi)}), 404, "ExternalGatewayForFloatingIPNotFound")
	refused(t, srv, demo, "POST", "/v2.0/floatingips", body(map[string]any{"floating_network_id": id(e.ext), "port_id": id(pi)}), 404, "ExternalGatewayForFloatingIPNotFound")
	// A router on the subnet but with its gateway elsewhere does not count.
	r2 := mkRouter(t, srv, demo, map[string]any{"external_gateway_info": map[string]any{"network_id": id(ext2)}})
	addIface(t, srv, demo, r2, map[string]any{"subnet_id": srv.Do(demo, "GET", "/v2.0/subnets?network_id="+id(iso), nil).List("subnets")[0]["id"].(string)})
	refused(t, srv, demo, "PUT", fpath, assoc(map[string]any{"port_id": id(pi)}), 404, "ExternalGatewayForFloatingIPNotFound")

	// Associate at create time: router derived, status DOWN.
	p2 := mkPort(t, srv, demo, id(e.net))
	f2 := create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext), "port_id": id(p2)})
	if f2["router_id"] != id(r) || f2["port_id"] != id(p2) || f2["fixed_ip_address"] != fixedIPs(p2)[0][1] || f2["status"] != "DOWN" {
		t.Fatalf("created associated: %v", f2)
	}

	// DHCP ports cannot get a FIP.
	dhcp := mkPort(t, srv, admin, id(e.net), map[string]any{"device_owner": "network:dhcp", "device_id": "dhcp1", "tenant_id": "demo"})
	refused(t, srv, demo, "PUT", fpath, assoc(map[string]any{"port_id": id(dhcp)}), 400, "BadRequest")

	// Another project's FIPs are invisible.
	refused(t, srv, testutil.Caller{Project: "other"}, "GET", fpath, nil, 404, "FloatingIPNotFound")
	refused(t, srv, testutil.Caller{Project: "other"}, "PUT", fpath, assoc(map[string]any{"port_id": nil}), 404, "FloatingIPNotFound")
	refused(t, srv, testutil.Caller{Project: "other"}, "DELETE", fpath, nil, 404, "FloatingIPNotFound")

	// Deleting a FIP frees its address and hidden port.
	expect(t, srv.Do(demo, "DELETE", fpath, nil), 204, "")
	if l := portsOf(t, srv, "device_id="+id(f)); len(l) != 0 {
		t.Fatalf("FIP port left: %v", l)
	}
	refused(t, srv, demo, "GET", fpath, nil, 404, "FloatingIPNotFound")
}

func TestL3Quotas(t *testing.T) {
	e := newL3(t)
	srv := e.srv
	expect(t, srv.Do(admin, "PUT", "/v2.0/quotas/demo", map[string]any{"quota": map[string]any{"router": 1, "floatingip": 1}}), 200, "")
	mkRouter(t, srv, demo, map[string]any{"name": "one"})
	refused(t, srv, demo, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "two"}}, 409, "OverQuota")
	create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(e.ext)})
	refused(t, srv, demo, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": id(e.ext)}}, 409, "OverQuota")
}

func TestFloatingIPExhaustion(t *testing.T) {
	srv := noAuth(t)
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "tiny", "router:external": true})
	mkSubnet(t, srv, admin, id(ext), "172.30.0.0/29", map[string]any{"allocation_pools": []any{map[string]any{"start": "172.30.0.2", "end": "172.30.0.3"}}})
	create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext)})
	create(t, srv, demo, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext)})
	refused(t, srv, demo, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": id(ext)}}, 400, "ExternalIpAddressExhausted")
	// A v6-only external network cannot hold floating IPs.
	ext6 := create(t, srv, admin, "networks", "network", map[string]any{"name": "v6", "router:external": true})
	mkSubnet(t, srv, admin, id(ext6), "2001:db8:9::/64", map[string]any{"ip_version": 6})
	refused(t, srv, demo, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": id(ext6)}}, 400, "BadRequest")
}

// freeExternalAddress is the first address 172.24.4.<from> or above that
// no port on the network holds (addresses are allocated at random, so a
// fixed choice would collide now and then).
func freeExternalAddress(t *testing.T, srv *testutil.Server, network string, from int) string {
	t.Helper()
	used := map[string]bool{}
	for _, p := range portsOf(t, srv, "network_id="+network) {
		for _, f := range fixedIPs(p) {
			used[f[1]] = true
		}
	}
	for i := from; i < 250; i++ {
		if a := fmt.Sprintf("172.24.4.%d", i); !used[a] {
			return a
		}
	}
	t.Fatal("no free address on the external network")
	return ""
}
