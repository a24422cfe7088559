package conformance

import (
	"strings"
	"testing"
)

func TestTempestConf(t *testing.T) {
	got := TempestConf(Target{
		IdentityURL: "http://127.0.0.1:9696/identity/v3",
		AdminUser:   "admin", AdminPassword: "pw", AdminProject: "admin", AdminDomain: "Default",
		Extensions:      []string{"router", "external-net", "agent"},
		PublicNetworkID: "net-1", PublicNetworkName: "public",
		TypeDrivers: []string{"flat", "vxlan"}, VLANPhysnet: "physnet1",
	})
	want := `[DEFAULT]
log_file = tempest.log
debug = True

[auth]
use_dynamic_credentials = True
create_isolated_networks = False
admin_username = admin
admin_password = pw
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default

[identity]
uri_v3 = http://127.0.0.1:9696/identity/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = False
api_v3 = True

[service_available]
neutron = True
nova = False
glance = False
cinder = False
swift = False
horizon = False
heat = False
placement = False

[network]
region = RegionOne
endpoint_type = public
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_network_v6_cidr = 2001:db8::/48
project_network_v6_mask_bits = 64
project_networks_reachable = False
build_timeout = 60
build_interval = 1
public_network_id = net-1
floating_network_name = public

[network-feature-enabled]
api_extensions = agent,external-net,router
ipv6 = True
ipv6_subnet_attributes = True
port_admin_state_change = True
port_security = True

[neutron_plugin_options]
available_type_drivers = flat,vxlan
specify_floating_ip_address_available = True
create_shared_resources = True
agent_availability_zone = nova
provider_vlans = physnet1

[validation]
run_validation = False

`
	if got != want {
		t.Errorf("tempest.conf:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(TempestConf(Target{}), "public_network_id") {
		t.Error("public_network_id without a public network")
	}
}

func TestParseTrace(t *testing.T) {
	trace := `{0} tempest.api.network.test_networks.NetworksTest.test_list_networks[id-f7ffdeda-e200-4a7a-bcbe-05716e86bf43,smoke] [0.123s] ... ok
{1} setUpClass (neutron_tempest_plugin.api.test_trunk.TrunkTestJSON) ... SKIPPED: trunk extension not enabled.
{1} neutron_tempest_plugin.api.test_ports.PortsTestJSON.test_create_port_with_propagate_uplink_status [0.2s] ... SKIPPED: uplink-status-propagation extension not enabled.
{0} neutron_tempest_plugin.api.test_routers.RoutersTest.test_router_interface_status[id-c86ac3a8-50bd-4b00-a6b8-62af84a0765c] [1.5s] ... FAILED
Captured traceback:
{0} not a test line
`
	r, err := ParseTrace(strings.NewReader(trace))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Passed) != 1 || r.Passed[0] != "tempest.api.network.test_networks.NetworksTest.test_list_networks" {
		t.Errorf("passed: %v", r.Passed)
	}
	if len(r.Failed) != 1 || r.Failed[0] != "neutron_tempest_plugin.api.test_routers.RoutersTest.test_router_interface_status" {
		t.Errorf("failed: %v", r.Failed)
	}
	if len(r.Skipped) != 2 || r.Skipped[1] != (Skip{"neutron_tempest_plugin.api.test_trunk.TrunkTestJSON", "trunk extension not enabled."}) {
		t.Errorf("skipped: %v", r.Skipped)
	}
	if p, f, s := r.Counts("neutron_tempest_plugin.api."); p != 0 || f != 1 || s != 2 {
		t.Errorf("plugin counts %d/%d/%d", p, f, s)
	}
}
