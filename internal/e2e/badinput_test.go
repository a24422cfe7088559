package e2e_test

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/testbed"
)

// TestAgentConfigRejected runs `neutrino sandbox agent --config F` (this
// test binary acting as the neutrino command) with bad configurations:
// it must exit non-zero with a message naming the bad option or value,
// before contacting any server. Needs no root.
func TestAgentConfigRejected(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const base = "[DEFAULT]\nhost = compute1\nagent_mode = dvr\nserver_url = unix:///nonexistent/server.sock\n"
	for _, tc := range []struct {
		name, ini string
		want      []string
	}{
		{"unknown option", base + "[agent]\ntunnel_types = vxlan\nl2_populaton = true\n[vxlan]\nlocal_ip = 10.0.1.21\n",
			[]string{`unknown option "l2_populaton"`, "[agent]"}},
		{"bad local_ip", base + "[vxlan]\nlocal_ip = 10.0.1.300\n",
			[]string{"local_ip", `"10.0.1.300"`, "not an IPv4 address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.ini")
			if err := os.WriteFile(path, []byte(tc.ini), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, "sandbox", "agent", "--config", path)
			cmd.Env = append(os.Environ(), testbed.Env()...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the agent did not exit on a bad config; output:\n%s", out.String())
			}
			if err == nil {
				t.Fatalf("the agent accepted the config; output:\n%s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestTaplessPortStaysDown: a port bound to compute1 whose tap never
// appears stays DOWN, while an instance's port on the same host, made
// after it, turns ACTIVE (so the agent has seen and reported on both).
func TestTaplessPortStaysDown(t *testing.T) {
	b := testbed.Up(t, 1, testbed.Options{})
	n := b.CreateNetwork("net1", "192.168.1.0/24", nil)
	var out struct {
		Port testbed.Port `json:"port"`
	}
	b.Do(http.MethodPost, "/v2.0/ports", map[string]any{"port": map[string]any{
		"network_id": n.ID, "name": "no-tap", "binding:host_id": "compute1",
		"device_owner": "compute:nova", "device_id": uuid.NewString(),
	}}, &out)
	ghost := out.Port
	t.Logf("tap-less port %s created with status %s", ghost.ID, ghost.Status)
	vm1 := b.Boot("vm1", "net1", "compute1")
	b.WaitPortStatus(vm1.PortID, "ACTIVE", 20*time.Second)
	if p := b.Port(ghost.ID); p.Status != "DOWN" {
		t.Errorf("tap-less port %s is %s, want DOWN", ghost.ID, p.Status)
	}
	// Once more after a full pass of a restarted agent: its status
	// reports go in order, so once vm2 (booted after the restart) is
	// ACTIVE, whatever the initial apply reported has landed.
	b.RestartAgent("compute1")
	b.WaitInitialApply("compute1", 30*time.Second)
	vm2 := b.Boot("vm2", "net1", "compute1")
	b.WaitPortStatus(vm2.PortID, "ACTIVE", 20*time.Second)
	if p := b.Port(ghost.ID); p.Status != "DOWN" {
		t.Errorf("tap-less port %s is %s after an agent restart, want DOWN", ghost.ID, p.Status)
	}
	b.MustPing("vm1", testbed.Addr(vm2))
}
