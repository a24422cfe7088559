package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary runs main() when asked to, so that the tests below
// exercise the real command line.
func TestMain(m *testing.M) {
	if os.Getenv("NEUTRINO_AGENT_TEST_MAIN") == "1" {
		os.Args = append([]string{"neutrino-agent"}, strings.Fields(os.Getenv("NEUTRINO_AGENT_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runMain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "NEUTRINO_AGENT_TEST_MAIN=1", "NEUTRINO_AGENT_TEST_ARGS="+strings.Join(args, " "))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFiles: --config-file repeats, files merge in order, a
// misspelt option is an error naming its file, and the upstream options
// that do not apply are logged once however many files set them.
func TestConfigFiles(t *testing.T) {
	dir := t.TempDir()
	site := writeFile(t, dir, "agent.ini", "[DEFAULT]\nhost = compute1\nserver_url = unix://"+filepath.Join(dir, "none.sock")+"\n")
	l3 := writeFile(t, dir, "l3_agent.ini", "[DEFAULT]\nverbose = True\nuse_namespaces = True\nagent_mode = dvr\n")
	md := writeFile(t, dir, "metadata_agent.ini", "[DEFAULT]\nverbose = True\nnova_metadata_ip = controller\n")
	ovs := writeFile(t, dir, "openvswitch_agent.ini", "[ovs]\nlocal_ip = 10.0.1.21\nbridge_mappings = external:br-ex\n")
	bad := writeFile(t, dir, "bad.ini", "[DEFAULT]\nagent_mod = dvr\n")

	out, code := runMain(t, "--config-file", site, "--config-file", l3, "--config-file", bad)
	if code != 2 || !strings.Contains(out, bad) || !strings.Contains(out, `unknown option "agent_mod"`) {
		t.Errorf("misspelt option: exit %d\n%s", code, out)
	}
	// plan fails on the missing server socket, after the configuration
	// was loaded and its ignored options logged.
	out, code = runMain(t, "--config-file", site, "--config-file", l3, "--config-file", md, "--config-file", ovs, "plan")
	if code != 1 || strings.Contains(out, "agent config") {
		t.Errorf("walkthrough-style files: exit %d\n%s", code, out)
	}
	t.Logf("plan:\n%s", out)
	if n := strings.Count(out, "option=\"[DEFAULT] verbose\""); n != 1 {
		t.Errorf("[DEFAULT] verbose logged %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "option=\"[DEFAULT] use_namespaces\"") {
		t.Errorf("use_namespaces not logged as ignored:\n%s", out)
	}
	// Without --config, the default /etc/neutrino/agent.ini is not read
	// when --config-file is given; with it, it is read first.
	out, code = runMain(t, "--config", bad, "--config-file", site)
	if code != 2 || !strings.Contains(out, bad) {
		t.Errorf("--config first: exit %d\n%s", code, out)
	}
}
