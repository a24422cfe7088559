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

func TestLoadSecurityOptions(t *testing.T) {
	c, err := Load(write(t, `
[DEFAULT]
client_socket_timeout = 20

[etcd]
endpoints = https://10.0.0.1:2379, https://10.0.0.2:2379
cert_file = /etc/neutrino/etcd-client.pem
key_file = /etc/neutrino/etcd-client-key.pem
ca_file = /etc/neutrino/etcd-ca.pem
username = neutrino
password = s3cret

[identity]
signing_key_file = /etc/neutrino/signing-key

[security_compliance]
lockout_failure_attempts = 6
lockout_duration = 1800
`))
	if err != nil {
		t.Fatal(err)
	}
	want := EtcdTLSAuth{CertFile: "/etc/neutrino/etcd-client.pem", KeyFile: "/etc/neutrino/etcd-client-key.pem",
		CAFile: "/etc/neutrino/etcd-ca.pem", Username: "neutrino", Password: "s3cret"}
	if c.Etcd != want || len(c.EtcdEndpoints) != 2 || c.EtcdEndpoints[1] != "https://10.0.0.2:2379" {
		t.Errorf("[etcd]: %+v %v", c.Etcd, c.EtcdEndpoints)
	}
	if c.SigningKeyFile != "/etc/neutrino/signing-key" || c.ClientSocketTimeout != 20*time.Second ||
		c.LockoutFailureAttempts != 6 || c.LockoutDuration != 30*time.Minute {
		t.Errorf("security options: %+v", c)
	}
	d := Defaults()
	if d.ClientSocketTimeout != time.Minute || d.LockoutFailureAttempts != 10 || d.LockoutDuration != 5*time.Minute {
		t.Errorf("security defaults: %+v", d)
	}
	for body, want := range map[string]string{
		"[DEFAULT]\nclient_socket_timeout = -1\n":       "client_socket_timeout = -1 must not be negative",
		"[security_compliance]\nlockout_duration = x\n": `lockout_duration = "x" is not an integer`,
		"[etcd]\ncertfile = x\n":                        `unknown option "certfile" in [etcd]`,
	} {
		if _, err := Load(write(t, body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", body, err, want)
		}
	}
}

// metrics_bind is read as host:port and a malformed one is an error
// naming the option.
func TestMetricsBind(t *testing.T) {
	c, err := Load(write(t, "[DEFAULT]\nmetrics_bind = 127.0.0.1:9697\n"))
	if err != nil || c.MetricsBind != "127.0.0.1:9697" {
		t.Fatalf("metrics_bind = %q, %v", c.MetricsBind, err)
	}
	if c, _ := Load(""); c.MetricsBind != "" {
		t.Errorf("metrics listener on by default: %q", c.MetricsBind)
	}
	for _, bad := range []string{"9697", "127.0.0.1:99999", "host.example:9697"} {
		if _, err := Load(write(t, "[DEFAULT]\nmetrics_bind = "+bad+"\n")); err == nil || !strings.Contains(err.Error(), "metrics_bind") {
			t.Errorf("metrics_bind = %s: %v, want an error naming metrics_bind", bad, err)
		}
	}
}

// TestHAOptions: l3_ha, max_l3_agents_per_router, and fractional
// agent_down_time and l3_ha_fence_time.
func TestHAOptions(t *testing.T) {
	c, err := Load(write(t, "[DEFAULT]\nl3_ha = True\nmax_l3_agents_per_router = 2\nagent_down_time = 1.5\nl3_ha_fence_time = 0.8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.L3HA || c.MaxL3AgentsPerRouter != 2 || c.AgentDownTime != 1500*time.Millisecond || c.L3HAFenceTime != 800*time.Millisecond {
		t.Errorf("got l3_ha %v, max %d, down %s, fence %s", c.L3HA, c.MaxL3AgentsPerRouter, c.AgentDownTime, c.L3HAFenceTime)
	}
	if _, err := Load(write(t, "[DEFAULT]\nagent_down_time = -1\n")); err == nil {
		t.Error("agent_down_time = -1 accepted")
	}
}
