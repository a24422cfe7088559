package testutil

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/neutrino-net/neutrino/internal/kernelfeat"
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

// KernelFeatures probes, in a throwaway namespace, which of the link
// kinds the kernel may lack it can make (kernelfeat).
func KernelFeatures(t testing.TB) kernelfeat.Features {
	t.Helper()
	ns := NewNetNS(t, "kprobe")
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var f kernelfeat.Features
	if err := netns.RunIn(h, func() error { f = kernelfeat.Probe(); return nil }); err != nil {
		t.Fatal(err)
	}
	return f
}

// RequireKernel skips a test when the kernel cannot make a link kind it
// needs ("vlan": 802.1Q, "gretap": GRE), naming the missing feature.
func RequireKernel(t testing.TB, kinds ...string) {
	t.Helper()
	f := KernelFeatures(t)
	for _, k := range kinds {
		var err error
		var what string
		switch k {
		case "vlan":
			err, what = f.VLAN, kernelfeat.VLANName
		case "gretap":
			err, what = f.GRE, kernelfeat.GREName
		default:
			t.Fatalf("RequireKernel: unknown kind %q", k)
		}
		if kernelfeat.Missing(err) {
			t.Skipf("kernel lacks %s: %v", what, err)
		}
		if err != nil {
			t.Fatalf("probe %s: %v", what, err)
		}
	}
}
