// Package config reads neutrino-server's INI file. Option names follow
// upstream Neutron (neutron.conf and ml2_conf.ini merged into one file) so
// that operators can reuse what they know.
package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// Server is the server's configuration.
type Server struct {
	BindHost              string
	BindPort              int
	AuthStrategy          string // keystone | noauth
	BaseMAC               string
	RouterDistributed     bool
	AgentDownTime         time.Duration
	AutoL3Failover        bool
	GlobalPhysnetMTU      int
	MaxRequestBodySize    int64
	PaginationMaxLimit    int
	MaxDNSNameservers     int
	MaxSubnetHostRoutes   int
	DHCPAgentsPerNetwork  int
	EtcdEndpoints         []string
	PublicURL             string // the network endpoint in the catalog; derived from bind_host:bind_port when empty
	TypeDrivers           []string
	TenantNetworkTypes    []string
	VNIRanges             string
	NetworkVLANRanges     string
	FlatNetworks          []string // "*" = any
	TunnelIDRanges        string
	Quotas                map[string]int
	KeystoneAuthtoken     map[string]string // [keystone_authtoken], empty = built-in Keystone
	MetadataSharedSecret  string
	DefaultAvailabilityZn string
}

// Defaults returns the all-in-one defaults.
func Defaults() Server {
	return Server{
		BindHost:              "127.0.0.1",
		BindPort:              9696,
		AuthStrategy:          "keystone",
		BaseMAC:               "fa:16:3e:00:00:00",
		AgentDownTime:         15 * time.Second,
		AutoL3Failover:        true,
		GlobalPhysnetMTU:      1500,
		MaxRequestBodySize:    114688, // oslo.middleware's default
		PaginationMaxLimit:    -1,
		MaxDNSNameservers:     5,
		MaxSubnetHostRoutes:   20,
		DHCPAgentsPerNetwork:  1,
		TypeDrivers:           []string{"flat", "vlan", "vxlan", "gre"},
		TenantNetworkTypes:    []string{"vxlan"},
		VNIRanges:             "1:1000",
		FlatNetworks:          []string{"*"},
		Quotas:                DefaultQuotas(),
		DefaultAvailabilityZn: "nova",
	}
}

// DefaultQuotas are upstream's defaults (-1 = unlimited).
func DefaultQuotas() map[string]int {
	return map[string]int{
		"network":             100,
		"subnet":              100,
		"port":                500,
		"router":              10,
		"floatingip":          50,
		"security_group":      10,
		"security_group_rule": 100,
		"subnetpool":          -1,
		"rbac_policy":         10,
	}
}

// known lists every option we read, per section, so that a typo is an
// error naming it instead of a silently ignored setting.
var known = map[string][]string{
	ini.DefaultSection: {"bind_host", "bind_port", "auth_strategy", "base_mac", "router_distributed",
		"agent_down_time", "allow_automatic_l3agent_failover", "global_physnet_mtu", "max_request_body_size",
		"pagination_max_limit", "max_dns_nameservers", "max_subnet_host_routes", "dhcp_agents_per_network",
		"public_endpoint", "debug", "verbose", "core_plugin", "service_plugins", "allow_overlapping_ips",
		"metadata_proxy_shared_secret", "default_availability_zones", "state_path", "log_dir", "api_workers"},
	"ml2":                {"type_drivers", "tenant_network_types", "mechanism_drivers", "extension_drivers", "path_mtu"},
	"ml2_type_vxlan":     {"vni_ranges", "vxlan_group"},
	"ml2_type_vlan":      {"network_vlan_ranges"},
	"ml2_type_flat":      {"flat_networks"},
	"ml2_type_gre":       {"tunnel_id_ranges"},
	"ml2_type_geneve":    {"vni_ranges", "max_header_size"},
	"quotas":             {"quota_network", "quota_subnet", "quota_port", "quota_router", "quota_floatingip", "quota_security_group", "quota_security_group_rule", "quota_subnetpool", "quota_rbac_policy", "quota_driver", "default_quota"},
	"etcd":               {"endpoints"},
	"keystone_authtoken": nil, // free-form, passed to the Keystone validator
	"oslo_middleware":    {"max_request_body_size"},
}

// Load reads an INI file over the defaults. An empty path gives the
// defaults.
func Load(path string) (Server, error) {
	c := Defaults()
	if path == "" {
		return c, nil
	}
	f, err := ini.Load(path)
	if err != nil {
		return c, fmt.Errorf("read config %s: %w", path, err)
	}
	for _, sec := range f.Sections() {
		names, ok := known[sec.Name()]
		if !ok {
			return c, fmt.Errorf("config %s: unknown section [%s]", path, sec.Name())
		}
		if sec.Name() == "keystone_authtoken" {
			continue
		}
		for _, k := range sec.Keys() {
			if !contains(names, k.Name()) {
				return c, fmt.Errorf("config %s: unknown option %q in [%s]", path, k.Name(), sec.Name())
			}
		}
	}
	d := f.Section(ini.DefaultSection)
	var errs []string
	str := func(sec *ini.Section, key string, dst *string) {
		if sec.HasKey(key) {
			*dst = strings.TrimSpace(sec.Key(key).String())
		}
	}
	num := func(sec *ini.Section, key string, dst *int) {
		if sec.HasKey(key) {
			v, err := sec.Key(key).Int()
			if err != nil {
				errs = append(errs, fmt.Sprintf("[%s] %s = %q is not an integer", sec.Name(), key, sec.Key(key).String()))
				return
			}
			*dst = v
		}
	}
	boolean := func(sec *ini.Section, key string, dst *bool) {
		if sec.HasKey(key) {
			v, err := sec.Key(key).Bool()
			if err != nil {
				errs = append(errs, fmt.Sprintf("[%s] %s = %q is not a boolean", sec.Name(), key, sec.Key(key).String()))
				return
			}
			*dst = v
		}
	}
	list := func(sec *ini.Section, key string, dst *[]string) {
		if sec.HasKey(key) {
			*dst = splitList(sec.Key(key).String())
		}
	}
	str(d, "bind_host", &c.BindHost)
	num(d, "bind_port", &c.BindPort)
	str(d, "auth_strategy", &c.AuthStrategy)
	str(d, "base_mac", &c.BaseMAC)
	boolean(d, "router_distributed", &c.RouterDistributed)
	var downTime int
	num(d, "agent_down_time", &downTime)
	if downTime > 0 {
		c.AgentDownTime = time.Duration(downTime) * time.Second
	}
	boolean(d, "allow_automatic_l3agent_failover", &c.AutoL3Failover)
	num(d, "global_physnet_mtu", &c.GlobalPhysnetMTU)
	var body int
	num(d, "max_request_body_size", &body)
	num(f.Section("oslo_middleware"), "max_request_body_size", &body)
	if body > 0 {
		c.MaxRequestBodySize = int64(body)
	}
	num(d, "pagination_max_limit", &c.PaginationMaxLimit)
	num(d, "max_dns_nameservers", &c.MaxDNSNameservers)
	num(d, "max_subnet_host_routes", &c.MaxSubnetHostRoutes)
	num(d, "dhcp_agents_per_network", &c.DHCPAgentsPerNetwork)
	str(d, "public_endpoint", &c.PublicURL)
	str(d, "metadata_proxy_shared_secret", &c.MetadataSharedSecret)
	list(f.Section("etcd"), "endpoints", &c.EtcdEndpoints)
	ml2 := f.Section("ml2")
	list(ml2, "type_drivers", &c.TypeDrivers)
	list(ml2, "tenant_network_types", &c.TenantNetworkTypes)
	str(f.Section("ml2_type_vxlan"), "vni_ranges", &c.VNIRanges)
	str(f.Section("ml2_type_vlan"), "network_vlan_ranges", &c.NetworkVLANRanges)
	list(f.Section("ml2_type_flat"), "flat_networks", &c.FlatNetworks)
	str(f.Section("ml2_type_gre"), "tunnel_id_ranges", &c.TunnelIDRanges)
	q := f.Section("quotas")
	for res := range c.Quotas {
		v := c.Quotas[res]
		num(q, "quota_"+res, &v)
		c.Quotas[res] = v
	}
	if ka := f.Section("keystone_authtoken"); len(ka.Keys()) > 0 {
		c.KeystoneAuthtoken = map[string]string{}
		for _, k := range ka.Keys() {
			c.KeystoneAuthtoken[k.Name()] = k.String()
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("config %s: %s", path, strings.Join(errs, "; "))
	}
	return c, c.Validate()
}

// Validate checks values that do not depend on other packages.
func (c Server) Validate() error {
	if _, err := netip.ParseAddr(c.BindHost); err != nil && c.BindHost != "localhost" {
		return fmt.Errorf("bind_host %q is not an IP address", c.BindHost)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return fmt.Errorf("bind_port %d is out of range", c.BindPort)
	}
	if c.AuthStrategy != "keystone" && c.AuthStrategy != "noauth" {
		return fmt.Errorf("auth_strategy %q: must be keystone or noauth", c.AuthStrategy)
	}
	for _, t := range c.TenantNetworkTypes {
		if !contains(c.TypeDrivers, t) {
			return fmt.Errorf("[ml2] tenant_network_types: %q is not in type_drivers %v", t, c.TypeDrivers)
		}
	}
	for _, t := range c.TypeDrivers {
		switch t {
		case "flat", "vlan", "vxlan", "gre", "local", "geneve":
		default:
			return fmt.Errorf("[ml2] type_drivers: unknown type %q", t)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
