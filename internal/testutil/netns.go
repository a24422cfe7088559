package testutil

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/neutrino-net/neutrino/internal/netns"
)

// RequireRoot skips a test that needs root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, netlink)")
	}
}

var nsSeq atomic.Int64

// NewNetNS creates a uniquely named network namespace ("nt<pid>-<n>-<tag>")
// that is deleted when the test ends, even if it fails.
func NewNetNS(t testing.TB, tag string) string {
	t.Helper()
	RequireRoot(t)
	name := fmt.Sprintf("nt%d-%d-%s", os.Getpid(), nsSeq.Add(1), tag)
	if len(name) > 40 {
		name = name[:40]
	}
	// Plain Create, lo left down: bringing a link up schedules the
	// kernel's (rate-limited) link watch, which would delay the qdisc of
	// the test's own devices coming up next (a frame sent on them at once,
	// as TestSendGARP does, is then dropped).
	if err := netns.Create(name); err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() { netns.Delete(name) })
	return name
}
