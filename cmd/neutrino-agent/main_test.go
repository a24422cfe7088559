package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
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

// TestPlanSkipsUndecodable: `neutrino-agent plan` against a server whose
// view of the host holds an object that cannot be decoded prints the
// plan of everything else and logs the bad object once with its id.
func TestPlanSkipsUndecodable(t *testing.T) {
	vni := 1042
	netw := model.Network{Standard: model.Standard{ID: "6f1c0e52-2f7e-4a53-9d0e-2b1f7c1a0001"}, NetworkType: "vxlan", SegmentationID: &vni, MTU: 1450}
	port := model.Port{Standard: model.Standard{ID: "0c5d7e11-8a3b-4c2d-9e4f-5a6b7c8d0002"}, NetworkID: netw.ID, HostID: "compute1",
		DeviceOwner: "compute:nova", MACAddress: "fa:16:3e:00:00:02", AdminStateUp: true}
	enc := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	ev := syncproto.Event{Revision: 7, Reset: true, Upserts: []syncproto.Object{
		{Kind: model.KindNetwork, ID: netw.ID, Rev: 3, Data: enc(netw)},
		{Kind: model.KindPort, ID: port.ID, Rev: 4, Data: enc(port)},
		{Kind: model.KindPort, ID: "poisoned-port", Rev: 5, Data: json.RawMessage(`{"fixed_ips": 5}`)},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != syncproto.PathHosts+"compute1/watch" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(ev)
	}))
	defer srv.Close()
	cfg := writeFile(t, t.TempDir(), "agent.ini", "[DEFAULT]\nhost = compute1\nserver_url = "+srv.URL+"\n[ovs]\nlocal_ip = 10.0.1.21\n")
	out, code := runMain(t, "--config", cfg, "plan")
	if code != 0 {
		t.Fatalf("plan with a poisoned object: exit %d\n%s", code, out)
	}
	for _, want := range []string{"# host compute1 at revision 7", names.Bridge(netw.ID), names.VXLAN(vni), names.Tap(port.ID), "port " + port.ID + " admin_up true",
		"# security groups per port\nport " + port.ID + " tap " + names.Tap(port.ID), "not filtered: port security is off"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "object skipped: cannot decode"); n != 1 || !strings.Contains(out, "id=poisoned-port") {
		t.Errorf("poisoned object logged %d times:\n%s", n, out)
	}
}

// --version prints the build's version and exits without reading a
// config file.
func TestVersion(t *testing.T) {
	out, code := runMain(t, "--config", "/nonexistent.ini", "--version")
	if code != 0 || !strings.HasPrefix(out, "neutrino-agent ") || strings.Count(out, "\n") != 1 {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}
