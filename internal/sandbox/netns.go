package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/neutrino-net/neutrino/internal/dataplane"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live (as iproute2 keeps them).
const NetnsDir = "/run/netns"

// NSPath is the path of a named namespace.
func NSPath(name string) string { return filepath.Join(NetnsDir, name) }

// nsExists reports whether the named namespace exists and is usable (a
// bind mount of a namespace, not an empty file left by a failed create).
func nsExists(name string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(NSPath(name), &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// createNS makes a persistent named network namespace with lo up. It
// runs on a thread of its own that unshares into the new namespace and
// then dies, so no other goroutine is affected. It fails if the name is
// taken.
func createNS(name string) error {
	if nsExists(name) {
		return fmt.Errorf("namespace %s exists", name)
	}
	if err := dataplane.CreateNamespace(name); err != nil {
		return err
	}
	h, err := handle(name)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return h.LinkSetUp(lo)
}

// deleteNS removes a named namespace; a missing one is no error.
func deleteNS(name string) error { return dataplane.DeleteNamespace(name) }

// listNS lists the named namespaces.
func listNS() ([]string, error) {
	es, err := os.ReadDir(NetnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range es {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// nsInode returns the inode that identifies the namespace mounted at a
// named path (as /proc/PID/ns/net shows it: "net:[INODE]").
func nsInode(name string) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(NSPath(name), &st); err != nil || !nsExists(name) {
		return 0, false
	}
	return st.Ino, true
}

// onNewThread runs fn on a goroutine locked to its OS thread and never
// unlocks it: fn may change the thread's namespaces, and the runtime
// ends a locked thread when its goroutine exits.
func onNewThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- fn()
	}()
	return <-errc
}

// inNS runs fn on a dedicated thread inside the named namespace.
func inNS(name string, fn func() error) error {
	return onNewThread(func() error {
		h, err := netns.GetFromPath(NSPath(name))
		if err != nil {
			return fmt.Errorf("open namespace %s: %w", name, err)
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			return fmt.Errorf("enter namespace %s: %w", name, err)
		}
		return fn()
	})
}

// handle returns a netlink handle bound to the named namespace.
func handle(name string) (*netlink.Handle, error) {
	h, err := netns.GetFromPath(NSPath(name))
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", name, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", name, err)
	}
	return nh, nil
}

// sysctl is one /proc/sys setting; Optional ones may be absent (e.g. the
// bridge-nf settings without br_netfilter).
type sysctl struct {
	Key, Value string
	Optional   bool
}

// bridgeNFOff turns off br_netfilter's calls into iptables/ip6tables/
// arptables for bridged frames (KERNEL.md §4.7: it is built in and on in
// every new namespace).
var bridgeNFOff = []sysctl{
	{"net.bridge.bridge-nf-call-iptables", "0", true},
	{"net.bridge.bridge-nf-call-ip6tables", "0", true},
	{"net.bridge.bridge-nf-call-arptables", "0", true},
}

// setSysctls writes settings in the named namespace. /proc/sys/net
// resolves to the namespace of the thread that opens it.
func setSysctls(ns string, ss []sysctl) error {
	return inNS(ns, func() error {
		for _, s := range ss {
			p := "/proc/sys/" + strings.ReplaceAll(s.Key, ".", "/")
			if err := os.WriteFile(p, []byte(s.Value), 0o644); err != nil {
				if s.Optional && errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return fmt.Errorf("sysctl %s=%s in %s: %w", s.Key, s.Value, ns, err)
			}
		}
		return nil
	})
}

// startIn starts cmd inside the named namespace (root namespace if ns is
// empty): the fork happens on a thread switched into ns, so the child's
// network namespace is ns and its mount namespace stays ours.
func startIn(ns string, cmd *exec.Cmd) error {
	if ns == "" {
		return cmd.Start()
	}
	return inNS(ns, cmd.Start)
}
