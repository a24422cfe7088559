// Package dataplane is the only code that touches the kernel: it reads
// the host's actual state back through netlink and changes only what
// differs from the desired state (internal/agent/desired). Every change is
// idempotent: EEXIST/ENOENT mean "already so". It owns only what carries
// its names: bridges "brq*", VXLAN devices "vxlan-*", namespaces of its
// agent's suffix, and the entries it put on those devices.
package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named namespaces live (iproute2's convention).
const NetnsDir = "/run/netns"

// ListNamespaces returns the named namespaces.
func ListNamespaces() ([]string, error) {
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out, nil
}

// NamespaceExists reports whether a named namespace is mounted.
func NamespaceExists(name string) bool {
	h, err := netns.GetFromName(name)
	if err != nil {
		return false
	}
	h.Close()
	return true
}

// CreateNamespace makes a persistent named namespace. It runs on a locked
// OS thread that is switched into the new namespace by unshare and back
// afterwards; if switching back fails the thread stays locked and dies
// with its goroutine instead of carrying the wrong namespace.
func CreateNamespace(name string) error {
	if NamespaceExists(name) {
		return nil
	}
	if err := prepareNetnsDir(); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := netns.NewNamed(name)
		if err != nil {
			netns.Set(orig)
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("create netns %s: %w", name, err)
			return
		}
		ns.Close()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("return from netns %s: %w", name, err)
			return // thread stays locked and is discarded
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}

var netnsDirOnce struct {
	sync.Once
	err error
}

// prepareNetnsDir makes /run/netns a shared mount of itself, as iproute2
// does before its first `ip netns add`. Doing it first ourselves matters:
// if iproute2 later finds /run/netns not yet a mount point, its bind
// mount covers the namespaces mounted there before, which then can
// neither be opened nor deleted by name.
func prepareNetnsDir() error {
	netnsDirOnce.Do(func() {
		if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
			netnsDirOnce.err = err
			return
		}
		err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if errors.Is(err, unix.EINVAL) { // not a mount point yet
			if err = unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
			}
		}
		if err != nil {
			netnsDirOnce.err = fmt.Errorf("prepare %s: %w", NetnsDir, err)
		}
	})
	return netnsDirOnce.err
}

// DeleteNamespace removes a named namespace (its links go with it).
func DeleteNamespace(name string) error {
	path := filepath.Join(NetnsDir, name)
	// Unmount until nothing is mounted there: the bind mount can be
	// stacked when two tools set up /run/netns at once.
	for range 8 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return fmt.Errorf("delete netns %s: unmount: %w", name, err)
		}
	}
	// An empty leftover file (KERNEL.md §1.B) goes too.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

// InNamespace returns a netlink handle bound to a named namespace and the
// namespace handle; close both.
func InNamespace(name string) (*netlink.Handle, netns.NsHandle, error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, 0, fmt.Errorf("open netns %s: %w", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, 0, fmt.Errorf("netlink in %s: %w", name, err)
	}
	return h, ns, nil
}

// RunIn runs fn on a locked OS thread switched into the namespace (for
// opening sockets or writing per-namespace /proc/sys). Sockets opened in
// fn keep the namespace after the thread switches back.
func RunIn(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to original netns: %w", err))
			return // thread stays locked and is discarded
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// WriteSysctl writes /proc/sys/<key> in the calling thread's namespace;
// a key that does not exist (module not loaded) is skipped.
func WriteSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", key)
	cur, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil && string(trimNL(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
