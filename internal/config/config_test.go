package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "neutrino.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadUpstreamOptions(t *testing.T) {
	c, err := Load(write(t, `
[DEFAULT]
bind_host = 0.0.0.0
bind_port = 9797
auth_strategy = noauth
router_distributed = True
agent_down_time = 30

[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan

[ml2_type_vxlan]
vni_ranges = 100:200

[ml2_type_vlan]
network_vlan_ranges = physnet1:100:199,physnet2

[ml2_type_flat]
flat_networks = extnet

[quotas]
quota_port = 1000
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.BindHost != "0.0.0.0" || c.BindPort != 9797 || c.AuthStrategy != "noauth" || !c.RouterDistributed || c.AgentDownTime != 30*time.Second {
		t.Errorf("DEFAULT options: %+v", c)
	}
	if c.VNIRanges != "100:200" || c.NetworkVLANRanges != "physnet1:100:199,physnet2" || strings.Join(c.FlatNetworks, ",") != "extnet" {
		t.Errorf("ml2 options: %+v", c)
	}
	if c.Quotas["port"] != 1000 || c.Quotas["network"] != 100 {
		t.Errorf("quotas: %v", c.Quotas)
	}
}

func TestLoadRefusesWhatItDoesNotKnow(t *testing.T) {
	for body, want := range map[string]string{
		"[DEFAULT]\nbind_prot = 1\n":                      `unknown option "bind_prot" in [DEFAULT]`,
		"[ml3]\nx = 1\n":                                  "unknown section [ml3]",
		"[DEFAULT]\nbind_port = nine\n":                   `bind_port = "nine" is not an integer`,
		"[DEFAULT]\nauth_strategy = ldap\n":               `auth_strategy "ldap"`,
		"[ml2]\ntenant_network_types = geneve\n":          `"geneve" is not in type_drivers`,
		"[DEFAULT]\nrouter_distributed = maybe\n":         `router_distributed = "maybe" is not a boolean`,
		"[DEFAULT]\nbind_host = controller.example.com\n": `bind_host "controller.example.com" is not an IP address`,
	} {
		if _, err := Load(write(t, body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", body, err, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.BindPort != 9696 || c.AuthStrategy != "keystone" || c.AgentDownTime != 15*time.Second || c.TenantNetworkTypes[0] != "vxlan" || c.BaseMAC != "fa:16:3e:00:00:00" {
		t.Errorf("defaults: %+v", c)
	}
}
