package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live (as iproute2 keeps them).
const NetnsDir = netns.Dir

// NSPath is the path of a named namespace.
func NSPath(name string) string { return netns.Path(name) }

// nsExists reports whether the named namespace exists and is usable (a
// bind mount of a namespace, not an empty file left by a failed create).
func nsExists(name string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(NSPath(name), &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// createNS makes a persistent named network namespace with lo up; it
// fails if the name is taken.
func createNS(name string) error { return netns.CreateNew(name) }

// deleteNS removes a named namespace; a missing one is no error.
func deleteNS(name string) error { return netns.Delete(name) }

// listNS lists the named namespaces.
func listNS() ([]string, error) { return netns.List() }

// nsInode returns the inode that identifies the namespace mounted at a
// named path (as /proc/PID/ns/net shows it: "net:[INODE]").
func nsInode(name string) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(NSPath(name), &st); err != nil || !nsExists(name) {
		return 0, false
	}
	return st.Ino, true
}

// inNS runs fn on a dedicated thread inside the named namespace.
func inNS(name string, fn func() error) error { return netns.In(name, fn) }

// handle returns a netlink handle bound to the named namespace.
func handle(name string) (*netlink.Handle, error) { return netns.NetlinkAt(name) }

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
