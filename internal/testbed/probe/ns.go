// Package probe is the testbed's kernel-facing toolbox, usable without
// the testing package (the e2e tests and the benchmarks share it): it
// opens sockets inside a named network namespace and then uses them from
// any goroutine (ICMP pingers, TCP banner servers and clients, ARP
// requests, packet captures), and reads kernel state of a namespace
// through netlink handles bound to it (FDB, neighbours, link counters);
// it also parses the agents' slog lines.
//
// No goroutine ever switches its thread's namespace: a socket is created
// on a fresh thread locked to a goroutine that enters the namespace and
// then exits still locked, so the runtime discards the thread.
package probe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces live.
const NetnsDir = "/run/netns"

// Path is the path of a named namespace.
func Path(ns string) string { return filepath.Join(NetnsDir, ns) }

// In runs fn on a fresh OS thread inside the named namespace. What fn
// opens keeps the namespace and may be used from any goroutine.
func In(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		h, err := netns.GetFromPath(Path(ns))
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Handle returns a netlink handle bound to the named namespace.
func Handle(ns string) (*netlink.Handle, error) {
	h, err := netns.GetFromPath(Path(ns))
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", ns, err)
	}
	return nh, nil
}

// CreateNS makes a persistent named namespace with lo up; it fails if
// the name is taken.
func CreateNS(name string) error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return err
	}
	path := Path(name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves with the new namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind mount: %w", err)
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		DeleteNS(name)
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// DeleteNS removes a named namespace; a missing one is no error.
func DeleteNS(name string) error {
	path := Path(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete namespace %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}
