package conformance

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// subset is a fast, stable selection of upstream tests that pass: core
// networks, subnets and ports, routers with gateways and floating IPs,
// security groups, extensions, quotas and tags, MTU, MAC regeneration and
// floating IP pools, subnet pools and address scopes, address groups and
// RBAC policies, from both suites. A test
// here that fails is a regression against upstream's own API suites.
var subset = []string{
	"tempest.api.network.test_service_providers.ServiceProvidersTest.test_service_providers_list",
	"neutron_tempest_plugin.api.test_networks.NetworksMtuTestJSON.test_update_network_custom_mtu",
	"neutron_tempest_plugin.api.admin.test_ports.PortTestCasesAdmin.test_regenerate_mac_address",
	"neutron_tempest_plugin.api.test_floating_ips.FloatingIPPoolTestJSON.test_create_floatingip_from_specific_pool",
	"tempest.api.network.test_networks.NetworksTest.test_create_update_delete_network_subnet",
	"tempest.api.network.test_networks.NetworksTest.test_list_networks",
	"tempest.api.network.test_networks.NetworksTest.test_show_subnet",
	"tempest.api.network.test_networks.NetworksIpV6TestAttrs.test_create_delete_subnet_with_v6_attributes_stateful",
	"tempest.api.network.test_ports.PortsTestJSON.test_create_update_delete_port",
	"tempest.api.network.test_ports.PortsTestJSON.test_list_ports",
	"tempest.api.network.test_ports.PortsTestJSON.test_create_port_with_no_securitygroups",
	"tempest.api.network.test_routers.RoutersTest.test_create_show_list_update_delete_router",
	"tempest.api.network.test_routers.RoutersTest.test_add_remove_router_interface_with_subnet_id",
	"tempest.api.network.test_routers.RoutersTest.test_update_delete_extra_route",
	"tempest.api.network.test_floating_ips.FloatingIPTestJSON.test_create_list_show_update_delete_floating_ip",
	"tempest.api.network.test_security_groups.SecGroupTest.test_create_list_update_show_delete_security_group",
	"tempest.api.network.test_security_groups.SecGroupTest.test_create_show_delete_security_group_rule",
	"tempest.api.network.test_extensions.ExtensionsTestJSON.test_list_show_extensions",
	"tempest.api.network.admin.test_quotas.QuotasTest.test_quotas",
	"tempest.api.network.admin.test_external_network_extension.ExternalNetworksTestJSON.test_create_external_network",
	"tempest.api.network.test_allowed_address_pair.AllowedAddressPairTestJSON.test_update_port_with_address_pair",
	"tempest.api.network.test_networks_negative.NetworksNegativeTestJSON.test_show_non_existent_network",
	"tempest.api.network.admin.test_routers.RoutersAdminTest.test_create_router_set_gateway_with_fixed_ip",
	"neutron_tempest_plugin.api.test_floating_ips.FloatingIPTestJSON.test_floatingip_update_extra_attributes_port_id_not_changed",
	"neutron_tempest_plugin.api.test_networks.NetworksTestJSON.test_show_network",
	"neutron_tempest_plugin.api.test_ports.PortsTestJSON.test_change_dhcp_flag_then_create_port",
	"neutron_tempest_plugin.api.test_routers.RoutersTest.test_create_update_router_description",
	"neutron_tempest_plugin.api.test_security_groups.SecGroupTest.test_create_list_update_show_delete_security_group",
	"neutron_tempest_plugin.api.test_revisions.TestRevisions.test_update_port_bumps_revision",
	"neutron_tempest_plugin.api.test_timestamp.TestTimeStamp.test_create_network_with_timestamp",
	"neutron_tempest_plugin.api.test_extra_dhcp_options.ExtraDHCPOptionsTestJSON.test_create_list_port_with_extra_dhcp_options",
	"neutron_tempest_plugin.api.test_network_ip_availability.NetworksIpAvailabilityIPv4Test.test_list_ip_availability_after_subnet_and_ports",
	"neutron_tempest_plugin.api.test_extension_driver_port_security.PortSecTest.test_port_sec_default_value",
	"neutron_tempest_plugin.api.admin.test_quotas.QuotasTest.test_quotas",
	"neutron_tempest_plugin.api.test_floating_ips.FloatingIPTestJSON.test_blank_update_clears_association",
	"neutron_tempest_plugin.api.admin.test_tag.TagNetworkTestJSON.test_network_tags",
	"neutron_tempest_plugin.api.admin.test_tag.TagFilterPortTestJSON.test_filter_port_tags",
	"tempest.api.network.test_subnetpools_extensions.SubnetPoolsTestJSON.test_create_list_show_update_delete_subnetpools",
	"neutron_tempest_plugin.api.test_subnetpools.SubnetPoolsTest.test_create_subnet_from_pool_with_prefixlen",
	"neutron_tempest_plugin.api.test_subnetpools_negative.SubnetPoolsNegativeTestJSON.test_create_subnetpool_associate_address_scope_prefix_intersect",
	"neutron_tempest_plugin.api.test_address_scopes.AddressScopeTest.test_admin_update_shared_address_scope",
	"neutron_tempest_plugin.api.test_address_groups.AddressGroupTest.test_edit_addresses_in_address_group",
	"neutron_tempest_plugin.api.admin.test_shared_network_extension.RBACSharedNetworksTest.test_port_presence_prevents_network_rbac_policy_deletion",
	"neutron_tempest_plugin.api.admin.test_external_network_extension.ExternalNetworksRBACTestJSON.test_delete_policies_while_tenant_attached_to_net",
	"neutron_tempest_plugin.api.test_security_groups.RbacSharedSecurityGroupTest.test_port_presence_prevents_policy_rbac_policy_deletion",
}

// TestTempestSubset runs the subset with Debian's tempest against a real
// server with the built-in Keystone (tempest makes its own projects and
// users through it). Skipped when tempest is not installed.
func TestTempestSubset(t *testing.T) {
	if _, err := exec.LookPath("tempest"); err != nil {
		t.Skip("tempest not installed (apt-get install tempest neutron-tempest-plugin)")
	}
	if testing.Short() {
		t.Skip("slow: runs tempest")
	}
	s := testutil.StartServer(t)
	c := s.Keystone.Credentials()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	target, err := Discover(ctx, Admin{
		IdentityURL: s.URL + "/identity/v3", Region: c.Region,
		User: c.Admin.UserName, Password: c.Admin.Password, Project: c.Admin.ProjectName,
	}, "public")
	if err != nil {
		t.Fatal(err)
	}
	if target.PublicNetworkID == "" {
		t.Fatal("no public network")
	}
	var trace strings.Builder
	var include []string
	for _, id := range subset { // the id, then its attributes or nothing
		include = append(include, "^"+regexp.QuoteMeta(id)+`(\[|$)`)
	}
	res, err := Run(ctx, RunOptions{Target: target, IncludeList: include, Concurrency: 2, Output: &trace})
	if err != nil {
		t.Fatalf("%v\n%s", err, trace.String())
	}
	var sum strings.Builder
	res.WriteSummary(&sum)
	t.Logf("tempest subset:\n%s", sum.String())
	if len(res.Failed) > 0 || len(res.Skipped) > 0 {
		t.Errorf("failed %v, skipped %v\n%s", res.Failed, res.Skipped, trace.String())
	}
	if len(res.Passed) < len(subset) {
		t.Errorf("%d tests passed, want at least %d (one per entry)", len(res.Passed), len(subset))
	}
}
