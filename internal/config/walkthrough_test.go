package config

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The walkthrough's placeholders, replaced as it tells its reader to.
var walkthroughValues = strings.NewReplacer(
	"MIN_VLAN_ID", "100", "MAX_VLAN_ID", "199",
	"MIN_GRE_ID", "1", "MAX_GRE_ID", "1000",
	"MIN_VXLAN_ID", "1", "MAX_VXLAN_ID", "1000")

// walkthroughFile copies testdata/walkthrough/name (the walkthrough's
// lines, verbatim) into a temporary file, its placeholders replaced when
// replace is set.
func walkthroughFile(t *testing.T, name string, replace bool) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "walkthrough", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if replace {
		s = walkthroughValues.Replace(s)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func ignoredNames(ig []Ignored) []string {
	var out []string
	for _, i := range ig {
		out = append(out, i.String())
	}
	return out
}

// checkController checks what the controller's neutron.conf and
// ml2_conf.ini lines map to.
func checkController(t *testing.T, c Server) {
	t.Helper()
	if !c.RouterDistributed {
		t.Error("router_distributed = True did not make routers distributed by default")
	}
	if got := strings.Join(c.TypeDrivers, ","); got != "flat,vlan,gre,vxlan" {
		t.Errorf("type_drivers %s", got)
	}
	if got := strings.Join(c.TenantNetworkTypes, ","); got != "vlan,gre,vxlan" {
		t.Errorf("tenant_network_types %s", got)
	}
	if got := strings.Join(c.FlatNetworks, ","); got != "external" {
		t.Errorf("flat_networks %s", got)
	}
	if c.NetworkVLANRanges != "external,vlan:100:199" || c.TunnelIDRanges != "1:1000" || c.VNIRanges != "1:1000" {
		t.Errorf("ranges: vlan %q gre %q vxlan %q", c.NetworkVLANRanges, c.TunnelIDRanges, c.VNIRanges)
	}
	want := []string{"[DEFAULT] verbose", "[DEFAULT] core_plugin", "[DEFAULT] service_plugins", "[DEFAULT] allow_overlapping_ips",
		"[ml2] mechanism_drivers", "[ml2] extension_drivers", "[securitygroup] enable_ipset"}
	got := ignoredNames(c.Ignored)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("ignored %v, want %v", got, want)
	}
}

// TestWalkthroughController loads the controller's lines as the
// walkthrough gives them: two files, as neutron-server --config-file
// neutron.conf --config-file ml2_conf.ini, and the same lines in one file
// (refused before: "unknown section [securitygroup]").
func TestWalkthroughController(t *testing.T) {
	neutron := walkthroughFile(t, "controller-neutron.conf", true)
	ml2 := walkthroughFile(t, "controller-ml2_conf.ini", true)
	c, err := LoadFiles([]string{neutron, ml2})
	if err != nil {
		t.Fatal(err)
	}
	checkController(t, c)

	a, _ := os.ReadFile(neutron)
	b, _ := os.ReadFile(ml2)
	one := write(t, string(a)+string(b))
	c, err = Load(one)
	if err != nil {
		t.Fatalf("the walkthrough's lines in one file: %v", err)
	}
	checkController(t, c)
}

// TestWalkthroughPlaceholders: lines copied without replacing the
// placeholders are refused with the option that holds them.
func TestWalkthroughPlaceholders(t *testing.T) {
	_, err := LoadFiles([]string{walkthroughFile(t, "controller-neutron.conf", false), walkthroughFile(t, "controller-ml2_conf.ini", false)})
	if err == nil || !strings.Contains(err.Error(), "vni_ranges") || !strings.Contains(err.Error(), "MIN_VXLAN_ID") {
		t.Errorf("got %v, want an error naming vni_ranges and MIN_VXLAN_ID", err)
	}
}

// TestLoadFilesOrder: a later file overrides an earlier one; errors name
// the file they are in.
func TestLoadFilesOrder(t *testing.T) {
	first := write(t, "[DEFAULT]\nrouter_distributed = True\nbind_port = 9797\nverbose = True\n")
	second := filepath.Join(t.TempDir(), "second.conf")
	if err := os.WriteFile(second, []byte("[DEFAULT]\nrouter_distributed = False\nverbose = False\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFiles([]string{first, second})
	if err != nil {
		t.Fatal(err)
	}
	if c.RouterDistributed || c.BindPort != 9797 {
		t.Errorf("router_distributed %v bind_port %d: want the second file's False and the first's 9797", c.RouterDistributed, c.BindPort)
	}
	if got := ignoredNames(c.Ignored); !slices.Equal(got, []string{"[DEFAULT] verbose"}) {
		t.Errorf("ignored %v, want [DEFAULT] verbose once", got)
	}
	var buf bytes.Buffer
	LogIgnored(slog.New(slog.NewTextHandler(&buf, nil)), c.Ignored)
	if n := strings.Count(buf.String(), "verbose"); n != 1 {
		t.Errorf("verbose logged %d times:\n%s", n, buf.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(bad, []byte("[DEFAULT]\nrouter_distributd = True\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFiles([]string{first, bad}); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `"router_distributd"`) {
		t.Errorf("misspelt option in the second file: %v", err)
	}
}

// TestIgnoredNeedsItsValue: an upstream option we ignore is refused when
// its value asks for something this server does not do.
func TestIgnoredNeedsItsValue(t *testing.T) {
	for body, want := range map[string]string{
		"[DEFAULT]\nl3_ha = maybe\n":                           `[DEFAULT] l3_ha = "maybe" is not a boolean`,
		"[DEFAULT]\nallow_overlapping_ips = False\n":           `allow_overlapping_ips = "False" is not supported`,
		"[securitygroup]\nenable_security_group = False\n":     `enable_security_group = "False" is not supported`,
		"[securitygroup]\nenable_security_grup = True\n":       `unknown option "enable_security_grup" in [securitygroup]`,
		"[ml2]\nmechanism_driver = openvswitch\n":              `unknown option "mechanism_driver" in [ml2]`,
		"[securitygroups]\nenable_security_group = True\n":     "unknown section [securitygroups]",
		"[DEFAULT]\nl3_ha = False\nservice_plugins = router\n": "",
	} {
		_, err := Load(write(t, body))
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", body, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error containing %q", body, err, want)
		}
	}
}

// TestFilesFlag: --config comes first, then each --config-file in order.
func TestFilesFlag(t *testing.T) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	var files Files
	fs.Var(&files, "config-file", "")
	cfg := fs.String("config", "", "")
	if err := fs.Parse([]string{"--config-file", "neutron.conf", "--config", "site.conf", "--config-file=ml2_conf.ini"}); err != nil {
		t.Fatal(err)
	}
	if got := files.After(*cfg); !slices.Equal(got, []string{"site.conf", "neutron.conf", "ml2_conf.ini"}) {
		t.Errorf("files %v", got)
	}
	if got := files.After(""); !slices.Equal(got, []string{"neutron.conf", "ml2_conf.ini"}) {
		t.Errorf("files without --config %v", got)
	}
	if err := fs.Parse([]string{"--config-file="}); err == nil {
		t.Error("an empty --config-file was accepted")
	}
}
