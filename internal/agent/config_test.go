package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeINI(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.ini")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const baseINI = "[DEFAULT]\nhost = compute1\nagent_mode = dvr\nserver_url = unix:///run/neutrino/server.sock\n"

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig(writeINI(t, baseINI+"[agent]\ntunnel_types = vxlan\nl2_population = true\n[vxlan]\nlocal_ip = 10.0.1.21\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "compute1" || c.AgentMode != "dvr" || c.LocalIP != netip.MustParseAddr("10.0.1.21") || !c.L2Population {
		t.Errorf("config %+v", c)
	}
}

// TestLoadConfigRejects: every bad input is an error naming the file and
// the offending option or value.
func TestLoadConfigRejects(t *testing.T) {
	for _, tc := range []struct {
		name, ini string
		want      []string
	}{
		{"unknown option", baseINI + "[agent]\nl2_populaton = true\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{`unknown option "l2_populaton"`, "[agent]"}},
		{"unknown option in DEFAULT", baseINI + "polling_interval = 2\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{`unknown option "polling_interval"`, "[DEFAULT]"}},
		{"unknown section", baseINI + "[securitygroups]\nfirewall_driver = noop\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{"unknown section [securitygroups]"}},
		{"misspelt upstream option", baseINI + "[securitygroup]\nfirewall_drivr = noop\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{`unknown option "firewall_drivr"`, "[securitygroup]"}},
		{"use_namespaces off", baseINI + "use_namespaces = False\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{`use_namespaces = "False" is not supported`}},
		{"DVR without distributed routing", baseINI + "[agent]\nenable_distributed_routing = False\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{"agent_mode = dvr needs [agent] enable_distributed_routing = True"}},
		{"Geneve", baseINI + "[agent]\ntunnel_types = geneve\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{`tunnel_types: "geneve" is not supported`}},
		{"bad local_ip", baseINI + "[vxlan]\nlocal_ip = 10.0.1.300\n",
			[]string{"[vxlan] local_ip", `"10.0.1.300"`, "not an IPv4 address"}},
		{"IPv6 local_ip", baseINI + "[vxlan]\nlocal_ip = fd00::1\n",
			[]string{"[vxlan] local_ip", `"fd00::1"`}},
		{"missing local_ip", baseINI,
			[]string{"[vxlan] local_ip is required"}},
		{"bad boolean", baseINI + "[agent]\narp_responder = maybe\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{"arp_responder", `"maybe"`, "not a boolean"}},
		{"bad agent_mode", strings.Replace(baseINI, "agent_mode = dvr", "agent_mode = dvr_fast", 1) + "[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{"agent_mode", `"dvr_fast"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeINI(t, tc.ini)
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestEnableDHCPAgent: enable_dhcp_agent = False (a host without
// neutron-dhcp-agent, the DVR walkthrough's computes) leaves the DHCP
// agent out of what the process reports; the default plays it.
func TestEnableDHCPAgent(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  bool
	}{{"", true}, {"enable_dhcp_agent = False\n", false}} {
		c, err := LoadConfig(writeINI(t, baseINI+tc.extra+"[vxlan]\nlocal_ip = 10.0.1.21\n"))
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, s := range New(c, nil).agentStates() {
			types = append(types, s.AgentType)
		}
		if c.EnableDHCPAgent != tc.want || slices.Contains(types, "DHCP agent") != tc.want || len(types) != 3+btoi(tc.want) {
			t.Errorf("%q: enable_dhcp_agent %v, reported %v", tc.extra, c.EnableDHCPAgent, types)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestLoadConfigMetricsBind(t *testing.T) {
	c, err := LoadConfig(writeINI(t, baseINI+"metrics_bind = 0.0.0.0:9698\n[vxlan]\nlocal_ip = 10.0.1.21\n"))
	if err != nil || c.MetricsBind != "0.0.0.0:9698" {
		t.Fatalf("metrics_bind = %q, %v", c.MetricsBind, err)
	}
	if _, err := LoadConfig(writeINI(t, baseINI+"metrics_bind = nine\n[vxlan]\nlocal_ip = 10.0.1.21\n")); err == nil || !strings.Contains(err.Error(), "metrics_bind") {
		t.Errorf("bad metrics_bind: %v", err)
	}
}

// TestDefaultReportInterval: unset, report_interval follows agent_mode
// (network nodes 0.5 s, DVR computes 4 s); set, it wins.
func TestDefaultReportInterval(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  time.Duration
	}{
		{"agent_mode = legacy\n", 500 * time.Millisecond},
		{"agent_mode = dvr_snat\n", 500 * time.Millisecond},
		{"agent_mode = dvr\n", 4 * time.Second},
		{"agent_mode = dvr_no_external\n", 4 * time.Second},
		{"agent_mode = dvr\n[agent]\nreport_interval = 1.5\n", 1500 * time.Millisecond},
		{"agent_mode = dvr_snat\n[agent]\nreport_interval = 30\n", 30 * time.Second},
	} {
		base := strings.Replace(baseINI, "agent_mode = dvr\n", "", 1)
		c, err := LoadConfig(writeINI(t, base+tc.extra+"[vxlan]\nlocal_ip = 10.0.1.21\n"))
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		if c.ReportInterval != tc.want {
			t.Errorf("%q: report_interval %s, want %s", tc.extra, c.ReportInterval, tc.want)
		}
	}
}

// GRE is a tunnel type of its own beside VXLAN (issue 16).
func TestConfigGRE(t *testing.T) {
	c, err := LoadConfig(writeINI(t, baseINI+"[agent]\ntunnel_types = vxlan, gre\n[vxlan]\nlocal_ip = 10.0.1.21\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.TunnelTypes, []string{"vxlan", "gre"}) || len(c.Ignored) != 0 {
		t.Errorf("tunnel_types %v, ignored %v", c.TunnelTypes, c.Ignored)
	}
}
