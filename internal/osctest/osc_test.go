package osctest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

const cliTimeout = 60 * time.Second

// cli runs the openstack command as one of the generated openrc users.
type cli struct {
	t     *testing.T
	bin   string
	who   string
	env   []string
	calls *int
}

func newCLI(t *testing.T, bin string, srv *testutil.Server, rc string, calls *int) *cli {
	return &cli{t: t, bin: bin, who: rc, env: openRCEnv(t, filepath.Join(srv.DataDir, rc), t.TempDir()), calls: calls}
}

// exec runs "openstack args..." and returns stdout, stderr and the error.
func (c *cli) exec(args ...string) (string, string, error) {
	*c.calls++
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", cliTimeout, err)
	}
	return stdout.String(), stderr.String(), err
}

func (c *cli) describe(args []string) string {
	return fmt.Sprintf("[%s] openstack %s", c.who, strings.Join(args, " "))
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.exec(args...)
	if err != nil {
		c.t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", c.describe(args), err, out, errOut)
	}
	return out
}

// json runs a command with "-f json" and decodes its output into v.
func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	args = append(args, "-f", "json")
	out := c.ok(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("%s: output is not the expected JSON (%v):\n%s", c.describe(args), err, out)
	}
}

func (c *cli) obj(args ...string) map[string]any {
	c.t.Helper()
	var m map[string]any
	c.json(&m, args...)
	return m
}

func (c *cli) list(args ...string) []map[string]any {
	c.t.Helper()
	var l []map[string]any
	c.json(&l, args...)
	return l
}

// fail runs a command that must exit non-zero and returns its stderr.
func (c *cli) fail(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.exec(args...)
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) {
		c.t.Fatalf("%s: want a non-zero exit, got %v\nstdout:\n%s\nstderr:\n%s", c.describe(args), err, out, errOut)
	}
	return errOut
}

// check reports mismatching attributes of a CLI object: want maps keys to
// values as encoding/json decodes them (numbers are float64).
func check(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no %q in %v", what, k, got)
			continue
		}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("%s: %s = %s, want %s", what, k, gj, wj)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

// row returns the list row whose key equals val.
func row(rows []map[string]any, key, val string) map[string]any {
	for _, r := range rows {
		if str(r[key]) == val {
			return r
		}
	}
	return nil
}

func ids(rows []map[string]any) []string {
	var out []string
	for _, r := range rows {
		out = append(out, str(r["ID"]))
	}
	return out
}

func strList(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, str(x))
	}
	return out
}

// TestOpenStackCLI runs python-openstackclient, configured only by the
// generated admin-openrc / demo-openrc files, through the usual network
// workflows and checks the JSON it prints.
func TestOpenStackCLI(t *testing.T) {
	bin, err := exec.LookPath("openstack")
	if err != nil {
		t.Skip("openstack CLI not on PATH (install Debian package python3-openstackclient); skipping the CLI compatibility test")
	}
	if testing.Short() {
		t.Skip("slow: runs the openstack CLI about 40 times")
	}
	srv := testutil.StartServer(t)
	calls := 0
	start := time.Now()
	defer func() { t.Logf("%d openstack invocations in %v", calls, time.Since(start).Round(time.Millisecond)) }()
	admin := newCLI(t, bin, srv, "admin-openrc", &calls)
	demo := newCLI(t, bin, srv, "demo-openrc", &calls)
	adminProject, demoProject := srv.ProjectID(testutil.Admin), srv.ProjectID(testutil.Demo)

	// --- networks (admin) ---
	net1 := admin.obj("network", "create", "osc-net1")
	check(t, "network create", net1, map[string]any{"name": "osc-net1", "admin_state_up": true, "status": "ACTIVE",
		"shared": false, "router:external": false, "project_id": adminProject, "subnets": []any{}, "mtu": 1450.0,
		"port_security_enabled": true, "revision_number": 1.0, "description": ""})
	if str(net1["provider:network_type"]) == "" || net1["provider:segmentation_id"] == nil {
		t.Errorf("network create: admin should see the tenant segment: %v", net1)
	}
	net1ID := str(net1["id"])
	flat := admin.obj("network", "create", "--provider-network-type", "flat", "--provider-physical-network", "physnet1", "osc-flat")
	check(t, "flat network", flat, map[string]any{"provider:network_type": "flat", "provider:physical_network": "physnet1",
		"provider:segmentation_id": nil, "mtu": 1500.0})
	vx := admin.obj("network", "create", "--provider-network-type", "vxlan", "--provider-segment", "4242", "osc-vxlan")
	check(t, "vxlan network", vx, map[string]any{"provider:network_type": "vxlan", "provider:physical_network": nil,
		"provider:segmentation_id": 4242.0})
	ext := admin.obj("network", "create", "--external", "osc-ext")
	check(t, "external network", ext, map[string]any{"router:external": true, "shared": false})
	extID := str(ext["id"])

	nets := admin.list("network", "list")
	for _, n := range []map[string]any{net1, flat, vx, ext} {
		if r := row(nets, "ID", str(n["id"])); r == nil {
			t.Errorf("network list: %s missing from %v", n["name"], nets)
		} else {
			check(t, "network list row", r, map[string]any{"Name": n["name"], "Subnets": []any{}})
		}
	}
	check(t, "network show", admin.obj("network", "show", net1ID), map[string]any{"id": net1ID, "name": "osc-net1",
		"provider:network_type": net1["provider:network_type"], "provider:segmentation_id": net1["provider:segmentation_id"]})
	admin.ok("network", "set", "--name", "osc-net1-renamed", "--description", "renamed by the CLI", net1ID)
	check(t, "network show after set", admin.obj("network", "show", "osc-net1-renamed"), map[string]any{
		"id": net1ID, "name": "osc-net1-renamed", "description": "renamed by the CLI", "revision_number": 2.0})

	// --- subnets (admin) ---
	sub1 := admin.obj("subnet", "create", "--network", net1ID, "--subnet-range", "10.9.0.0/24",
		"--allocation-pool", "start=10.9.0.10,end=10.9.0.20", "--dns-nameserver", "8.8.8.8", "--gateway", "10.9.0.1", "osc-sub1")
	check(t, "subnet create", sub1, map[string]any{"name": "osc-sub1", "network_id": net1ID, "cidr": "10.9.0.0/24",
		"ip_version": 4.0, "gateway_ip": "10.9.0.1", "enable_dhcp": true, "dns_nameservers": []any{"8.8.8.8"},
		"allocation_pools": []any{map[string]any{"start": "10.9.0.10", "end": "10.9.0.20"}}, "host_routes": []any{},
		"project_id": adminProject, "ipv6_address_mode": nil, "subnetpool_id": nil})
	sub1ID := str(sub1["id"])
	sub2 := admin.obj("subnet", "create", "--network", net1ID, "--subnet-range", "10.9.1.0/24", "--no-dhcp", "osc-sub2")
	check(t, "subnet create --no-dhcp", sub2, map[string]any{"enable_dhcp": false, "gateway_ip": "10.9.1.1",
		"allocation_pools": []any{map[string]any{"start": "10.9.1.2", "end": "10.9.1.254"}}, "dns_nameservers": []any{}})
	sub2ID := str(sub2["id"])
	subs := admin.list("subnet", "list")
	for _, s := range []map[string]any{sub1, sub2} {
		if r := row(subs, "ID", str(s["id"])); r == nil {
			t.Errorf("subnet list: %s missing from %v", s["name"], subs)
		} else {
			check(t, "subnet list row", r, map[string]any{"Name": s["name"], "Network": net1ID, "Subnet": s["cidr"]})
		}
	}
	check(t, "subnet show", admin.obj("subnet", "show", "osc-sub1"), map[string]any{"id": sub1ID,
		"allocation_pools": sub1["allocation_pools"], "dns_nameservers": []any{"8.8.8.8"}})

	// --- ports (admin) ---
	p1 := admin.obj("port", "create", "--network", net1ID, "--fixed-ip", "subnet="+sub1ID+",ip-address=10.9.0.15", "osc-p1")
	wantIPs := []any{map[string]any{"subnet_id": sub1ID, "ip_address": "10.9.0.15"}}
	check(t, "port create", p1, map[string]any{"name": "osc-p1", "network_id": net1ID, "fixed_ips": wantIPs,
		"status": "DOWN", "admin_state_up": true, "device_owner": "", "project_id": adminProject,
		"binding_vnic_type": "normal", "port_security_enabled": true})
	p1ID := str(p1["id"])
	if mac := str(p1["mac_address"]); !strings.HasPrefix(mac, "fa:16:3e:") {
		t.Errorf("port create: mac_address %q not from base_mac", mac)
	}
	if sgs := strList(p1["security_group_ids"]); len(sgs) != 1 {
		t.Errorf("port create: want the default security group, got %v", p1["security_group_ids"])
	}
	check(t, "port show", admin.obj("port", "show", p1ID), map[string]any{"id": p1ID, "fixed_ips": wantIPs,
		"mac_address": p1["mac_address"]})
	admin.ok("port", "set", "--name", "osc-p1-renamed", p1ID)
	ports := admin.list("port", "list")
	if r := row(ports, "ID", p1ID); r == nil {
		t.Errorf("port list: %s missing from %v", p1ID, ports)
	} else {
		check(t, "port list row", r, map[string]any{"Name": "osc-p1-renamed", "MAC Address": p1["mac_address"],
			"Fixed IP Addresses": wantIPs, "Status": "DOWN"})
	}
	longPorts := admin.list("port", "list", "--long", "--network", net1ID)
	if len(longPorts) != 1 {
		t.Errorf("port list --long --network: want only the port, got %v", longPorts)
	} else {
		// OSC asks for fields=security_group_ids, which is the SDK's name,
		// not an API attribute: upstream returns nothing for it either.
		check(t, "port list --long row", longPorts[0], map[string]any{"ID": p1ID, "Name": "osc-p1-renamed",
			"Device Owner": "", "Tags": []any{}, "Fixed IP Addresses": wantIPs})
	}

	longNets := admin.list("network", "list", "--long")
	if r := row(longNets, "ID", net1ID); r == nil {
		t.Errorf("network list --long: %s missing", net1ID)
	} else {
		check(t, "network list --long row", r, map[string]any{"Name": "osc-net1-renamed", "Status": "ACTIVE",
			"Project": adminProject, "State": true, "Shared": false, "Network Type": net1["provider:network_type"],
			"Router Type": false, "Tags": []any{}})
		if got := strList(r["Subnets"]); !slices.Contains(got, sub1ID) || !slices.Contains(got, sub2ID) || len(got) != 2 {
			t.Errorf("network list --long: Subnets = %v, want %s and %s", got, sub1ID, sub2ID)
		}
	}
	check(t, "network list --long vxlan", row(longNets, "ID", str(vx["id"])), map[string]any{"Network Type": "vxlan"})
	check(t, "network list --long external", row(longNets, "ID", extID), map[string]any{"Router Type": true})

	// --- security groups (admin) ---
	sg := admin.obj("security", "group", "create", "--description", "ssh from anywhere", "osc-sg")
	check(t, "security group create", sg, map[string]any{"name": "osc-sg", "description": "ssh from anywhere",
		"project_id": adminProject, "stateful": true})
	sgID := str(sg["id"])
	if rules, _ := sg["rules"].([]any); len(rules) != 2 {
		t.Errorf("security group create: want the 2 default egress rules, got %v", sg["rules"])
	}
	rule := admin.obj("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "--remote-ip", "0.0.0.0/0", sgID)
	check(t, "security group rule create", rule, map[string]any{"security_group_id": sgID, "direction": "ingress",
		"ether_type": "IPv4", "protocol": "tcp", "port_range_min": 22.0, "port_range_max": 22.0,
		"remote_ip_prefix": "0.0.0.0/0", "remote_group_id": nil, "project_id": adminProject})
	ruleID := str(rule["id"])
	rules := admin.list("security", "group", "rule", "list", sgID)
	if len(rules) != 3 {
		t.Errorf("security group rule list: want 2 egress + 1 ingress rules, got %v", rules)
	}
	check(t, "security group rule list row", row(rules, "ID", ruleID), map[string]any{"IP Protocol": "tcp",
		"Ethertype": "IPv4", "IP Range": "0.0.0.0/0", "Port Range": "22:22", "Direction": "ingress"})
	sgs := admin.list("security", "group", "list")
	check(t, "security group list row", row(sgs, "ID", sgID), map[string]any{"Name": "osc-sg",
		"Description": "ssh from anywhere", "Project": adminProject})
	if d := row(sgs, "Name", "default"); d == nil || str(d["ID"]) != strList(p1["security_group_ids"])[0] {
		t.Errorf("security group list: no default group matching the port's: %v", sgs)
	}
	admin.ok("security", "group", "rule", "delete", ruleID)
	admin.ok("security", "group", "delete", sgID)
	for _, p := range []string{"/v2.0/security-groups/" + sgID, "/v2.0/security-group-rules/" + ruleID} {
		if r := srv.Do(testutil.Admin, "GET", p, nil); r.Status != 404 {
			t.Errorf("GET %s after delete: %d %s", p, r.Status, r.Raw)
		}
	}

	// --- extensions, IP availability (admin) ---
	exts := admin.list("extension", "list", "--network")
	for _, alias := range []string{"quotas", "quota_details", "network-ip-availability", "provider", "external-net",
		"security-group", "standard-attr-tag", "project-id"} {
		if row(exts, "Alias", alias) == nil {
			t.Errorf("extension list --network: no %s in %v", alias, exts)
		}
	}
	if row(exts, "Alias", "external-gateway-multihoming") != nil {
		t.Errorf("extension list --network: lists external-gateway-multihoming, which is not implemented")
	}
	// A fixed IP outside the allocation pools counts as used too.
	outside := srv.Do(testutil.Admin, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{
		"network_id": net1ID, "fixed_ips": []any{map[string]any{"subnet_id": sub1ID, "ip_address": "10.9.0.5"}}}})
	if outside.Status != 201 {
		t.Fatalf("POST port with 10.9.0.5: %d %s", outside.Status, outside.Raw)
	}
	// OSC 6.0 names these "ip availability …" (not "network ip availability").
	// Its list defaults to --ip-version 4, i.e. networks with IPv4 subnets.
	avail := admin.list("ip", "availability", "list")
	check(t, "ip availability list", row(avail, "Network ID", net1ID), map[string]any{
		"Network Name": "osc-net1-renamed", "Total IPs": 11.0 + 253.0, "Used IPs": 2.0})
	if row(avail, "Network ID", extID) != nil {
		t.Errorf("ip availability list: network without subnets listed: %v", avail)
	}
	ia := admin.obj("ip", "availability", "show", net1ID)
	check(t, "ip availability show", ia, map[string]any{"network_id": net1ID, "network_name": "osc-net1-renamed",
		"project_id": adminProject, "total_ips": 264.0, "used_ips": 2.0})
	subAvail, _ := ia["subnet_ip_availability"].([]any)
	if len(subAvail) != 2 {
		t.Errorf("ip availability show: want 2 subnets, got %v", ia["subnet_ip_availability"])
	}
	for _, x := range subAvail {
		s, _ := x.(map[string]any)
		switch str(s["subnet_id"]) {
		case sub1ID:
			check(t, "ip availability of osc-sub1", s, map[string]any{"cidr": "10.9.0.0/24", "ip_version": 4.0,
				"subnet_name": "osc-sub1", "total_ips": 11.0, "used_ips": 2.0})
		case sub2ID:
			check(t, "ip availability of osc-sub2", s, map[string]any{"total_ips": 253.0, "used_ips": 0.0})
		default:
			t.Errorf("ip availability show: unexpected subnet %v", s)
		}
	}

	// --- demo ---
	stderr := demo.fail("network", "create", "--provider-network-type", "vlan", "--provider-physical-network", "physnet1", "osc-demo-vlan")
	if !strings.Contains(stderr, "403") || !strings.Contains(stderr, "policy") {
		t.Errorf("demo network create --provider-network-type: want a 403 policy refusal, stderr:\n%s", stderr)
	}
	stderr = demo.fail("network", "show", net1ID)
	if !strings.Contains(stderr, "No Network found") && !strings.Contains(stderr, "could not be found") {
		t.Errorf("demo network show of admin's network: want not found, stderr:\n%s", stderr)
	}
	demoNets := demo.list("network", "list")
	if got := ids(demoNets); !slices.Equal(got, []string{extID}) {
		t.Errorf("demo network list: want only the external network %s, got %v", extID, demoNets)
	}
	dnet := demo.obj("network", "create", "osc-demo-net")
	check(t, "demo network create", dnet, map[string]any{"project_id": demoProject, "shared": false,
		"provider:network_type": nil, "provider:segmentation_id": nil, "status": "ACTIVE"})
	dnetID := str(dnet["id"])
	dsub := demo.obj("subnet", "create", "--network", "osc-demo-net", "--subnet-range", "10.50.0.0/24", "osc-demo-sub")
	check(t, "demo subnet create", dsub, map[string]any{"project_id": demoProject, "network_id": dnetID,
		"gateway_ip": "10.50.0.1", "allocation_pools": []any{map[string]any{"start": "10.50.0.2", "end": "10.50.0.254"}}})
	dport := demo.obj("port", "create", "--network", "osc-demo-net", "osc-demo-port")
	check(t, "demo port create", dport, map[string]any{"project_id": demoProject, "network_id": dnetID})
	if ips, _ := dport["fixed_ips"].([]any); len(ips) != 1 {
		t.Errorf("demo port create: want one fixed IP, got %v", dport["fixed_ips"])
	} else if ip, _ := ips[0].(map[string]any); ip["subnet_id"] != dsub["id"] || !strings.HasPrefix(str(ip["ip_address"]), "10.50.0.") {
		t.Errorf("demo port create: fixed IP %v not from %s", ip, dsub["id"])
	}
	for _, k := range []string{"binding_vif_type", "binding_host_id"} {
		if v, ok := dport[k]; ok && v != nil {
			t.Errorf("demo port create: admin-only %s = %v shown to demo", k, v)
		}
	}

	// --- quotas (admin, for demo's project) ---
	if r := srv.Do(testutil.Admin, "PUT", "/v2.0/quotas/"+demoProject, map[string]any{"quota": map[string]any{"network": 20}}); r.Status != 200 {
		t.Fatalf("PUT quota: %d %s", r.Status, r.Raw)
	}
	// /v2.0/quotas/{id}/details
	details := admin.list("quota", "list", "--network", "--detail", "--project", demoProject)
	want := map[string][2]float64{"networks": {1, 20}, "subnets": {1, 100}, "ports": {1, 500}, "security_groups": {1, 10},
		"routers": {0, 10}, "floating_ips": {0, 50}}
	for res, w := range want {
		check(t, "quota list --detail "+res, row(details, "Resource", res), map[string]any{"In Use": w[0], "Limit": w[1], "Reserved": 0.0})
	}
	// identity project list, then /v2.0/quotas/{id} and …/default per project
	qs := admin.list("quota", "list", "--network")
	if len(qs) != 1 {
		t.Errorf("quota list --network: want only demo's non-default quota, got %v", qs)
	} else {
		check(t, "quota list --network", qs[0], map[string]any{"Project ID": demoProject, "Networks": 20.0, "Ports": 500.0})
	}
	// OSC 6.0's "quota show" (and "quota set") needs a compute endpoint in
	// the catalog even for network quotas; later releases skip missing
	// services. Accept either, but when it works it must show ours.
	out, errOut, err := admin.exec("quota", "show", demoProject, "-f", "json")
	if err != nil {
		if !strings.Contains(errOut, "endpoint for compute service") {
			t.Errorf("quota show: %v\n%s%s", err, out, errOut)
		} else {
			t.Logf("quota show needs a compute endpoint with this openstackclient: %s", strings.TrimSpace(errOut))
		}
	} else {
		var q map[string]any
		if err := json.Unmarshal([]byte(out), &q); err != nil {
			t.Errorf("quota show: not JSON: %s", out)
		}
		check(t, "quota show", q, map[string]any{"networks": 20.0, "ports": 500.0})
	}

	// --- deletes (admin) ---
	check(t, "admin network show of demo's network", admin.obj("network", "show", dnetID), map[string]any{"project_id": demoProject})
	if r := srv.Do(testutil.Admin, "DELETE", "/v2.0/ports/"+str(outside.Obj("port")["id"]), nil); r.Status != 204 {
		t.Errorf("DELETE port: %d %s", r.Status, r.Raw)
	}
	admin.ok("port", "delete", p1ID)
	admin.ok("network", "delete", net1ID, str(flat["id"]), str(vx["id"]), extID)
	for _, p := range []string{"/v2.0/ports/" + p1ID, "/v2.0/networks/" + net1ID, "/v2.0/subnets/" + sub1ID, "/v2.0/networks/" + extID} {
		if r := srv.Do(testutil.Admin, "GET", p, nil); r.Status != 404 {
			t.Errorf("GET %s after delete: %d %s", p, r.Status, r.Raw)
		}
	}
}
