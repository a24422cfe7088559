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
	"slices"
	"strings"
	"time"

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

	// Metadata proxy: [DEFAULT] enable_metadata_proxy, nova_metadata_url
	// (http://host:port or unix:///path.sock; else upstream's
	// nova_metadata_host/nova_metadata_port) and metadata_proxy_shared_secret.
	EnableMetadataProxy bool
	MetadataURL         string
	MetadataSecret      string

	Auth map[string]string // [agent_auth]; empty = noauth headers
}

var agentKnown = map[string][]string{
	ini.DefaultSection: {"host", "agent_mode", "server_url", "namespace_suffix", "state_path", "report_interval",
		"enable_isolated_metadata", "dns_domain", "debug", "interface_driver",
		"enable_metadata_proxy", "nova_metadata_url", "nova_metadata_host", "nova_metadata_port", "metadata_proxy_shared_secret"},
	"agent":        {"tunnel_types", "l2_population", "arp_responder", "report_interval"},
	"vxlan":        {"local_ip", "enable_vxlan", "l2_population", "arp_responder"},
	"ovs":          {"local_ip", "bridge_mappings"},
	"linux_bridge": {"physical_interface_mappings", "bridge_mappings"},
	"agent_auth":   {"auth_url", "username", "password", "project_name", "user_domain_id", "project_domain_id", "user_domain_name", "project_domain_name"},
}

// LoadConfig reads and validates an agent INI file; any unknown section
// or option, or a bad value, is an error that names it.
func LoadConfig(path string) (*Config, error) {
	f, err := ini.Load(path)
	if err != nil {
		return nil, fmt.Errorf("read agent config %s: %w", path, err)
	}
	for _, sec := range f.Sections() {
		names, ok := agentKnown[sec.Name()]
		if !ok {
			return nil, fmt.Errorf("agent config %s: unknown section [%s]", path, sec.Name())
		}
		for _, k := range sec.Keys() {
			if !slices.Contains(names, k.Name()) {
				return nil, fmt.Errorf("agent config %s: unknown option %q in [%s]", path, k.Name(), sec.Name())
			}
		}
	}
	c := &Config{AgentMode: "legacy", ReportInterval: 4 * time.Second, L2Population: true, ARPResponder: true,
		TunnelTypes: []string{"vxlan"}, EnableIsolatedMetadata: true, DNSDomain: "openstacklocal", EnableMetadataProxy: true,
		PhysicalInterfaces: map[string]string{}, Bridges: map[string]string{}, Auth: map[string]string{}}
	d := f.Section(ini.DefaultSection)
	get := func(sec *ini.Section, key string) (string, bool) {
		if !sec.HasKey(key) {
			return "", false
		}
		return strings.TrimSpace(sec.Key(key).String()), true
	}
	var errs []string
	boolOpt := func(sec *ini.Section, key string, dst *bool) {
		if sec.HasKey(key) {
			v, err := sec.Key(key).Bool()
			if err != nil {
				errs = append(errs, fmt.Sprintf("[%s] %s = %q is not a boolean", sec.Name(), key, sec.Key(key).String()))
				return
			}
			*dst = v
		}
	}
	if v, ok := get(d, "host"); ok {
		c.Host = v
	}
	if v, ok := get(d, "agent_mode"); ok {
		c.AgentMode = v
	}
	if v, ok := get(d, "server_url"); ok {
		c.ServerURL = v
	}
	if v, ok := get(d, "namespace_suffix"); ok {
		c.NamespaceSuffix = v
	}
	if v, ok := get(d, "state_path"); ok {
		c.StatePath = v
	}
	if v, ok := get(d, "dns_domain"); ok {
		c.DNSDomain = v
	}
	boolOpt(d, "enable_isolated_metadata", &c.EnableIsolatedMetadata)
	boolOpt(d, "enable_metadata_proxy", &c.EnableMetadataProxy)
	c.MetadataSecret, _ = get(d, "metadata_proxy_shared_secret")
	mdHost, _ := get(d, "nova_metadata_host")
	mdPort, _ := get(d, "nova_metadata_port")
	c.MetadataURL = "http://" + net.JoinHostPort(cmp.Or(mdHost, "127.0.0.1"), cmp.Or(mdPort, "8775"))
	if v, ok := get(d, "nova_metadata_url"); ok {
		c.MetadataURL = v
	}
	for _, sec := range []*ini.Section{d, f.Section("agent")} {
		if sec.HasKey("report_interval") {
			n, err := sec.Key("report_interval").Float64()
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Sprintf("[%s] report_interval = %q is not a positive number", sec.Name(), sec.Key("report_interval").String()))
			} else {
				c.ReportInterval = time.Duration(n * float64(time.Second))
			}
		}
	}
	ag := f.Section("agent")
	if v, ok := get(ag, "tunnel_types"); ok {
		c.TunnelTypes = splitList(v)
	}
	boolOpt(ag, "l2_population", &c.L2Population)
	boolOpt(ag, "arp_responder", &c.ARPResponder)
	vx := f.Section("vxlan")
	boolOpt(vx, "l2_population", &c.L2Population)
	boolOpt(vx, "arp_responder", &c.ARPResponder)
	for _, sec := range []*ini.Section{vx, f.Section("ovs")} {
		if v, ok := get(sec, "local_ip"); ok {
			ip, err := netip.ParseAddr(v)
			if err != nil || !ip.Is4() {
				errs = append(errs, fmt.Sprintf("[%s] local_ip = %q is not an IPv4 address", sec.Name(), v))
				continue
			}
			c.LocalIP = ip
		}
	}
	lb := f.Section("linux_bridge")
	for key, dst := range map[string]map[string]string{"physical_interface_mappings": c.PhysicalInterfaces, "bridge_mappings": c.Bridges} {
		if v, ok := get(lb, key); ok {
			for _, m := range splitList(v) {
				physnet, dev, ok := strings.Cut(m, ":")
				if !ok || physnet == "" || dev == "" || len(dev) > 15 {
					errs = append(errs, fmt.Sprintf("[linux_bridge] %s: %q is not physnet:interface", key, m))
					continue
				}
				dst[physnet] = dev
			}
		}
	}
	for _, k := range f.Section("agent_auth").Keys() {
		c.Auth[k.Name()] = k.String()
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("agent config %s: %s", path, strings.Join(errs, "; "))
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("agent config %s: %w", path, err)
	}
	return c, nil
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
	if c.ServerURL == "" {
		return fmt.Errorf("[DEFAULT] server_url is required")
	}
	if !strings.HasPrefix(c.ServerURL, "http://") && !strings.HasPrefix(c.ServerURL, "https://") && !strings.HasPrefix(c.ServerURL, "unix://") {
		return fmt.Errorf("[DEFAULT] server_url = %q: must be http://, https:// or unix://", c.ServerURL)
	}
	for _, t := range c.TunnelTypes {
		if t != "vxlan" {
			return fmt.Errorf("[agent] tunnel_types: %q is not supported (vxlan only)", t)
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
