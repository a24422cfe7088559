package api_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestMarkerUnknownOrHidden: a ?marker= that names nothing the caller
// can see answers as upstream: networks, ports and routers look the
// marker up (404 with a limit); the object-based lists (subnets,
// security groups and rules, floating IPs, agents) ignore it and start
// at the first page. Without a limit the marker is ignored everywhere.
func TestMarkerUnknownOrHidden(t *testing.T) {
	srv := noAuth(t)
	other := testutil.Caller{Project: "other"}
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "ext", "router:external": true})
	mkSubnet(t, srv, admin, id(ext), "172.24.9.0/24")
	made := map[string]map[string][]string{} // project -> collection -> ids
	for _, c := range []testutil.Caller{demo, other} {
		m := map[string][]string{}
		made[c.Project] = m
		for i, cidr := range []string{"10.70.0.0/24", "10.71.0.0/24"} {
			n := mkNet(t, srv, c, "n")
			s := mkSubnet(t, srv, c, id(n), cidr)
			p := mkPort(t, srv, c, id(n))
			r := mkRouter(t, srv, c, map[string]any{"name": "r"})
			f := create(t, srv, c, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext)})
			g := create(t, srv, c, "security-groups", "security_group", map[string]any{"name": "g"})
			rule := create(t, srv, c, "security-group-rules", "security_group_rule", map[string]any{"security_group_id": id(g), "direction": "ingress", "protocol": "tcp", "port_range_min": 10 + i, "port_range_max": 10 + i})
			for coll, o := range map[string]map[string]any{"networks": n, "subnets": s, "ports": p, "routers": r, "floatingips": f, "security-groups": g, "security-group-rules": rule} {
				m[coll] = append(m[coll], id(o))
			}
		}
	}
	const unknown = "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"
	for coll, notFound := range map[string]string{
		"networks": "NetworkNotFound", "ports": "PortNotFound", "routers": "RouterNotFound",
		"subnets": "", "floatingips": "", "security-groups": "", "security-group-rules": "",
	} {
		key := strings.ReplaceAll(coll, "-", "_")
		all := listIDs(t, srv, demo, coll, "")
		first := srv.Do(demo, "GET", "/v2.0/"+coll+"?limit=1", nil)
		expect(t, first, 200, "")
		for _, marker := range []string{unknown, made["other"][coll][0]} {
			if got := listIDs(t, srv, demo, coll, "marker="+marker); !slices.Equal(got, all) {
				t.Errorf("%s without limit, marker %s: %v, want %v", coll, marker, got, all)
			}
			r := srv.Do(demo, "GET", "/v2.0/"+coll+"?limit=1&marker="+marker, nil)
			if notFound != "" {
				expect(t, r, 404, notFound)
				continue
			}
			expect(t, r, 200, "")
			if got, want := ids(r.List(key)), ids(first.List(key)); len(got) != 1 || !slices.Equal(got, want) {
				t.Errorf("%s limit=1 marker %s: %v, want the first page %v", coll, marker, got, want)
			}
		}
		// A marker the caller can see still pages.
		mine := made["demo"][coll][0]
		r := srv.Do(demo, "GET", "/v2.0/"+coll+"?limit=1&marker="+mine, nil)
		expect(t, r, 200, "")
		if got := ids(r.List(key)); len(got) != 1 || got[0] == mine {
			t.Errorf("%s after %s: %v", coll, mine, got)
		}
	}
	expect(t, srv.Do(admin, "GET", "/v2.0/agents?limit=1&marker="+unknown, nil), 200, "")
}

// TestInvalidUTF8Refused: a body that is not UTF-8 (or escapes half a
// surrogate pair) is 400 HTTPBadRequest and changes nothing, in every
// attribute and on every verb that takes a body; real multi-byte text
// is stored as sent.
func TestInvalidUTF8Refused(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	mkSubnet(t, srv, demo, id(n), "10.80.0.0/24")
	p := mkPort(t, srv, demo, id(n))
	r := mkRouter(t, srv, demo, map[string]any{"name": "r"})
	bad := []string{"\xff", "a\xc3", "\xed\xa0\x80", `\udc80`, `\ud83d`, `\ud83dx`}
	for _, b := range bad {
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/v2.0/networks", `{"network":{"name":"x` + b + `"}}`},
			{"POST", "/v2.0/networks", `{"networks":[{"name":"ok"},{"description":"` + b + `"}]}`},
			{"PUT", "/v2.0/networks/" + id(n), `{"network":{"description":"` + b + `"}}`},
			{"PUT", "/v2.0/ports/" + id(p), `{"port":{"name":"` + b + `"}}`},
			{"POST", "/v2.0/security-groups", `{"security_group":{"name":"` + b + `"}}`},
			{"PUT", "/v2.0/networks/" + id(n) + "/tags", `{"tags":["` + b + `"]}`},
			{"PUT", routerPath(r), `{"router":{"name":"` + b + `"}}`},
		} {
			refused(t, srv, demo, req.method, req.path, []byte(req.body), 400, "HTTPBadRequest")
		}
	}
	// Valid text, raw and escaped (a surrogate pair), is kept exactly.
	got := srv.Do(demo, "POST", "/v2.0/networks", []byte(`{"network":{"name":"ñ✓😀 \ud83d\ude00 \\udc80"}}`))
	expect(t, got, 201, "")
	if name := got.Obj("network")["name"]; name != `ñ✓😀 😀 \udc80` {
		t.Fatalf("name %q", name)
	}
}

// TestRequestContentType: upstream parses a request body as JSON
// whatever its Content-Type says (neutron's body hook reads the body
// without looking at the header), so clients such as `curl -d` that send
// application/x-www-form-urlencoded work; Neutrino does the same.
func TestRequestContentType(t *testing.T) {
	srv := noAuth(t)
	for i, ct := range []string{"application/json", "application/json; charset=UTF-8", "application/x-www-form-urlencoded", "text/plain", "" /* none */} {
		resp, body := raw(t, srv, demo, "POST", "/v2.0/networks", map[string]string{"Content-Type": ct}, map[string]any{"network": map[string]any{"name": "ct" + string(rune('a'+i))}})
		if resp.StatusCode != 201 || !strings.Contains(string(body), `"name":"ct`) {
			t.Errorf("Content-Type %q: %d %s", ct, resp.StatusCode, body)
		}
	}
}
