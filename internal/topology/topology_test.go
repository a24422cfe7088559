package topology

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.svg from the current output")

// demoCloud is the DVR walkthrough's cloud after the sandbox demo.
func demoCloud() Cloud {
	return Cloud{
		Scope: "demo in project demo",
		Networks: []Network{
			{ID: "n-demo2", Name: "demo-net2", Status: "ACTIVE", Subnets: []Subnet{{ID: "s3", CIDR: "192.168.2.0/24", Gateway: "192.168.2.1"}}},
			{ID: "n-demo", Name: "demo-net", Status: "ACTIVE", Subnets: []Subnet{{ID: "s2", CIDR: "192.168.1.0/24", Gateway: "192.168.1.1"}}},
			{ID: "n-ext", Name: "ext-net", Status: "ACTIVE", External: true, Shared: true, Subnets: []Subnet{{ID: "s1", CIDR: "203.0.113.0/24", Gateway: "203.0.113.1"}}},
		},
		Routers: []Router{{ID: "r1", Name: "demo-router", Status: "ACTIVE", Distributed: true, Links: []Attachment{
			{NetworkID: "n-ext", IPs: []string{"203.0.113.106"}},
			{NetworkID: "n-demo", IPs: []string{"192.168.1.1"}},
			{NetworkID: "n-demo2", IPs: []string{"192.168.2.1"}},
		}}},
		Instances: []Instance{
			{ID: "vm2", Name: "demo-instance2", Links: []Attachment{{NetworkID: "n-demo2", IPs: []string{"192.168.2.118"}}}},
			{ID: "vm1", Name: "demo-instance1", Links: []Attachment{{NetworkID: "n-demo", IPs: []string{"192.168.1.193"}, Floating: []string{"203.0.113.121"}}}},
		},
		FloatingIPs: []FloatingIP{{ID: "f1", Address: "203.0.113.121", NetworkID: "n-ext", PortID: "p-vm1", FixedIP: "192.168.1.193", Status: "ACTIVE"}},
	}
}

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, d)
	}
}

// The SVG of the demo's cloud, as a whole: external network first, the
// router attached to all three networks, each instance to its own, the
// floating IP beside its fixed address.
func TestSVG(t *testing.T) {
	golden(t, "demo.svg", SVG(demoCloud()))
}

func TestSVGEmpty(t *testing.T) {
	s := SVG(Cloud{})
	if !strings.Contains(s, "no networks visible") || !strings.HasPrefix(s, "<svg ") {
		t.Errorf("empty cloud:\n%s", s)
	}
}

// Names are the tenants' own strings: they are escaped everywhere, and
// the page loads nothing from elsewhere.
func TestHTMLEscapedAndSelfContained(t *testing.T) {
	c := demoCloud()
	c.Networks[0].Name = `<script>alert("x")</script>`
	c.Instances[0].Name = `"><img src=x onerror=alert(1)>`
	h := HTML(c)
	for _, bad := range []string{"<script", "<img", ` src="`, ` href="`, "url(", "@import"} {
		if strings.Contains(h, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if n := strings.Count(h, "http"); n != strings.Count(h, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("page refers to %d URLs beyond the SVG namespace", n)
	}
	for _, want := range []string{"<!DOCTYPE html>", "<svg ", "demo-router", "203.0.113.121", "&lt;script&gt;", "3 networks, 1 routers, 2 instances, 1 floating IPs"} {
		if !strings.Contains(h, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// The API's JSON becomes the drawing's model: router interfaces from
// ports, the gateway from external_gateway_info, instances from compute
// ports with their floating IPs; DHCP ports are not drawn.
func TestFromAPI(t *testing.T) {
	var r rawCloud
	for dst, js := range map[any]string{
		&r.Networks:    `{"networks":[{"id":"n1","name":"net","status":"ACTIVE"},{"id":"x","name":"ext","router:external":true}]}`,
		&r.Subnets:     `{"subnets":[{"id":"s1","network_id":"n1","cidr":"10.0.0.0/24","gateway_ip":"10.0.0.1"}]}`,
		&r.Routers:     `{"routers":[{"id":"r1","name":"rt","status":"ACTIVE","external_gateway_info":{"network_id":"x","external_fixed_ips":[{"ip_address":"203.0.113.5"}]}}]}`,
		&r.Ports:       `{"ports":[{"id":"p1","network_id":"n1","device_id":"r1","device_owner":"network:router_interface_distributed","fixed_ips":[{"ip_address":"10.0.0.1"}]},{"id":"p2","name":"vm-port","network_id":"n1","device_id":"vm","device_owner":"compute:nova","fixed_ips":[{"ip_address":"10.0.0.5"}]},{"id":"p3","network_id":"n1","device_id":"dhcp1","device_owner":"network:dhcp"}]}`,
		&r.FloatingIPs: `{"floatingips":[{"id":"f1","floating_ip_address":"203.0.113.9","floating_network_id":"x","port_id":"p2","fixed_ip_address":"10.0.0.5","status":"ACTIVE"}]}`,
	} {
		if err := json.Unmarshal([]byte(js), dst); err != nil {
			t.Fatal(err)
		}
	}
	got := r.cloud()
	want := &Cloud{
		Networks: []Network{{ID: "n1", Name: "net", Status: "ACTIVE", Subnets: []Subnet{{ID: "s1", CIDR: "10.0.0.0/24", Gateway: "10.0.0.1"}}},
			{ID: "x", Name: "ext", External: true}},
		Routers: []Router{{ID: "r1", Name: "rt", Status: "ACTIVE", Links: []Attachment{
			{NetworkID: "x", IPs: []string{"203.0.113.5"}}, {NetworkID: "n1", IPs: []string{"10.0.0.1"}}}}},
		Instances:   []Instance{{ID: "vm", Name: "vm-port", Links: []Attachment{{NetworkID: "n1", IPs: []string{"10.0.0.5"}, Floating: []string{"203.0.113.9"}}}}},
		FloatingIPs: []FloatingIP{{ID: "f1", Address: "203.0.113.9", NetworkID: "x", PortID: "p2", FixedIP: "10.0.0.5", Status: "ACTIVE"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestCredentialsErrors(t *testing.T) {
	if _, err := (Credentials{}).authOptions(); err == nil || !strings.Contains(err.Error(), "OS_AUTH_URL") {
		t.Errorf("no OS_AUTH_URL: %v", err)
	}
	o, err := Credentials{"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "demo", "OS_PASSWORD": "pw", "OS_PROJECT_NAME": "demo",
		"OS_USER_DOMAIN_ID": "default", "OS_PROJECT_DOMAIN_ID": "default"}.authOptions()
	if err != nil || o.DomainID != "default" || o.Scope == nil || o.Scope.ProjectName != "demo" || o.Scope.DomainID != "default" {
		t.Errorf("openrc credentials: %+v %+v %v", o, o.Scope, err)
	}
}
