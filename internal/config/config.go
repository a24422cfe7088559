// Package config reads neutrino-server's INI file. Option names follow
// upstream Neutron (neutron.conf and ml2_conf.ini merged into one file) so
// that operators can reuse what they know.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/ipam"
	"gopkg.in/ini.v1"
)

// Server is the server's configuration.
type Server struct {
	BindHost          string
	BindPort          int
	AuthStrategy      string // keystone | noauth
	BaseMAC           string
	RouterDistributed bool
	AgentDownTime     time.Duration
	AutoL3Failover    bool
	// L3HA ([DEFAULT] l3_ha) is the default of a new router's ha.
	L3HA bool
	// MaxL3AgentsPerRouter ([DEFAULT] max_l3_agents_per_router) bounds
	// how many agents host one HA router (0 = every eligible agent).
	MaxL3AgentsPerRouter int
	// L3HAFenceTime ([DEFAULT] l3_ha_fence_time, ours) is how long the
	// active agent of an HA router must have been silent before a
	// standby's claim of the router is granted (docs/ha.md).
	L3HAFenceTime time.Duration
	// L3HANetCIDR ([DEFAULT] l3_ha_net_cidr) is the subnet of each
	// project's hidden HA network (docs/ha.md).
	L3HANetCIDR          netip.Prefix
	GlobalPhysnetMTU     int
	MaxRequestBodySize   int64
	PaginationMaxLimit   int
	MaxDNSNameservers    int
	MaxSubnetHostRoutes  int
	DHCPAgentsPerNetwork int
	EtcdEndpoints        []string
	Etcd                 EtcdTLSAuth // [etcd] client TLS and authentication
	// SigningKeyFile ([identity] signing_key_file) holds the built-in
	// Keystone's secret: it signs tokens and seals the secrets kept in
	// etcd. Empty = <data dir>/signing-key, generated when missing.
	SigningKeyFile string
	// ClientSocketTimeout ([DEFAULT] client_socket_timeout, as in
	// neutron) bounds how long a client may take to send a request body
	// and how long an idle keep-alive connection stays open. 0 = forever.
	ClientSocketTimeout time.Duration
	// Lockout ([security_compliance], as in keystone) throttles password
	// guessing against the built-in Keystone.
	LockoutFailureAttempts int
	LockoutDuration        time.Duration
	// MetricsBind ([DEFAULT] metrics_bind, neutrino's own) is the
	// host:port of the listener serving /metrics, /healthz and /readyz;
	// empty = no such listener.
	MetricsBind           string
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
	// Ignored are the upstream options the files set that do not apply
	// to this server (see LogIgnored).
	Ignored []Ignored
}

// EtcdTLSAuth are the [etcd] options that protect the connection to an
// external etcd (the names follow etcdctl's --cert, --key, --cacert and
// --user).
type EtcdTLSAuth struct {
	CertFile, KeyFile, CAFile string
	Username, Password        string
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
		MaxL3AgentsPerRouter:  3,
		L3HAFenceTime:         2 * time.Second,
		L3HANetCIDR:           netip.MustParsePrefix("169.254.192.0/18"),
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
		// neutron's default is 900s; a minute is plenty for a request
		// body and frees connections held open by slow clients sooner.
		ClientSocketTimeout: 60 * time.Second,
		// keystone leaves lockout off by default; the built-in
		// Keystone turns it on, since it has no other guessing defence.
		LockoutFailureAttempts: 10,
		LockoutDuration:        5 * time.Minute,
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

// serverSchema lists every option we read, per section, so that a typo
// is an error naming it instead of a silently ignored setting, and the
// upstream options of neutron.conf and ml2_conf.ini that do not apply to
// this server (accepted, logged once as ignored).
var serverSchema = Schema{
	What: "config",
	Known: map[string][]string{
		ini.DefaultSection: {"bind_host", "bind_port", "auth_strategy", "base_mac", "router_distributed",
			"agent_down_time", "allow_automatic_l3agent_failover", "global_physnet_mtu", "max_request_body_size",
			"pagination_max_limit", "max_dns_nameservers", "max_subnet_host_routes", "dhcp_agents_per_network",
			"public_endpoint", "metadata_proxy_shared_secret", "default_availability_zones", "client_socket_timeout",
			"l3_ha", "max_l3_agents_per_router", "l3_ha_fence_time", "l3_ha_net_cidr", "metrics_bind"},
		"ml2":                 {"type_drivers", "tenant_network_types", "path_mtu"},
		"ml2_type_vxlan":      {"vni_ranges"},
		"ml2_type_vlan":       {"network_vlan_ranges"},
		"ml2_type_flat":       {"flat_networks"},
		"ml2_type_gre":        {"tunnel_id_ranges"},
		"ml2_type_geneve":     {"vni_ranges", "max_header_size"},
		"quotas":              {"quota_network", "quota_subnet", "quota_port", "quota_router", "quota_floatingip", "quota_security_group", "quota_security_group_rule", "quota_subnetpool", "quota_rbac_policy", "quota_driver", "default_quota"},
		"etcd":                {"endpoints", "cert_file", "key_file", "ca_file", "username", "password"},
		"identity":            {"signing_key_file"},
		"security_compliance": {"lockout_failure_attempts", "lockout_duration"},
		"keystone_authtoken":  nil, // free-form, passed to the Keystone validator
		"oslo_middleware":     {"max_request_body_size"},
	},
	Ignored: map[string]map[string]IgnoredOption{
		ini.DefaultSection: {
			"verbose":               Skip("logging is always at info level"),
			"debug":                 Skip("logging is always at info level"),
			"log_dir":               Skip("the server logs to stderr"),
			"state_path":            Skip("state lives in etcd and --data-dir"),
			"api_workers":           Skip("one process serves the API; run more servers for more capacity"),
			"core_plugin":           Skip("ML2 with Linux bridges and VXLAN is built in"),
			"service_plugins":       Skip("the router (L3) service is built in"),
			"allow_overlapping_ips": Must(true, "subnets of different networks may always overlap"),
			"ha_vrrp_advert_int":    Skip("no keepalived: standbys probe the active host (docs/ha.md)"),
		},
		"ml2": {
			"mechanism_drivers": Skip("the agents' Linux data plane and L2 population are built in"),
			"extension_drivers": Skip("port_security and the other extensions are built in"),
		},
		"ml2_type_vxlan": {"vxlan_group": Skip("VXLAN floods by head-end replication (L2 population), not multicast")},
		"securitygroup": {
			"enable_security_group": Must(true, "the security group API is always on"),
			"enable_ipset":          Skip("the agents' nftables sets play ipset's part"),
			"firewall_driver":       Skip("the agents' firewall is nftables"),
		},
	},
}

// Load reads an INI file over the defaults. An empty path gives the
// defaults.
func Load(path string) (Server, error) {
	if path == "" {
		return LoadFiles(nil)
	}
	return LoadFiles([]string{path})
}

// LoadFiles reads INI files over the defaults, as neutron-server's
// repeated --config-file: a later file overrides an earlier one. The
// upstream options that do not apply are listed in Server.Ignored.
func LoadFiles(paths []string) (Server, error) {
	c := Defaults()
	f, ignored, err := serverSchema.Load(paths)
	if err != nil {
		return c, err
	}
	c.Ignored = ignored
	path := strings.Join(paths, ", ")
	d := f.Section(ini.DefaultSection)
	r := &reader{}
	str, num, boolean, list := r.str, r.num, r.boolean, r.list
	str(d, "bind_host", &c.BindHost)
	num(d, "bind_port", &c.BindPort)
	str(d, "auth_strategy", &c.AuthStrategy)
	str(d, "base_mac", &c.BaseMAC)
	boolean(d, "router_distributed", &c.RouterDistributed)
	// agent_down_time may be fractional (upstream: an integer): a
	// sandbox detects a dead agent in a second or two.
	r.fracSeconds(d, "agent_down_time", &c.AgentDownTime)
	r.fracSeconds(d, "l3_ha_fence_time", &c.L3HAFenceTime)
	boolean(d, "l3_ha", &c.L3HA)
	num(d, "max_l3_agents_per_router", &c.MaxL3AgentsPerRouter)
	var haNet string
	if str(d, "l3_ha_net_cidr", &haNet); haNet != "" {
		p, err := netip.ParsePrefix(haNet)
		if err != nil || !p.Addr().Is4() || p.Bits() > 29 || p.Masked() != p {
			r.errs = append(r.errs, fmt.Sprintf("[DEFAULT] l3_ha_net_cidr = %q is not an IPv4 network of /29 or larger", haNet))
		} else {
			c.L3HANetCIDR = p
		}
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
	str(d, "metrics_bind", &c.MetricsBind)
	str(d, "metadata_proxy_shared_secret", &c.MetadataSharedSecret)
	r.security(f, &c)
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
	if len(r.errs) > 0 {
		return c, fmt.Errorf("config %s: %s", path, strings.Join(r.errs, "; "))
	}
	return c, c.Validate()
}

// reader reads typed options, collecting every malformed value.
type reader struct{ errs []string }

func (r *reader) str(sec *ini.Section, key string, dst *string) {
	if sec.HasKey(key) {
		*dst = strings.TrimSpace(sec.Key(key).String())
	}
}

func (r *reader) num(sec *ini.Section, key string, dst *int) {
	if sec.HasKey(key) {
		v, err := sec.Key(key).Int()
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("[%s] %s = %q is not an integer", sec.Name(), key, sec.Key(key).String()))
			return
		}
		*dst = v
	}
}

func (r *reader) boolean(sec *ini.Section, key string, dst *bool) {
	if sec.HasKey(key) {
		v, err := sec.Key(key).Bool()
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("[%s] %s = %q is not a boolean", sec.Name(), key, sec.Key(key).String()))
			return
		}
		*dst = v
	}
}

func (r *reader) list(sec *ini.Section, key string, dst *[]string) {
	if sec.HasKey(key) {
		*dst = splitList(sec.Key(key).String())
	}
}

// seconds reads a non-negative number of seconds.
func (r *reader) seconds(sec *ini.Section, key string, dst *time.Duration) {
	if !sec.HasKey(key) {
		return
	}
	v, bad := 0, len(r.errs)
	r.num(sec, key, &v)
	switch {
	case len(r.errs) > bad:
	case v < 0:
		r.errs = append(r.errs, fmt.Sprintf("[%s] %s = %d must not be negative", sec.Name(), key, v))
	default:
		*dst = time.Duration(v) * time.Second
	}
}

// fracSeconds reads a positive, possibly fractional, number of seconds.
func (r *reader) fracSeconds(sec *ini.Section, key string, dst *time.Duration) {
	if !sec.HasKey(key) {
		return
	}
	v, err := sec.Key(key).Float64()
	if err != nil || v <= 0 {
		r.errs = append(r.errs, fmt.Sprintf("[%s] %s = %q is not a positive number of seconds", sec.Name(), key, sec.Key(key).String()))
		return
	}
	*dst = time.Duration(v * float64(time.Second))
}

// security reads the options that protect the store and the built-in
// Keystone.
func (r *reader) security(f *ini.File, c *Server) {
	etcd := f.Section("etcd")
	r.list(etcd, "endpoints", &c.EtcdEndpoints)
	r.str(etcd, "cert_file", &c.Etcd.CertFile)
	r.str(etcd, "key_file", &c.Etcd.KeyFile)
	r.str(etcd, "ca_file", &c.Etcd.CAFile)
	r.str(etcd, "username", &c.Etcd.Username)
	r.str(etcd, "password", &c.Etcd.Password)
	r.str(f.Section("identity"), "signing_key_file", &c.SigningKeyFile)
	r.seconds(f.Section(ini.DefaultSection), "client_socket_timeout", &c.ClientSocketTimeout)
	sc := f.Section("security_compliance")
	r.num(sc, "lockout_failure_attempts", &c.LockoutFailureAttempts)
	r.seconds(sc, "lockout_duration", &c.LockoutDuration)
}

// Validate checks values that do not depend on other packages.
func (c Server) Validate() error {
	if _, err := netip.ParseAddr(c.BindHost); err != nil && c.BindHost != "localhost" {
		return fmt.Errorf("bind_host %q is not an IP address", c.BindHost)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return fmt.Errorf("bind_port %d is out of range", c.BindPort)
	}
	if err := ValidateBind("metrics_bind", c.MetricsBind); err != nil {
		return err
	}
	if c.AuthStrategy != "keystone" && c.AuthStrategy != "noauth" {
		return fmt.Errorf("auth_strategy %q: must be keystone or noauth", c.AuthStrategy)
	}
	for _, t := range c.TenantNetworkTypes {
		if !contains(c.TypeDrivers, t) {
			return fmt.Errorf("[ml2] tenant_network_types: %q is not in type_drivers %v", t, c.TypeDrivers)
		}
	}
	if err := c.validateRanges(); err != nil {
		return err
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

// validateRanges checks the segment ranges at load, so that the
// walkthrough's placeholders (vni_ranges = MIN_VXLAN_ID:MAX_VXLAN_ID)
// are reported with the option that holds them.
func (c Server) validateRanges() error {
	if _, err := ipam.ParseVNIRanges(c.VNIRanges); err != nil {
		return fmt.Errorf("[ml2_type_vxlan] vni_ranges: %w", err)
	}
	if _, err := ipam.ParseRanges(c.TunnelIDRanges, 1, 1<<32-1); err != nil {
		return fmt.Errorf("[ml2_type_gre] tunnel_id_ranges: %w", err)
	}
	if _, _, err := ipam.ParseVLANRanges(c.NetworkVLANRanges); err != nil {
		return fmt.Errorf("[ml2_type_vlan] network_vlan_ranges: %w", err)
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

// ValidateBind checks a host:port listener option (empty = off).
func ValidateBind(option, v string) error {
	if v == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("[DEFAULT] %s = %q: want host:port (e.g. 127.0.0.1:9697)", option, v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("[DEFAULT] %s = %q: port out of range", option, v)
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && host != "localhost" {
		return fmt.Errorf("[DEFAULT] %s = %q: host is not an IP address", option, v)
	}
	return nil
}
