// Package agent is neutrino-agent: one process per host that follows the
// server's view of its host (hostmodel), plans the host's desired data
// plane as plain data (pure functions) and reconciles the kernel to it.
package agent

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"gopkg.in/ini.v1"
)

// Config is the agent's configuration (upstream option names where they
// exist: neutron.conf [DEFAULT] host, l3_agent.ini agent_mode,
// openvswitch_agent.ini [agent], linuxbridge_agent.ini [vxlan] and
// [linux_bridge]).
type Config struct {
	Host            string
	AgentMode       string // legacy | dvr | dvr_snat | dvr_no_external
	ServerURL       string // http://host:9696 or unix:///path/server.sock
	NamespaceSuffix string
	StatePath       string
	ReportInterval  time.Duration

	TunnelTypes  []string
	L2Population bool
	ARPResponder bool
	LocalIP      netip.Addr

	// PhysicalInterfaces maps physnets to host interfaces (flat networks).
	PhysicalInterfaces map[string]string
	// Bridges maps physnets to existing bridges.
	Bridges map[string]string

	EnableIsolatedMetadata bool
	DNSDomain              string
	// AvailabilityZone ([AGENT] availability_zone, default "nova" as
	// upstream's L3 and DHCP agents) is the zone the L3 and DHCP agent
	// rows report.
	AvailabilityZone string

	// EnableDHCPAgent ([DEFAULT] enable_dhcp_agent, neutrino's own,
	// default True): one process plays every agent type, so False is how
	// a host says it runs no neutron-dhcp-agent (the DVR walkthrough's
	// computes): no "DHCP agent" row is reported, so the server never
	// schedules a network's DHCP here and no qdhcp- namespace is made.
	EnableDHCPAgent bool

	// Metadata proxy: [DEFAULT] enable_metadata_proxy, nova_metadata_url
	// (http://host:port or unix:///path.sock; else upstream's
	// nova_metadata_host/nova_metadata_port) and metadata_proxy_shared_secret.
	EnableMetadataProxy bool
	MetadataURL         string
	MetadataSecret      string

	// [agent] enable_distributed_routing: upstream's OVS agent needs it
	// for DVR; here one process is both agents, so unset it follows
	// agent_mode, and a dvr* agent_mode with it set to False is refused.
	EnableDistributedRouting bool
	// [securitygroup] enable_security_group (False, or firewall_driver
	// noop, turns security groups off on this host) and
	// prevent_arp_spoofing ([securitygroup], or [agent] as upstream's
	// linuxbridge agent had it; False drops only the ARP checks of the
	// anti-spoofing); both are reported with the L2 agent's
	// configuration.
	EnableSecurityGroup bool
	PreventARPSpoofing  bool

	// MetricsBind ([DEFAULT] metrics_bind, neutrino's own): host:port of
	// the /metrics, /healthz and /readyz listener; empty = none.
	MetricsBind string

	Auth map[string]string // [agent_auth]; empty = noauth headers

	// Ignored are the upstream options the files set that do not apply
	// to this agent (config.LogIgnored logs them once).
	Ignored []config.Ignored
}

// agentSchema: the options of neutron.conf, openvswitch_agent.ini (or
// linuxbridge_agent.ini), l3_agent.ini, dhcp_agent.ini and
// metadata_agent.ini that this agent reads, and the upstream ones that do
// not apply to it (accepted, logged once as ignored).
var agentSchema = config.Schema{
	What: "agent config",
	Known: map[string][]string{
		ini.DefaultSection: {"host", "agent_mode", "server_url", "namespace_suffix", "state_path", "report_interval",
			"enable_isolated_metadata", "dns_domain", "enable_dhcp_agent", "enable_metadata_proxy", "nova_metadata_url",
			"nova_metadata_host", "nova_metadata_ip", "nova_metadata_port", "metadata_proxy_shared_secret", "metrics_bind"},
		"agent": {"tunnel_types", "l2_population", "arp_responder", "report_interval",
			"enable_distributed_routing", "prevent_arp_spoofing", "availability_zone"},
		"vxlan":         {"local_ip", "enable_vxlan", "l2_population", "arp_responder"},
		"ovs":           {"local_ip", "bridge_mappings"},
		"linux_bridge":  {"physical_interface_mappings", "bridge_mappings"},
		"securitygroup": {"enable_security_group", "firewall_driver", "prevent_arp_spoofing"},
		"agent_auth":    {"auth_url", "username", "password", "project_name", "user_domain_id", "project_domain_id", "user_domain_name", "project_domain_name"},
	},
	Ignored: map[string]map[string]config.IgnoredOption{
		ini.DefaultSection: {
			"verbose":                 config.Skip("logging is always at info level"),
			"debug":                   config.Skip("logging is always at info level"),
			"interface_driver":        config.Skip("ports are veth/tap devices on a Linux bridge per network, whatever the driver"),
			"use_namespaces":          config.Must(true, "routers and DHCP servers always live in namespaces"),
			"external_network_bridge": config.Skip("external networks are plugged through the physnet mappings ([ovs] bridge_mappings, [linux_bridge] physical_interface_mappings)"),
			"dhcp_driver":             config.Skip("the agent serves DHCP itself (no dnsmasq)"),
			"dnsmasq_config_file":     config.Skip("no dnsmasq: the built-in DHCP server sends the network's MTU (option 26) itself"),
		},
		"ovs": {
			"integration_bridge": config.Skip("no Open vSwitch: each network has its own Linux bridge"),
			"tunnel_bridge":      config.Skip("no Open vSwitch: VXLAN devices sit on the network's Linux bridge"),
		},
		"securitygroup": {"enable_ipset": config.Skip("the nftables firewall uses its own sets")},
	},
}

// noopFirewalls are the firewall_driver values that turn security groups
// off on the host, as upstream's.
var noopFirewalls = []string{"noop", "neutron.agent.firewall.NoopFirewallDriver"}

// LoadConfig reads and validates an agent INI file; any unknown section
// or option, or a bad value, is an error that names it.
func LoadConfig(path string) (*Config, error) { return LoadConfigFiles([]string{path}) }

// LoadConfigFiles reads agent INI files as upstream's agents read
// theirs (--config-file neutron.conf --config-file l3_agent.ini ...): a
// later file overrides an earlier one.
func LoadConfigFiles(paths []string) (*Config, error) {
	f, ignored, err := agentSchema.Load(paths)
	if err != nil {
		return nil, err
	}
	c := &Config{AgentMode: "legacy", StatePath: "/var/lib/neutrino", L2Population: true, ARPResponder: true,
		TunnelTypes: []string{"vxlan"}, EnableIsolatedMetadata: true, DNSDomain: "openstacklocal", AvailabilityZone: "nova", EnableMetadataProxy: true,
		EnableSecurityGroup: true, PreventARPSpoofing: true, EnableDistributedRouting: true, EnableDHCPAgent: true,
		PhysicalInterfaces: map[string]string{}, Bridges: map[string]string{}, Auth: map[string]string{}, Ignored: ignored}
	r := &optReader{}
	r.readDefault(f.Section(ini.DefaultSection), c)
	r.readL2(f, c)
	r.readMappings(f, c)
	r.readSecurity(f.Section("securitygroup"), c)
	for _, k := range f.Section("agent_auth").Keys() {
		c.Auth[k.Name()] = k.String()
	}
	where := strings.Join(paths, ", ")
	if len(r.errs) > 0 {
		return nil, fmt.Errorf("agent config %s: %s", where, strings.Join(r.errs, "; "))
	}
	if c.ReportInterval == 0 {
		c.ReportInterval = DefaultReportInterval(c.AgentMode)
	}
	if c.Host == "" {
		// Upstream's default: the host name.
		c.Host, _ = os.Hostname()
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("agent config %s: %w", where, err)
	}
	return c, nil
}

// Default report_interval by agent_mode (docs/ha.md, "Failure
// detection"). A host whose L3 agent may carry centralized routers
// (legacy, dvr_snat: network nodes) reports every 0.5 s, so that the
// server notices its death in 1.5 s: an HA router's standby takes over
// within l3_ha_fence_time (2 s) and a non-HA router is rescheduled. DVR
// computes (dvr, dvr_no_external), the many, keep 4 s: 5,000 of them
// write 1,250 heartbeats a second, not 10,000, and a dead compute takes
// only its own instances down whenever it is noticed.
const (
	NetworkNodeReportInterval = 500 * time.Millisecond
	ComputeReportInterval     = 4 * time.Second
)

// DefaultReportInterval is report_interval when the files do not set it.
func DefaultReportInterval(agentMode string) time.Duration {
	if agentMode == "legacy" || agentMode == "dvr_snat" {
		return NetworkNodeReportInterval
	}
	return ComputeReportInterval
}

// optReader reads typed options, collecting every malformed value.
type optReader struct{ errs []string }

func (r *optReader) str(sec *ini.Section, key string, dst *string) bool {
	if !sec.HasKey(key) {
		return false
	}
	*dst = strings.TrimSpace(sec.Key(key).String())
	return true
}

func (r *optReader) boolean(sec *ini.Section, key string, dst *bool) {
	if sec.HasKey(key) {
		v, err := sec.Key(key).Bool()
		if err != nil {
			r.errs = append(r.errs, fmt.Sprintf("[%s] %s = %q is not a boolean", sec.Name(), key, sec.Key(key).String()))
			return
		}
		*dst = v
	}
}

func (r *optReader) readDefault(d *ini.Section, c *Config) {
	r.str(d, "host", &c.Host)
	r.str(d, "agent_mode", &c.AgentMode)
	r.str(d, "server_url", &c.ServerURL)
	r.str(d, "namespace_suffix", &c.NamespaceSuffix)
	r.str(d, "state_path", &c.StatePath)
	r.str(d, "dns_domain", &c.DNSDomain)
	r.boolean(d, "enable_isolated_metadata", &c.EnableIsolatedMetadata)
	r.boolean(d, "enable_metadata_proxy", &c.EnableMetadataProxy)
	r.boolean(d, "enable_dhcp_agent", &c.EnableDHCPAgent)
	r.str(d, "metadata_proxy_shared_secret", &c.MetadataSecret)
	r.str(d, "metrics_bind", &c.MetricsBind)
	// nova_metadata_ip is the older name of nova_metadata_host (the
	// walkthrough's metadata_agent.ini uses it).
	var mdHost, mdPort string
	r.str(d, "nova_metadata_ip", &mdHost)
	r.str(d, "nova_metadata_host", &mdHost)
	r.str(d, "nova_metadata_port", &mdPort)
	c.MetadataURL = "http://" + net.JoinHostPort(cmp.Or(mdHost, "127.0.0.1"), cmp.Or(mdPort, "8775"))
	r.str(d, "nova_metadata_url", &c.MetadataURL)
}

func (r *optReader) readL2(f *ini.File, c *Config) {
	for _, sec := range []*ini.Section{f.Section(ini.DefaultSection), f.Section("agent")} {
		if sec.HasKey("report_interval") {
			n, err := sec.Key("report_interval").Float64()
			if err != nil || n <= 0 {
				r.errs = append(r.errs, fmt.Sprintf("[%s] report_interval = %q is not a positive number", sec.Name(), sec.Key("report_interval").String()))
			} else {
				c.ReportInterval = time.Duration(n * float64(time.Second))
			}
		}
	}
	ag := f.Section("agent")
	var types string
	if r.str(ag, "tunnel_types", &types) {
		c.TunnelTypes = splitList(types)
	}
	r.boolean(ag, "l2_population", &c.L2Population)
	r.boolean(ag, "arp_responder", &c.ARPResponder)
	r.boolean(ag, "enable_distributed_routing", &c.EnableDistributedRouting)
	r.boolean(ag, "prevent_arp_spoofing", &c.PreventARPSpoofing)
	r.str(ag, "availability_zone", &c.AvailabilityZone)
	vx := f.Section("vxlan")
	r.boolean(vx, "l2_population", &c.L2Population)
	r.boolean(vx, "arp_responder", &c.ARPResponder)
	for _, sec := range []*ini.Section{vx, f.Section("ovs")} {
		var v string
		if r.str(sec, "local_ip", &v) {
			ip, err := netip.ParseAddr(v)
			if err != nil || !ip.Is4() {
				r.errs = append(r.errs, fmt.Sprintf("[%s] local_ip = %q is not an IPv4 address", sec.Name(), v))
				continue
			}
			c.LocalIP = ip
		}
	}
}

// readMappings reads the physnet mappings. [ovs] bridge_mappings
// (physnet:br-ex) names, on an OVS host, the bridge that carries the
// physnet; without OVS the same name is taken as the host interface
// that carries it (physical_interface_mappings), so that one line serves
// both: name the external NIC (or a veth/bond) br-ex, or map the physnet
// in [linux_bridge] physical_interface_mappings, which wins.
func (r *optReader) readMappings(f *ini.File, c *Config) {
	lb := f.Section("linux_bridge")
	r.mapping(lb, "physical_interface_mappings", c.PhysicalInterfaces)
	r.mapping(lb, "bridge_mappings", c.Bridges)
	ovs := map[string]string{}
	r.mapping(f.Section("ovs"), "bridge_mappings", ovs)
	for physnet, dev := range ovs {
		if _, set := c.PhysicalInterfaces[physnet]; !set {
			c.PhysicalInterfaces[physnet] = dev
		}
	}
}

func (r *optReader) mapping(sec *ini.Section, key string, dst map[string]string) {
	var v string
	if !r.str(sec, key, &v) {
		return
	}
	for _, m := range splitList(v) {
		physnet, dev, ok := strings.Cut(m, ":")
		if !ok || physnet == "" || dev == "" || len(dev) > 15 {
			r.errs = append(r.errs, fmt.Sprintf("[%s] %s: %q is not physnet:interface", sec.Name(), key, m))
			continue
		}
		dst[physnet] = dev
	}
}

// readSecurity reads [securitygroup]: the noop firewall (or
// enable_security_group = False) turns security groups off on the host;
// any other driver name is upstream's and means "on", with nftables.
func (r *optReader) readSecurity(sg *ini.Section, c *Config) {
	r.boolean(sg, "enable_security_group", &c.EnableSecurityGroup)
	r.boolean(sg, "prevent_arp_spoofing", &c.PreventARPSpoofing)
	var driver string
	if !r.str(sg, "firewall_driver", &driver) {
		return
	}
	if slices.Contains(noopFirewalls, driver) {
		c.EnableSecurityGroup = false
		return
	}
	c.Ignored = append(c.Ignored, config.Ignored{Section: "securitygroup", Name: "firewall_driver",
		Why: "security groups are enforced with nftables whatever the driver (only noop matters: it turns them off)"})
}

// Validate checks the configuration's consistency.
func (c *Config) Validate() error {
	if c.Host == "" {
		return fmt.Errorf("[DEFAULT] host is required")
	}
	switch c.AgentMode {
	case "legacy", "dvr", "dvr_snat", "dvr_no_external":
	default:
		return fmt.Errorf("[DEFAULT] agent_mode = %q: must be legacy, dvr, dvr_snat or dvr_no_external", c.AgentMode)
	}
	if u, err := url.Parse(c.MetadataURL); c.MetadataURL != "" && (err != nil || !(u.Scheme == "unix" && u.Host == "" && u.Path != "" ||
		(u.Scheme == "http" || u.Scheme == "https") && u.Host != "")) {
		return fmt.Errorf("[DEFAULT] nova_metadata_url = %q: must be http://host:port, https://host:port or unix:///path.sock", c.MetadataURL)
	}
	if !c.EnableDistributedRouting && c.AgentMode != "legacy" {
		return fmt.Errorf("[DEFAULT] agent_mode = %s needs [agent] enable_distributed_routing = True", c.AgentMode)
	}
	if err := config.ValidateBind("metrics_bind", c.MetricsBind); err != nil {
		return err
	}
	if c.ServerURL == "" {
		return fmt.Errorf("[DEFAULT] server_url is required")
	}
	if !strings.HasPrefix(c.ServerURL, "http://") && !strings.HasPrefix(c.ServerURL, "https://") && !strings.HasPrefix(c.ServerURL, "unix://") {
		return fmt.Errorf("[DEFAULT] server_url = %q: must be http://, https:// or unix://", c.ServerURL)
	}
	for _, t := range c.TunnelTypes {
		if t != "vxlan" && t != "gre" {
			return fmt.Errorf("[agent] tunnel_types: %q is not supported (vxlan, gre)", t)
		}
	}
	if len(c.TunnelTypes) > 0 && !c.LocalIP.IsValid() {
		return fmt.Errorf("[vxlan] local_ip is required with tunnel_types %v", c.TunnelTypes)
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
