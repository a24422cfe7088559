package api_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// The benchmarks of the API's slow paths (docs/performance.md, "bench
// api"): lists of every kind the issue names, and the creates of
// security groups, their rules and routers. They go through HTTP on
// loopback like a client, as a project member, so a profile
// (-cpuprofile) shows the whole request.

func benchServer(b *testing.B) *testutil.Server {
	b.Helper()
	return testutil.StartServer(b, testutil.NoAuth(), testutil.WithConfig(func(c *config.Server) {
		for k := range c.Quotas {
			c.Quotas[k] = -1
		}
	}))
}

// benchDo sends one request and fails unless the status is want.
func benchDo(b *testing.B, hc *http.Client, srv *testutil.Server, method, path, body string, want int) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", demo.Project)
	req.Header.Set("X-Roles", "member,reader")
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d: %s", method, path, resp.StatusCode, raw)
	}
}

func benchList(b *testing.B, srv *testutil.Server, path string) {
	hc := &http.Client{}
	benchDo(b, hc, srv, "GET", path, "", 200)
	for b.Loop() {
		benchDo(b, hc, srv, "GET", path, "", 200)
	}
}

// bulk creates n resources through bulk POSTs of up to 100.
func bulk(b *testing.B, srv *testutil.Server, coll string, n int, item func(i int) string) {
	path := strings.ReplaceAll(coll, "_", "-")
	for lo := 0; lo < n; lo += 100 {
		var parts []string
		for i := lo; i < min(n, lo+100); i++ {
			parts = append(parts, item(i))
		}
		r := srv.Do(demo, "POST", "/v2.0/"+path, `{"`+coll+`":[`+strings.Join(parts, ",")+`]}`)
		if r.Status != http.StatusCreated {
			b.Fatalf("bulk %s: %d %s", coll, r.Status, r.Raw)
		}
	}
}

func benchNet(b *testing.B, srv *testutil.Server) string {
	r := srv.Do(demo, "POST", "/v2.0/networks", `{"network":{"name":"bench"}}`)
	nid, _ := r.Obj("network")["id"].(string)
	r = srv.Do(demo, "POST", "/v2.0/subnets", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"10.9.0.0/16"}}`, nid))
	if r.Status != http.StatusCreated {
		b.Fatalf("subnet: %s", r.Raw)
	}
	return nid
}

func BenchmarkListPorts1000(b *testing.B) {
	srv := benchServer(b)
	nid := benchNet(b, srv)
	bulk(b, srv, "ports", 1000, func(i int) string {
		return fmt.Sprintf(`{"network_id":%q,"device_id":"vm-%d","device_owner":"compute:nova","name":"p%d"}`, nid, i, i)
	})
	benchList(b, srv, "/v2.0/ports")
}

func BenchmarkListNetworks200(b *testing.B) {
	srv := benchServer(b)
	bulk(b, srv, "networks", 200, func(i int) string { return fmt.Sprintf(`{"name":"n%d"}`, i) })
	benchList(b, srv, "/v2.0/networks")
}

// BenchmarkListSecurityGroups51 lists the default group and 50 others,
// each with 10 rules (510 rules).
func BenchmarkListSecurityGroups51(b *testing.B) {
	srv := benchServer(b)
	bulk(b, srv, "security_groups", 50, func(i int) string { return fmt.Sprintf(`{"name":"sg%d"}`, i) })
	groups := srv.Do(demo, "GET", "/v2.0/security-groups", nil).List("security_groups")
	for _, g := range groups {
		have := len(g["security_group_rules"].([]any))
		gid := g["id"].(string)
		bulk(b, srv, "security_group_rules", 10-have, func(i int) string {
			return fmt.Sprintf(`{"security_group_id":%q,"direction":"ingress","protocol":"tcp","port_range_min":%d,"port_range_max":%d,"remote_ip_prefix":"10.0.0.0/8"}`, gid, 1000+i, 1000+i)
		})
	}
	benchList(b, srv, "/v2.0/security-groups")
}

func BenchmarkListFloatingIPs100(b *testing.B) {
	srv := benchServer(b)
	r := srv.Do(admin, "POST", "/v2.0/networks", `{"network":{"name":"ext","router:external":true}}`)
	ext, _ := r.Obj("network")["id"].(string)
	srv.Do(admin, "POST", "/v2.0/subnets", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"100.64.0.0/16"}}`, ext))
	nid := benchNet(b, srv)
	r = srv.Do(demo, "POST", "/v2.0/routers", fmt.Sprintf(`{"router":{"name":"r","external_gateway_info":{"network_id":%q}}}`, ext))
	rid, _ := r.Obj("router")["id"].(string)
	sub := srv.Do(demo, "GET", "/v2.0/subnets?network_id="+nid, nil).List("subnets")[0]["id"].(string)
	srv.Do(demo, "PUT", "/v2.0/routers/"+rid+"/add_router_interface", fmt.Sprintf(`{"subnet_id":%q}`, sub))
	bulk(b, srv, "ports", 50, func(i int) string { return fmt.Sprintf(`{"network_id":%q,"device_id":"vm-%d"}`, nid, i) })
	ports := srv.Do(demo, "GET", "/v2.0/ports?device_owner=", nil).List("ports")
	var withPort []string
	for _, p := range ports {
		if strings.HasPrefix(p["device_id"].(string), "vm-") {
			withPort = append(withPort, p["id"].(string))
		}
	}
	bulk(b, srv, "floatingips", 100, func(i int) string {
		if i < len(withPort) {
			return fmt.Sprintf(`{"floating_network_id":%q,"port_id":%q}`, ext, withPort[i])
		}
		return fmt.Sprintf(`{"floating_network_id":%q}`, ext)
	})
	benchList(b, srv, "/v2.0/floatingips")
}

func BenchmarkCreateSecurityGroup(b *testing.B) {
	srv := benchServer(b)
	hc := &http.Client{}
	i := 0
	loopP50(b, func() {
		i++
		benchDo(b, hc, srv, "POST", "/v2.0/security-groups", fmt.Sprintf(`{"security_group":{"name":"sg%d"}}`, i), 201)
	})
}

func BenchmarkCreateSecurityGroupRule(b *testing.B) {
	srv := benchServer(b)
	r := srv.Do(demo, "POST", "/v2.0/security-groups", `{"security_group":{"name":"g"}}`)
	gid, _ := r.Obj("security_group")["id"].(string)
	hc := &http.Client{}
	i := 0
	loopP50(b, func() {
		i++
		benchDo(b, hc, srv, "POST", "/v2.0/security-group-rules", fmt.Sprintf(`{"security_group_rule":{"security_group_id":%q,"direction":"ingress","protocol":"tcp","port_range_min":%d,"port_range_max":%d}}`, gid, i%65535+1, i%65535+1), 201)
	})
}

func BenchmarkCreateRouter(b *testing.B) {
	srv := benchServer(b)
	hc := &http.Client{}
	i := 0
	loopP50(b, func() {
		i++
		benchDo(b, hc, srv, "POST", "/v2.0/routers", fmt.Sprintf(`{"router":{"name":"r%d"}}`, i), 201)
	})
}

// BenchmarkShowRouter is the floor under every create through HTTP on
// loopback: a request, the server's path to a handler, one rendering,
// the response and the client, with nothing written.
func BenchmarkShowRouter(b *testing.B) {
	srv := benchServer(b)
	r := srv.Do(demo, "POST", "/v2.0/routers", `{"router":{"name":"r"}}`)
	rid, _ := r.Obj("router")["id"].(string)
	hc := &http.Client{}
	loopP50(b, func() { benchDo(b, hc, srv, "GET", "/v2.0/routers/"+rid, "", 200) })
}

// loopP50 runs fn b.N times and reports the median time too: the mean
// of a request that waits for the disk is made by its tail.
func loopP50(b *testing.B, fn func()) {
	var d []time.Duration
	for b.Loop() {
		t0 := time.Now()
		fn()
		d = append(d, time.Since(t0))
	}
	slices.Sort(d)
	if len(d) > 0 {
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	}
}
