package testutil

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
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
	errc := make(chan error, 1)
	go func() {
		// NewNamed moves the calling thread; this goroutine's thread is
		// left locked and discarded.
		lockAndCreate(name, errc)
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() { netns.DeleteNamed(name) })
	return name
}
