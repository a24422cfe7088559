package dataplane

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
)

func TestSplitTop(t *testing.T) {
	for key, want := range map[string][2]string{
		"net/ipv4/ip_forward":                       {"net/ipv4", "ip_forward"},
		"net/ipv4/conf/all/arp_ignore":              {"net/ipv4", "conf/all/arp_ignore"},
		"net/netfilter/nf_conntrack_tcp_be_liberal": {"net/netfilter", "nf_conntrack_tcp_be_liberal"},
	} {
		top, rest, ok := splitTop(key)
		if !ok || top != want[0] || rest != want[1] {
			t.Errorf("splitTop(%q) = %q, %q, %v; want %q, %q", key, top, rest, ok, want[0], want[1])
		}
	}
	for _, key := range []string{"net", "net/ipv4", ""} {
		if _, _, ok := splitTop(key); ok {
			t.Errorf("splitTop(%q) has a file below a top directory", key)
		}
	}
}

// readSysctlIn reads a key inside a namespace by its full path.
func readSysctlIn(t *testing.T, h netns.Handle, key string) string {
	t.Helper()
	var v string
	if err := netns.RunIn(h, func() error {
		b, err := os.ReadFile("/proc/sys/" + key)
		v = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSysctlDirCache: keys written through the cache land in their own
// namespace, a later apply reuses it without changes, and a namespace
// deleted and made again under the same name gets its keys (the cache
// is per namespace, not per name).
func TestSysctlDirCache(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	names := []string{fmt.Sprintf("nnsysa%d", os.Getpid()), fmt.Sprintf("nnsysb%d", os.Getpid())}
	for _, n := range names {
		if err := netns.Create(n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { netns.Delete(n) })
	}
	// Values other than the new namespace's (IPv4 ones inherit the
	// machine's), so that each write is a change.
	hb, err := netns.Open(names[1])
	if err != nil {
		t.Fatal(err)
	}
	var keys []desired.Sysctl
	for _, k := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/arp_ignore", "net/ipv6/conf/all/forwarding"} {
		v := "1"
		if readSysctlIn(t, hb, k) == "1" {
			v = "0"
		}
		keys = append(keys, desired.Sysctl{Key: k, Value: v})
	}
	apply := func(name string, ss []desired.Sysctl) *Result {
		t.Helper()
		h, err := netns.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		res := &Result{}
		if _, err := applySysctls(h, res, name, ss); err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := apply(names[0], keys); len(res.Changes) != 3 {
		t.Fatalf("first apply: %q, want 3 changes", res.Changes)
	}
	if res := apply(names[0], keys); len(res.Changes) != 0 {
		t.Fatalf("second apply: %q, want none", res.Changes)
	}
	ha, err := netns.Open(names[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if v := readSysctlIn(t, ha, k.Key); v != k.Value {
			t.Fatalf("%s is %s in /proc/sys of its namespace, want %s", k.Key, v, k.Value)
		}
	}
	ha.Close()
	for _, k := range keys {
		if v := readSysctlIn(t, hb, k.Key); v == k.Value {
			t.Fatalf("the other namespace's %s is %s: the write went astray", k.Key, v)
		}
	}
	hb.Close()
	// Deleted and made again: its keys are back to the defaults, and an
	// apply must see that.
	ha, err = netns.Open(names[0])
	if err != nil {
		t.Fatal(err)
	}
	ha.Close()
	netns.Delete(names[0])
	if err := netns.Create(names[0]); err != nil {
		t.Fatal(err)
	}
	if res := apply(names[0], keys); len(res.Changes) != 3 {
		t.Fatalf("apply to the namespace made again: %q, want 3 changes", res.Changes)
	}
	// A missing per-device key is reported missing, not an error.
	h, err := netns.Open(names[0])
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	missing, err := applySysctls(h, &Result{}, names[0], []desired.Sysctl{{Key: "net/ipv4/conf/nosuchdev/proxy_arp", Value: "1"}})
	if err != nil || len(missing) != 1 {
		t.Fatalf("missing device key: %v, %v", missing, err)
	}
	forgetSysctlDirs(h)
}
