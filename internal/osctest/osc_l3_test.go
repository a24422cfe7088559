package osctest

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestOpenStackCLIRouters drives the L3 and agent commands of the real
// openstack CLI: routers (legacy and distributed), gateways, interfaces by
// subnet and by port, extra routes, floating IPs, and the agent and L3
// scheduling commands, against agents registered through the agent
// protocol.
func TestOpenStackCLIRouters(t *testing.T) {
	bin, err := exec.LookPath("openstack")
	if err != nil {
		t.Skip("openstack CLI not on PATH (install Debian package python3-openstackclient); skipping the CLI compatibility test")
	}
	if testing.Short() {
		t.Skip("slow: runs the openstack CLI about 30 times")
	}
	srv := testutil.StartServer(t)
	calls := 0
	start := time.Now()
	defer func() { t.Logf("%d openstack invocations in %v", calls, time.Since(start).Round(time.Millisecond)) }()
	admin := newCLI(t, bin, srv, "admin-openrc", &calls)

	// Two L3 agents (network nodes) register through the agent protocol
	// and keep heartbeating while the CLI runs.
	report := func(start bool) {
		for _, host := range []string{"network1", "network2"} {
			r := srv.Do(testutil.Admin, "POST", "/agent/v1/report", map[string]any{"host": host, "start_flag": start, "agents": []any{
				map[string]any{"agent_type": "L3 agent", "binary": "neutrino-agent", "topic": "l3_agent", "configurations": map[string]any{"agent_mode": "dvr_snat"}},
				map[string]any{"agent_type": "Linux bridge agent", "binary": "neutrino-agent", "topic": "N/A", "configurations": map[string]any{"tunneling_ip": "10.0.1.1"}},
			}})
			if r.Status != 200 {
				t.Errorf("agent report: %d %s", r.Status, r.Raw)
			}
		}
	}
	report(true)
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				report(false)
			}
		}
	}()

	ext := admin.obj("network", "create", "--external", "--provider-network-type", "flat", "--provider-physical-network", "extnet", "osc-ext")
	admin.obj("subnet", "create", "--network", "osc-ext", "--subnet-range", "203.0.113.0/24", "--gateway", "203.0.113.1",
		"--allocation-pool", "start=203.0.113.100,end=203.0.113.199", "--no-dhcp", "osc-ext-sub")
	admin.obj("network", "create", "osc-apps")
	admin.obj("subnet", "create", "--network", "osc-apps", "--subnet-range", "10.241.0.0/22", "osc-apps-sub")
	admin.obj("network", "create", "osc-dmz")
	admin.obj("subnet", "create", "--network", "osc-dmz", "--subnet-range", "10.242.0.0/22", "osc-dmz-sub")

	// Routers.
	r1 := admin.obj("router", "create", "--centralized", "osc-r1")
	check(t, "router create", r1, map[string]any{"name": "osc-r1", "status": "ACTIVE", "admin_state_up": true, "distributed": false, "ha": false})
	dvr := admin.obj("router", "create", "--distributed", "osc-dvr")
	check(t, "router create --distributed", dvr, map[string]any{"distributed": true})
	ha := admin.obj("router", "create", "--centralized", "--ha", "osc-ha")
	check(t, "router create --ha", ha, map[string]any{"ha": true})
	admin.ok("router", "set", "--external-gateway", "osc-ext", "osc-r1")
	admin.ok("router", "add", "subnet", "osc-r1", "osc-apps-sub")
	port := admin.obj("port", "create", "--network", "osc-dmz", "osc-dmz-gw")
	admin.ok("router", "add", "port", "osc-r1", str(port["id"]))
	admin.ok("router", "set", "--route", "destination=10.9.0.0/24,gateway=10.241.0.50", "osc-r1")
	shown := admin.obj("router", "show", "osc-r1")
	gw, _ := shown["external_gateway_info"].(map[string]any)
	if str(gw["network_id"]) != str(ext["id"]) || gw["enable_snat"] != true {
		t.Errorf("router show: gateway %v", shown["external_gateway_info"])
	}
	if routes, _ := shown["routes"].([]any); len(routes) != 1 {
		t.Errorf("router show: routes %v", shown["routes"])
	}
	if ifaces, _ := shown["interfaces_info"].([]any); len(ifaces) != 2 {
		t.Errorf("router show: interfaces_info %v", shown["interfaces_info"])
	}

	// Floating IPs.
	vm := admin.obj("port", "create", "--network", "osc-apps", "--device-owner", "compute:nova", "osc-vm")
	fip := admin.obj("floating", "ip", "create", "osc-ext")
	check(t, "floating ip create", fip, map[string]any{"status": "DOWN", "port_id": nil, "router_id": nil})
	fipAddr := str(fip["floating_ip_address"])
	if !strings.HasPrefix(fipAddr, "203.0.113.") {
		t.Errorf("floating ip address %q outside the allocation pool", fipAddr)
	}
	admin.ok("floating", "ip", "set", "--port", str(vm["id"]), fipAddr)
	check(t, "floating ip show", admin.obj("floating", "ip", "show", fipAddr), map[string]any{
		"port_id": vm["id"], "router_id": r1["id"], "floating_network_id": ext["id"]})
	// The interface a floating IP depends on cannot go.
	if out := admin.fail("router", "remove", "subnet", "osc-r1", "osc-apps-sub"); !strings.Contains(out, "floating IP") {
		t.Errorf("router remove subnet with a floating IP: %s", out)
	}
	admin.ok("floating", "ip", "unset", "--port", fipAddr)
	check(t, "floating ip after unset", admin.obj("floating", "ip", "show", fipAddr), map[string]any{"port_id": nil, "router_id": nil})
	admin.ok("router", "set", "--no-route", "osc-r1")
	admin.ok("router", "remove", "subnet", "osc-r1", "osc-apps-sub")

	// Agents and L3 scheduling.
	agents := admin.list("network", "agent", "list")
	if len(agents) != 4 {
		t.Fatalf("network agent list: %v", agents)
	}
	hosting := admin.list("network", "agent", "list", "--router", "osc-r1")
	if len(hosting) != 1 {
		t.Fatalf("network agent list --router: %v", hosting)
	}
	l3ID := str(hosting[0]["ID"])
	check(t, "network agent show", admin.obj("network", "agent", "show", l3ID), map[string]any{"agent_type": "L3 agent", "alive": true, "admin_state_up": true})
	other := ""
	for _, a := range agents {
		if str(a["Agent Type"]) == "L3 agent" && str(a["ID"]) != l3ID {
			other = str(a["ID"])
		}
	}
	admin.ok("network", "agent", "remove", "router", "--l3", l3ID, "osc-r1")
	if got := admin.list("network", "agent", "list", "--router", "osc-r1"); len(got) != 0 {
		t.Errorf("after remove router: hosted by %v", got)
	}
	admin.ok("network", "agent", "add", "router", "--l3", other, "osc-r1")
	if got := admin.list("network", "agent", "list", "--router", "osc-r1"); len(got) != 1 || str(got[0]["ID"]) != other {
		t.Errorf("after add router: hosted by %v", got)
	}
	oscHARouter(t, admin)
	admin.ok("network", "agent", "set", "--disable", other)
	check(t, "agent after --disable", admin.obj("network", "agent", "show", other), map[string]any{"admin_state_up": false})

	// Deletion.
	admin.ok("router", "remove", "port", "osc-r1", str(port["id"]))
	admin.ok("floating", "ip", "delete", fipAddr)
	admin.ok("router", "delete", "osc-r1", "osc-dvr", "osc-ha")
	if rs := admin.list("router", "list"); len(rs) != 0 {
		t.Errorf("routers left: %v", rs)
	}
}

// oscHARouter: the HA router osc-ha is on both L3 agents, one active
// (--long shows the HA State column); ha changes only while the router
// is down.
func oscHARouter(t *testing.T, admin *cli) {
	t.Helper()
	haStates := map[string]int{}
	for _, a := range admin.list("network", "agent", "list", "--router", "osc-ha", "--long") {
		haStates[str(a["HA State"])]++
	}
	if haStates["active"] != 1 || haStates["standby"] != 1 {
		t.Errorf("network agent list --router osc-ha --long: HA states %v, want one active and one standby", haStates)
	}
	if out := admin.fail("router", "set", "--no-ha", "osc-ha"); !strings.Contains(out, "admin_state_up") {
		t.Errorf("router set --no-ha while up: %s", out)
	}
	admin.ok("router", "set", "--disable", "osc-ha")
	admin.ok("router", "set", "--no-ha", "osc-ha")
	check(t, "router set --no-ha", admin.obj("router", "show", "osc-ha"), map[string]any{"ha": false})
}
