package api_test

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

func listIDs(t *testing.T, srv *testutil.Server, c testutil.Caller, coll, query string) []string {
	t.Helper()
	r := srv.Do(c, "GET", "/v2.0/"+coll+"?"+query, nil)
	expect(t, r, 200, "")
	return ids(r.List(strings.ReplaceAll(coll, "-", "_")))
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

func TestListFilters(t *testing.T) {
	srv := noAuth(t)
	a := create(t, srv, demo, "networks", "network", map[string]any{"name": "a", "admin_state_up": true})
	b := create(t, srv, demo, "networks", "network", map[string]any{"name": "b", "admin_state_up": false})
	c := create(t, srv, demo, "networks", "network", map[string]any{"name": "c", "admin_state_up": true, "description": ""})
	empty := create(t, srv, demo, "networks", "network", map[string]any{})
	cases := []struct {
		q    string
		want []string
	}{
		{"name=a", []string{id(a)}},
		{"name=a&name=b", []string{id(a), id(b)}},               // repeated = OR
		{"name=a&name=b&admin_state_up=true", []string{id(a)}},  // different keys = AND
		{"admin_state_up=False", []string{id(b)}},               // boolean conversion
		{"admin_state_up=0", []string{id(b)}},                   //
		{"admin_state_up=1", []string{id(a), id(c), id(empty)}}, //
		{"admin_state_up=true&admin_state_up=false", []string{id(a), id(b), id(c), id(empty)}},
		{"id=" + id(a) + "&id=" + id(c), []string{id(a), id(c)}},
		{"name=", []string{id(empty)}}, // empty-string-filtering
		{"name=zzz", []string{}},
		{"shared=false", []string{id(a), id(b), id(c), id(empty)}},
		{"router:external=false&name=c", []string{id(c)}},
		{"mtu=1450&name=b", []string{id(b)}},
		{"status=ACTIVE&name=a", []string{id(a)}},
		{"project_id=demo&name=a", []string{id(a)}},
		{"tenant_id=other", []string{}},
		{"revision_number=1&name=c", []string{id(c)}},
		{"subnets=nonexistent", []string{}},
	}
	for _, tc := range cases {
		if got := listIDs(t, srv, demo, "networks", tc.q); !sameSet(got, tc.want) {
			t.Errorf("?%s: got %v want %v", tc.q, got, tc.want)
		}
	}
	for _, q := range []string{"foo=bar", "admin_state_up=maybe", "mtu=big", "availability_zones=nova", "tags_any=x"} {
		refused(t, srv, demo, "GET", "/v2.0/networks?"+q, nil, 400, "")
	}
	// Control parameters are not filters.
	if got := listIDs(t, srv, demo, "networks", "fields=id&limit=0&sort_key=name&sort_dir=asc"); len(got) != 4 {
		t.Errorf("control params filtered: %v", got)
	}
}

func TestListFields(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	r := srv.Do(demo, "GET", "/v2.0/networks?fields=id&fields=name", nil)
	expect(t, r, 200, "")
	l := r.List("networks")
	if len(l) != 1 || len(l[0]) != 2 || l[0]["id"] != id(n) || l[0]["name"] != "n" {
		t.Fatalf("fields list: %s", r.Raw)
	}
	r = srv.Do(demo, "GET", "/v2.0/networks/"+id(n)+"?fields=status", nil)
	expect(t, r, 200, "")
	if o := r.Obj("network"); len(o) != 1 || o["status"] != "ACTIVE" {
		t.Fatalf("fields show: %s", r.Raw)
	}
	// Hidden attributes stay hidden when asked for.
	r = srv.Do(demo, "GET", "/v2.0/networks/"+id(n)+"?fields=provider:network_type&fields=id", nil)
	if o := r.Obj("network"); len(o) != 1 {
		t.Fatalf("demo got provider fields: %s", r.Raw)
	}
	r = srv.Do(admin, "GET", "/v2.0/networks/"+id(n)+"?fields=provider:network_type", nil)
	if o := r.Obj("network"); o["provider:network_type"] != "vxlan" {
		t.Fatalf("admin provider fields: %s", r.Raw)
	}
	// Security groups keep their embedded rules under fields.
	r = srv.Do(demo, "GET", "/v2.0/security-groups?fields=id&fields=security_group_rules", nil)
	if l := r.List("security_groups"); len(l) != 1 || len(l[0]) != 2 || len(l[0]["security_group_rules"].([]any)) != 4 {
		t.Fatalf("sg fields: %s", r.Raw)
	}
}

func TestListSorting(t *testing.T) {
	srv := noAuth(t)
	var all []map[string]any
	for _, name := range []string{"c", "a", "b", "a"} {
		all = append(all, mkNet(t, srv, demo, name))
	}
	got := listIDs(t, srv, demo, "networks", "sort_key=name&sort_dir=desc&sort_key=id&sort_dir=asc")
	byName := slices.Clone(all)
	sort.SliceStable(byName, func(i, j int) bool {
		if byName[i]["name"] != byName[j]["name"] {
			return byName[i]["name"].(string) > byName[j]["name"].(string)
		}
		return id(byName[i]) < id(byName[j])
	})
	if !slices.Equal(got, ids(byName)) {
		t.Errorf("sort desc: %v want %v", got, ids(byName))
	}
	got = listIDs(t, srv, demo, "networks", "sort_key=name&sort_dir=asc")
	names := []string{}
	for _, x := range got {
		for _, n := range all {
			if id(n) == x {
				names = append(names, n["name"].(string))
			}
		}
	}
	if !slices.Equal(names, []string{"a", "a", "b", "c"}) {
		t.Errorf("sort asc: %v", names)
	}
	for _, q := range []string{
		"sort_key=name&sort_key=id&sort_dir=asc", // mismatched counts
		"sort_key=name",                          // no dir: counts differ upstream too
		"sort_dir=asc",                           //
		"sort_key=name&sort_dir=up",              // bad dir
		"sort_key=bogus&sort_dir=asc",            // bad key
		"sort_key=tags&sort_dir=asc",             // not sortable
		"limit=-1", "limit=x", "page_reverse=perhaps",
	} {
		refused(t, srv, demo, "GET", "/v2.0/networks?"+q, nil, 400, "")
	}
}

// walk follows the `next` links from a first page to the end, then the
// `previous` links back to the start, and returns both sequences.
func walk(t *testing.T, srv *testutil.Server, c testutil.Caller, coll, first string, limit int) (forward, backward []string) {
	t.Helper()
	key := strings.ReplaceAll(coll, "-", "_")
	links := func(r *testutil.Response) map[string]string {
		out := map[string]string{}
		raw, _ := r.Body[key+"_links"].([]any)
		for _, l := range raw {
			m := l.(map[string]any)
			out[m["rel"].(string)] = m["href"].(string)
		}
		return out
	}
	get := func(href string) *testutil.Response {
		t.Helper()
		if !strings.HasPrefix(href, srv.URL+"/v2.0/"+coll+"?") {
			t.Fatalf("link %q is not absolute under %s", href, srv.URL)
		}
		r := srv.Do(c, "GET", strings.TrimPrefix(href, srv.URL), nil)
		expect(t, r, 200, "")
		if n := len(r.List(key)); n > limit {
			t.Fatalf("page of %d items with limit %d", n, limit)
		}
		return r
	}
	r := get(srv.URL + "/v2.0/" + coll + "?" + first)
	var last *testutil.Response
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("no end of next links")
		}
		forward = append(forward, ids(r.List(key))...)
		last = r
		next, ok := links(r)["next"]
		if !ok {
			if len(r.List(key)) == limit {
				t.Fatalf("full page without next link: %s", r.Raw)
			}
			break
		}
		r = get(next)
	}
	r = last
	backward = ids(r.List(key))
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("no end of previous links")
		}
		prev, ok := links(r)["previous"]
		if !ok {
			break
		}
		r = get(prev)
		backward = append(ids(r.List(key)), backward...)
	}
	return forward, backward
}

func TestPagination(t *testing.T) {
	srv := noAuth(t)
	var all []string
	for _, name := range []string{"e", "b", "g", "a", "f", "c", "d"} {
		all = append(all, id(mkNet(t, srv, demo, name)))
	}
	byID := slices.Clone(all)
	sort.Strings(byID)
	names := listIDs(t, srv, demo, "networks", "sort_key=name&sort_dir=asc")
	// Default order (no sort keys) is stable: walking must give it back.
	def := listIDs(t, srv, demo, "networks", "")
	for _, limit := range []int{1, 2, 3, 7, 10} {
		for _, tc := range []struct {
			q    string
			want []string
		}{
			{"", def},
			{"sort_key=name&sort_dir=asc", names},
			{"sort_key=name&sort_dir=desc", reversed(names)},
			{"sort_key=id&sort_dir=asc", byID},
		} {
			q := tc.q
			if q != "" {
				q += "&"
			}
			q += "limit=" + itoa(limit)
			fwd, back := walk(t, srv, demo, "networks", q, limit)
			if !slices.Equal(fwd, tc.want) {
				t.Errorf("?%s forward %v want %v", q, fwd, tc.want)
			}
			if !slices.Equal(back, tc.want) {
				t.Errorf("?%s backward %v want %v", q, back, tc.want)
			}
		}
	}
	// page_reverse without a marker is the last page, in requested order.
	r := srv.Do(demo, "GET", "/v2.0/networks?sort_key=name&sort_dir=asc&limit=2&page_reverse=True", nil)
	if got := ids(r.List("networks")); !slices.Equal(got, names[5:]) {
		t.Errorf("reverse without marker: %v want %v", got, names[5:])
	}
	// marker = id of the last item seen.
	r = srv.Do(demo, "GET", "/v2.0/networks?sort_key=name&sort_dir=asc&limit=2&marker="+names[1], nil)
	if got := ids(r.List("networks")); !slices.Equal(got, names[2:4]) {
		t.Errorf("marker: %v want %v", got, names[2:4])
	}
	// The marker is a position in the sort order: it need not match the
	// filters (upstream compares sort values), and without a limit it is
	// ignored.
	r = srv.Do(demo, "GET", "/v2.0/networks?sort_key=name&sort_dir=asc&limit=2&name=e&name=f&name=g&marker="+names[3], nil)
	if got := ids(r.List("networks")); !slices.Equal(got, names[4:6]) {
		t.Errorf("marker outside filter: %v want %v", got, names[4:6])
	}
	r = srv.Do(demo, "GET", "/v2.0/networks?sort_key=name&sort_dir=asc&limit=5&page_reverse=true&name=a&name=b&name=g&marker="+names[3], nil)
	if got := ids(r.List("networks")); !slices.Equal(got, names[:2]) {
		t.Errorf("reverse marker outside filter: %v want %v", got, names[:2])
	}
	if got := listIDs(t, srv, demo, "networks", "sort_key=name&sort_dir=asc&marker="+names[3]); !slices.Equal(got, names) {
		t.Errorf("marker without limit: %v", got)
	}
	// An unknown (or invisible) marker is the resource's 404.
	expect(t, srv.Do(demo, "GET", "/v2.0/networks?limit=2&marker=0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000", nil), 404, "NetworkNotFound")
	hidden := mkNet(t, srv, testutil.Caller{Project: "other"}, "hidden")
	expect(t, srv.Do(demo, "GET", "/v2.0/networks?limit=2&marker="+id(hidden), nil), 404, "NetworkNotFound")
	// No limit, no links.
	r = srv.Do(demo, "GET", "/v2.0/networks", nil)
	if _, ok := r.Body["networks_links"]; ok {
		t.Errorf("links without limit: %s", r.Raw)
	}
	// Links honour X-Forwarded-Proto.
	_, body := raw(t, srv, demo, "GET", "/v2.0/networks?limit=1", map[string]string{"X-Forwarded-Proto": "https"}, nil)
	if !strings.Contains(string(body), `"href":"https://`) {
		t.Errorf("X-Forwarded-Proto ignored: %s", body)
	}
	// Pagination also works on ports, with a filter.
	n := mkNet(t, srv, demo, "pn")
	mkSubnet(t, srv, demo, all[0], "10.0.0.0/24")
	mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	var ports []string
	for range 5 {
		ports = append(ports, id(mkPort(t, srv, demo, all[0])))
	}
	mkPort(t, srv, demo, id(n))
	sort.Strings(ports)
	fwd, back := walk(t, srv, demo, "ports", "network_id="+all[0]+"&sort_key=id&sort_dir=asc&limit=2", 2)
	if !slices.Equal(fwd, ports) || !slices.Equal(back, ports) {
		t.Errorf("ports walk %v / %v want %v", fwd, back, ports)
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPortFilters(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	s1 := mkSubnet(t, srv, demo, id(n), "10.0.0.0/24")
	s2 := mkSubnet(t, srv, demo, id(n), "10.0.1.0/24")
	p1 := mkPort(t, srv, demo, id(n), map[string]any{"device_id": "vm1", "fixed_ips": []any{map[string]any{"ip_address": "10.0.0.5"}}})
	p2 := mkPort(t, srv, demo, id(n), map[string]any{"device_id": "vm2", "fixed_ips": []any{map[string]any{"subnet_id": id(s2), "ip_address": "10.0.1.5"}}})
	p3 := mkPort(t, srv, demo, id(n), map[string]any{"device_id": "vm1", "fixed_ips": []any{
		map[string]any{"subnet_id": id(s1), "ip_address": "10.0.0.6"}, map[string]any{"subnet_id": id(s2), "ip_address": "10.0.1.6"}}})
	fi := func(kv ...string) string {
		q := url.Values{}
		for _, x := range kv {
			q.Add("fixed_ips", x)
		}
		return q.Encode()
	}
	cases := []struct {
		q    string
		want []string
	}{
		{fi("ip_address=10.0.0.5"), []string{id(p1)}},
		{fi("ip_address=10.0.0.5", "ip_address=10.0.1.5"), []string{id(p1), id(p2)}},
		{fi("subnet_id=" + id(s2)), []string{id(p2), id(p3)}},
		{fi("subnet_id=" + id(s1)), []string{id(p1), id(p3)}},
		{fi("subnet_id="+id(s1), "ip_address=10.0.0.6"), []string{id(p3)}},
		{fi("subnet_id="+id(s1), "ip_address=10.0.1.5"), []string{}},
		{fi("ip_address_substr=0.1."), []string{id(p2), id(p3)}},
		{fi("ip_address=10.9.9.9"), []string{}},
		{"device_id=vm1", []string{id(p1), id(p3)}},
		{"device_id=vm1&device_id=vm2", []string{id(p1), id(p2), id(p3)}},
		{"device_id=vm2&" + fi("subnet_id="+id(s2)), []string{id(p2)}},
		{"device_owner=", []string{id(p1), id(p2), id(p3)}},
		{"network_id=" + id(n) + "&mac_address=" + url.QueryEscape(p2["mac_address"].(string)), []string{id(p2)}},
		{"security_groups=" + strs(p1["security_groups"])[0], []string{id(p1), id(p2), id(p3)}},
	}
	for _, tc := range cases {
		if got := listIDs(t, srv, demo, "ports", tc.q); !sameSet(got, tc.want) {
			t.Errorf("?%s: got %v want %v", tc.q, got, tc.want)
		}
	}
	for _, q := range []string{"binding:vif_details=x", "bogus=1", "allowed_address_pairs=x", "fixed_ips=10.0.0.5", "fixed_ips=%3D10.0.0.5"} {
		refused(t, srv, demo, "GET", "/v2.0/ports?"+q, nil, 400, "")
	}
	// Subnet filters.
	if got := listIDs(t, srv, demo, "subnets", "cidr=10.0.1.0/24"); !slices.Equal(got, []string{id(s2)}) {
		t.Errorf("subnet cidr filter %v", got)
	}
	if got := listIDs(t, srv, demo, "subnets", "network_id="+id(n)+"&ip_version=4&enable_dhcp=true"); !sameSet(got, []string{id(s1), id(s2)}) {
		t.Errorf("subnet filters %v", got)
	}
}

func TestTagFilters(t *testing.T) {
	srv := noAuth(t)
	tagged := func(name string, tags ...string) string {
		n := mkNet(t, srv, demo, name)
		if len(tags) > 0 {
			expect(t, srv.Do(demo, "PUT", "/v2.0/networks/"+id(n)+"/tags", map[string]any{"tags": tags}), 200, "")
		}
		return id(n)
	}
	ab := tagged("ab", "a", "b")
	a := tagged("a", "a")
	bc := tagged("bc", "b", "c")
	none := tagged("none")
	cases := []struct {
		q    string
		want []string
	}{
		{"tags=a", []string{ab, a}},
		{"tags=a,b", []string{ab}},
		{"tags=a&tags=b", []string{ab}},
		{"tags-any=a,c", []string{ab, a, bc}},
		{"tags-any=a&tags-any=c", []string{ab, a, bc}},
		{"not-tags=a,b", []string{a, bc, none}},
		{"not-tags-any=a,c", []string{none}},
		{"not-tags-any=c", []string{ab, a, none}},
		{"tags=b&not-tags=c", []string{ab}},
		{"tags-any=b&name=bc", []string{bc}},
		{"tags=zzz", []string{}},
	}
	for _, tc := range cases {
		if got := listIDs(t, srv, demo, "networks", tc.q); !sameSet(got, tc.want) {
			t.Errorf("?%s: got %v want %v", tc.q, got, tc.want)
		}
	}
}
