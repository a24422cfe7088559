// Package conformance runs upstream's own API test suites — tempest's
// tempest.api.network and neutron-tempest-plugin's api tests, from
// Debian's tempest and neutron-tempest-plugin packages — against a
// neutrino-server, and reports pass, fail and skip per test.
package conformance

import (
	"fmt"
	"sort"
	"strings"
)

// Target is what tempest must know about the server under test.
type Target struct {
	// IdentityURL is the Keystone v3 endpoint, e.g.
	// http://127.0.0.1:9696/identity/v3. The network endpoint comes from
	// its catalog.
	IdentityURL string
	Region      string
	// The admin user tempest creates its dynamic credentials with.
	AdminUser, AdminPassword, AdminProject, AdminDomain string
	// Extensions are the aliases GET /v2.0/extensions lists.
	Extensions []string
	// PublicNetworkID/Name: an external network for floating IP and
	// router gateway tests ("" when there is none; those tests skip).
	PublicNetworkID, PublicNetworkName string
	// TypeDrivers are the segment types the server accepts
	// ([ml2] type_drivers); VLANPhysnet a physical network with a VLAN
	// range ("" for none).
	TypeDrivers []string
	VLANPhysnet string
	// Workspace-relative log file.
	LogFile string
}

// TempestConf renders tempest.conf for t: dynamic credentials made by the
// admin user, only the network service, no instances (validation off),
// and the server's extension list, so tests of missing extensions skip
// saying which one they wait for.
func TempestConf(t Target) string {
	exts := append([]string(nil), t.Extensions...)
	sort.Strings(exts)
	region := t.Region
	if region == "" {
		region = "RegionOne"
	}
	var b strings.Builder
	section := func(name string, kv ...string) {
		fmt.Fprintf(&b, "[%s]\n", name)
		for i := 0; i+1 < len(kv); i += 2 {
			fmt.Fprintf(&b, "%s = %s\n", kv[i], kv[i+1])
		}
		b.WriteString("\n")
	}
	logFile := t.LogFile
	if logFile == "" {
		logFile = "tempest.log"
	}
	section("DEFAULT", "log_file", logFile, "debug", "True")
	section("auth",
		"use_dynamic_credentials", "True",
		"create_isolated_networks", "False",
		"admin_username", t.AdminUser,
		"admin_password", t.AdminPassword,
		"admin_project_name", t.AdminProject,
		"admin_domain_name", t.AdminDomain,
		"default_credentials_domain_name", t.AdminDomain)
	section("identity",
		"uri_v3", t.IdentityURL,
		"auth_version", "v3",
		"region", region,
		"v3_endpoint_type", "public")
	section("identity-feature-enabled", "api_v2", "False", "api_v3", "True")
	section("service_available",
		"neutron", "True", "nova", "False", "glance", "False", "cinder", "False",
		"swift", "False", "horizon", "False", "heat", "False", "placement", "False")
	network := []string{
		"region", region,
		"endpoint_type", "public",
		"project_network_cidr", "10.100.0.0/16",
		"project_network_mask_bits", "28",
		"project_network_v6_cidr", "2001:db8::/48",
		"project_network_v6_mask_bits", "64",
		"project_networks_reachable", "False",
		"build_timeout", "60",
		"build_interval", "1",
	}
	if t.PublicNetworkID != "" {
		network = append(network, "public_network_id", t.PublicNetworkID, "floating_network_name", t.PublicNetworkName)
	}
	section("network", network...)
	section("network-feature-enabled",
		"api_extensions", strings.Join(exts, ","),
		"ipv6", "True",
		"ipv6_subnet_attributes", "True",
		"port_admin_state_change", "True",
		"port_security", "True")
	plugin := []string{
		"available_type_drivers", strings.Join(t.TypeDrivers, ","),
		"specify_floating_ip_address_available", "True",
		"create_shared_resources", "True",
		// The zone agents report by default (upstream's devstack too).
		"agent_availability_zone", "nova",
	}
	if t.VLANPhysnet != "" {
		plugin = append(plugin, "provider_vlans", t.VLANPhysnet)
	}
	section("neutron_plugin_options", plugin...)
	section("validation", "run_validation", "False")
	return b.String()
}
