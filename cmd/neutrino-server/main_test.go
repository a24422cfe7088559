package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary runs main() when asked to, so that the test below
// exercises the real command line.
func TestMain(m *testing.M) {
	if os.Getenv("NEUTRINO_SERVER_TEST_MAIN") == "1" {
		os.Args = append([]string{"neutrino-server"}, strings.Fields(os.Getenv("NEUTRINO_SERVER_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runMain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "NEUTRINO_SERVER_TEST_MAIN=1", "NEUTRINO_SERVER_TEST_ARGS="+strings.Join(args, " "))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestConfigFiles: neutron-server's --config-file neutron.conf
// --config-file ml2_conf.ini. The walkthrough's files (placeholders
// replaced) load, their ignored options are logged once each; a misspelt
// option in the second file is an error naming that file.
func TestConfigFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "config", "testdata", "walkthrough", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.NewReplacer("MIN_VLAN_ID", "100", "MAX_VLAN_ID", "199", "MIN_GRE_ID", "1", "MAX_GRE_ID", "1000",
			"MIN_VXLAN_ID", "1", "MAX_VXLAN_ID", "1000").Replace(string(b))
	}
	neutron := write("neutron.conf", read("controller-neutron.conf")+"debug = False\n")
	ml2 := write("ml2_conf.ini", read("controller-ml2_conf.ini"))
	bad := write("bad.ini", "[ml2]\ntype_driver = vxlan\n")
	// A data directory that is a file: the server stops right after
	// reading its configuration.
	notDir := write("not-a-dir", "")

	out, code := runMain(t, "--config-file", neutron, "--config-file", bad, "--data-dir", notDir)
	if code != 2 || !strings.Contains(out, bad) || !strings.Contains(out, `unknown option "type_driver" in [ml2]`) {
		t.Errorf("misspelt option: exit %d\n%s", code, out)
	}
	out, code = runMain(t, "--config-file", neutron, "--config-file", ml2, "--data-dir", notDir)
	t.Logf("exit %d:\n%s", code, out)
	if code != 1 || strings.Contains(out, "config "+neutron) || strings.Contains(out, "config "+ml2) {
		t.Errorf("walkthrough files: exit %d\n%s", code, out)
	}
	for _, opt := range []string{"[DEFAULT] verbose", "[DEFAULT] debug", "[DEFAULT] core_plugin", "[ml2] mechanism_drivers", "[securitygroup] enable_ipset"} {
		if n := strings.Count(out, `option="`+opt+`"`); n != 1 {
			t.Errorf("%s logged %d times", opt, n)
		}
	}
}

// --version prints the build's version and exits without starting.
func TestVersion(t *testing.T) {
	out, code := runMain(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "neutrino-server ") || strings.Count(out, "\n") != 1 {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}
