package topology_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/neutrino-net/neutrino/internal/topology"
)

// creds are the openrc variables of a built-in Keystone user.
func creds(srv *testutil.Server, user string) topology.Credentials {
	cr := srv.Keystone.Credentials()
	u := cr.Demo
	if user == "admin" {
		u = cr.Admin
	}
	return topology.Credentials{"OS_AUTH_URL": srv.URL + "/identity/v3", "OS_USERNAME": u.UserName, "OS_PASSWORD": u.Password,
		"OS_PROJECT_NAME": u.ProjectName, "OS_USER_DOMAIN_ID": "default", "OS_PROJECT_DOMAIN_ID": "default", "OS_REGION_NAME": cr.Region}
}

// demoCloud builds, through the API, an external network (admin), the
// demo project's network, router and instance port with a floating IP,
// and a network of the admin project the demo user must not see.
func demoCloud(t *testing.T) *testutil.Server {
	srv := testutil.StartServer(t)
	do := func(c testutil.Caller, path string, body map[string]any, key string) string {
		t.Helper()
		r := srv.Do(c, "POST", path, body)
		if r.Status != 201 {
			t.Fatalf("POST %s: %d %s", path, r.Status, r.Raw)
		}
		return r.Obj(key)["id"].(string)
	}
	ext := do(testutil.Admin, "/v2.0/networks", map[string]any{"network": map[string]any{"name": "ext-net", "router:external": true}}, "network")
	do(testutil.Admin, "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": ext, "ip_version": 4, "cidr": "203.0.113.0/24"}}, "subnet")
	secret := do(testutil.Admin, "/v2.0/networks", map[string]any{"network": map[string]any{"name": "admin-secret-net"}}, "network")
	do(testutil.Admin, "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": secret, "ip_version": 4, "cidr": "10.99.0.0/24"}}, "subnet")
	net := do(testutil.Demo, "/v2.0/networks", map[string]any{"network": map[string]any{"name": "demo-net"}}, "network")
	sub := do(testutil.Demo, "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": net, "ip_version": 4, "cidr": "192.168.1.0/24"}}, "subnet")
	rt := do(testutil.Demo, "/v2.0/routers", map[string]any{"router": map[string]any{"name": "demo-router",
		"external_gateway_info": map[string]any{"network_id": ext}}}, "router")
	if r := srv.Do(testutil.Demo, "PUT", "/v2.0/routers/"+rt+"/add_router_interface", map[string]any{"subnet_id": sub}); r.Status != 200 {
		t.Fatalf("add interface: %d %s", r.Status, r.Raw)
	}
	port := do(testutil.Demo, "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": net, "name": "demo-instance1",
		"device_id": "vm-1", "device_owner": "compute:nova"}}, "port")
	do(testutil.Demo, "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{"floating_network_id": ext, "port_id": port}}, "floatingip")
	return srv
}

// Fetch with the demo user's openrc: its network, router (gateway and
// interface) and instance with its floating IP, the external network,
// and nothing of the admin project's.
func TestFetchAsDemo(t *testing.T) {
	srv := demoCloud(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := topology.Fetch(ctx, creds(srv, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	var nets []string
	for _, n := range c.Networks {
		nets = append(nets, n.Name)
	}
	if strings.Join(nets, ",") != "demo-net,ext-net" && strings.Join(nets, ",") != "ext-net,demo-net" {
		t.Errorf("demo sees networks %v, want demo-net and ext-net", nets)
	}
	if len(c.Routers) != 1 || len(c.Routers[0].Links) != 2 {
		t.Fatalf("routers %+v, want demo-router with gateway and interface", c.Routers)
	}
	if len(c.Instances) != 1 || c.Instances[0].Name != "demo-instance1" || len(c.Instances[0].Links[0].Floating) != 1 {
		t.Errorf("instances %+v, want demo-instance1 with a floating IP", c.Instances)
	}
	h := topology.HTML(*c)
	if strings.Contains(h, "admin-secret-net") || strings.Contains(h, "10.99.0.0") {
		t.Error("the demo user's page shows the admin project's network")
	}
	admin, err := topology.Fetch(ctx, creds(srv, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(topology.SVG(*admin), "admin-secret-net") {
		t.Error("admin's drawing lacks admin-secret-net")
	}
	bad := creds(srv, "demo")
	bad["OS_PASSWORD"] = "wrong"
	if _, err := topology.Fetch(ctx, bad); err == nil {
		t.Error("wrong password accepted")
	}
}

// chromium returns the path of a Chromium binary, or skips.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("needs chromium to render the page (apt-get install chromium)")
	return ""
}

// The page renders in a real browser: headless Chromium loads it with
// the network off, and the DOM it ends with holds the drawing and the
// tables; a screenshot is taken too.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	srv := demoCloud(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := topology.Fetch(ctx, creds(srv, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "topology.html")
	if err := os.WriteFile(page, []byte(topology.HTML(*c)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(dir, "profile"),
		// Any request beyond the file itself fails: the page must not need one.
		"--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"}
	out, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, out)
	}
	dom := string(out)
	for _, want := range []string{"<svg", `class="router"`, "demo-router", "demo-instance1", "ext-net", "<table>"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	shot := filepath.Join(dir, "topology.png")
	if out, err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+shot, "--window-size=1200,900", "file://"+page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 1000 {
		t.Errorf("screenshot %v %v", fi, err)
	}
}
