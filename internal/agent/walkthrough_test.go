package agent

import (
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// walkthroughFiles copies the walkthrough's files of one host role
// (testdata/walkthrough/<role>-*, its lines verbatim) into a temporary
// directory, TUNNEL_INTERFACE_IP_ADDRESS replaced by tunnelIP as the
// walkthrough tells its reader (left as is when tunnelIP is empty). The
// first file is the site's own: what upstream puts in neutron.conf's
// transport settings, the server to follow, and the host name.
func walkthroughFiles(t *testing.T, role, host, tunnelIP string) []string {
	t.Helper()
	dir := t.TempDir()
	site := filepath.Join(dir, "neutrino-agent.ini")
	if err := os.WriteFile(site, []byte("[DEFAULT]\nhost = "+host+"\nserver_url = http://controller:9696\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := []string{site}
	for _, name := range []string{"neutron.conf", "openvswitch_agent.ini", "l3_agent.ini", "dhcp_agent.ini", "metadata_agent.ini"} {
		b, err := os.ReadFile(filepath.Join("testdata", "walkthrough", role+"-"+name))
		if os.IsNotExist(err) {
			continue // computes have no DHCP agent
		} else if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if tunnelIP != "" {
			s = strings.ReplaceAll(s, "TUNNEL_INTERFACE_IP_ADDRESS", tunnelIP)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestWalkthroughAgents loads every host role's files as the walkthrough
// gives them and checks what they map to.
func TestWalkthroughAgents(t *testing.T) {
	for _, tc := range []struct {
		role, host, tunnelIP, mode string
		files                      int
		ignored                    []string
	}{
		{"network", "network1", "10.0.1.11", "dvr_snat", 6, []string{"[DEFAULT] dhcp_driver", "[DEFAULT] dnsmasq_config_file"}},
		{"compute", "compute1", "10.0.1.21", "dvr", 5, nil},
	} {
		t.Run(tc.role, func(t *testing.T) {
			files := walkthroughFiles(t, tc.role, tc.host, tc.tunnelIP)
			if len(files) != tc.files {
				t.Fatalf("%d files, want %d", len(files), tc.files)
			}
			c, err := LoadConfigFiles(files)
			if err != nil {
				t.Fatal(err)
			}
			if c.Host != tc.host || c.AgentMode != tc.mode || c.LocalIP != netip.MustParseAddr(tc.tunnelIP) || c.ServerURL != "http://controller:9696" {
				t.Errorf("host %s mode %s local_ip %s server %s", c.Host, c.AgentMode, c.LocalIP, c.ServerURL)
			}
			if !slices.Equal(c.TunnelTypes, []string{"gre", "vxlan"}) || !c.L2Population || !c.ARPResponder || !c.EnableDistributedRouting {
				t.Errorf("[agent]: tunnel_types %v l2_population %v arp_responder %v enable_distributed_routing %v",
					c.TunnelTypes, c.L2Population, c.ARPResponder, c.EnableDistributedRouting)
			}
			if want := map[string]string{"vlan": "br-vlan", "external": "br-ex"}; !maps.Equal(c.PhysicalInterfaces, want) || len(c.Bridges) != 0 {
				t.Errorf("physnets: interfaces %v bridges %v, want interfaces %v", c.PhysicalInterfaces, c.Bridges, want)
			}
			if !c.EnableSecurityGroup || !c.PreventARPSpoofing || !c.EnableIsolatedMetadata {
				t.Errorf("security groups %v, ARP spoofing %v, isolated metadata %v", c.EnableSecurityGroup, c.PreventARPSpoofing, c.EnableIsolatedMetadata)
			}
			if c.MetadataURL != "http://controller:8775" || c.MetadataSecret != "METADATA_SECRET" {
				t.Errorf("metadata %s secret %q", c.MetadataURL, c.MetadataSecret)
			}
			want := append([]string{"[DEFAULT] verbose", "[DEFAULT] interface_driver", "[DEFAULT] use_namespaces",
				"[DEFAULT] external_network_bridge", "[securitygroup] firewall_driver"}, tc.ignored...)
			var got []string
			for _, ig := range c.Ignored {
				got = append(got, ig.String())
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("ignored %v, want each of %v once", got, want)
			}
		})
	}
}

// TestWalkthroughPlaceholder: the tunnel address left as the
// walkthrough's placeholder is refused with the option that holds it.
func TestWalkthroughPlaceholder(t *testing.T) {
	_, err := LoadConfigFiles(walkthroughFiles(t, "compute", "compute1", ""))
	if err == nil || !strings.Contains(err.Error(), `[ovs] local_ip = "TUNNEL_INTERFACE_IP_ADDRESS" is not an IPv4 address`) {
		t.Errorf("got %v", err)
	}
}

// TestConfigMappings: [linux_bridge] physical_interface_mappings wins
// over [ovs] bridge_mappings for the same physnet; the noop firewall
// turns security groups off; host defaults to the host name; a later
// file overrides an earlier one.
func TestConfigMappings(t *testing.T) {
	c, err := LoadConfigFiles([]string{
		writeINI(t, "[DEFAULT]\nserver_url = unix:///run/s.sock\nagent_mode = dvr\n[ovs]\nlocal_ip = 10.0.1.21\nbridge_mappings = external:br-ex,vlan:br-vlan\n"),
		writeINI(t, "[DEFAULT]\nagent_mode = dvr_snat\n[linux_bridge]\nphysical_interface_mappings = external:eth1\n[securitygroup]\nfirewall_driver = noop\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.PhysicalInterfaces["external"] != "eth1" || c.PhysicalInterfaces["vlan"] != "br-vlan" {
		t.Errorf("interfaces %v", c.PhysicalInterfaces)
	}
	if c.EnableSecurityGroup || len(c.Ignored) != 0 {
		t.Errorf("firewall_driver = noop: security groups %v, ignored %v", c.EnableSecurityGroup, c.Ignored)
	}
	if hn, _ := os.Hostname(); c.Host != hn || c.AgentMode != "dvr_snat" {
		t.Errorf("host %q (want the host name %q), mode %s", c.Host, hn, c.AgentMode)
	}
}
