package bench

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

func TestMissingNames(t *testing.T) {
	got := missingNames([]string{"qdhcp-a", "qrouter-b", "snat-c"}, []string{"qrouter-b", "snat-c", "snat-d"})
	if !slices.Equal(got, []string{"qdhcp-a"}) {
		t.Fatalf("missingNames = %v, want [qdhcp-a]", got)
	}
	if got := missingNames(nil, []string{"x"}); got != nil {
		t.Fatalf("missingNames(nil) = %v", got)
	}
}

// TestLastKernelChange: the time of the last change logged since the
// agent's last start, not of an earlier start's.
func TestLastKernelChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	log := "=== 2026-12-07T14:00:00Z" + probe.StartMarker("agent-network1") + " neutrino-agent\n" +
		`time=2026-12-07T14:00:01.5Z level=INFO msg="kernel change" host=network1 op="add netns qdhcp-a" rev=3` + "\n" +
		"=== 2026-12-07T14:01:00Z" + probe.StartMarker("agent-network1") + " neutrino-agent\n" +
		`time=2026-12-07T14:01:02.25Z level=INFO msg="kernel change" host=network1 op="add netns qdhcp-b" rev=9` + "\n" +
		`time=2026-12-07T14:01:03Z level=INFO msg="initial apply" host=network1 changes=1 rev=9 ok=true` + "\n"
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := lastKernelChange(path, "network1")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 7, 14, 1, 2, 250e6, time.UTC); !got.Equal(want) {
		t.Fatalf("lastKernelChange = %v, want %v", got, want)
	}
	if err := os.WriteFile(path, []byte("=== x"+probe.StartMarker("agent-network1")+" a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := lastKernelChange(path, "network1"); err != nil || !got.IsZero() {
		t.Fatalf("no change logged: %v, %v", got, err)
	}
}
