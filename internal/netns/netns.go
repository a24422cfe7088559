// Package netns is the one place that enters network namespaces: named
// namespaces under /run/netns (list, create, delete, open) and running a
// function on an OS thread switched into one (for opening sockets or
// writing per-namespace /proc/sys). Everybody uses it: the data plane,
// the DHCP server and metadata proxy, the sandbox, the testbed and the
// tests.
//
// The switch happens on a fresh goroutine locked to its thread, never on
// the caller's: a goroutine that setns'd and then migrated would leave
// some other goroutine running in the wrong namespace. If switching back
// fails the goroutine exits still locked, so the Go runtime discards the
// thread instead of reusing it.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir is where named namespaces live (iproute2's convention).
const Dir = "/run/netns"

// Handle is an open namespace (a file descriptor); close it.
type Handle = vns.NsHandle

// Path returns the file of a named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// Open opens a named namespace.
func Open(name string) (Handle, error) { return vns.GetFromName(name) }

// OpenPath opens a namespace by file (/run/netns/x, /proc/<pid>/ns/net).
func OpenPath(path string) (Handle, error) { return vns.GetFromPath(path) }

// Current opens the calling thread's namespace.
func Current() (Handle, error) { return vns.Get() }

// List returns the named namespaces.
func List() ([]string, error) {
	entries, err := os.ReadDir(Dir)
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

// Exists reports whether a named namespace is mounted.
func Exists(name string) bool {
	h, err := vns.GetFromName(name)
	if err != nil {
		return false
	}
	h.Close()
	return true
}

// Create makes a persistent named namespace. It runs on a locked
// OS thread that is switched into the new namespace by unshare and back
// afterwards; if switching back fails the thread stays locked and dies
// with its goroutine instead of carrying the wrong namespace.
func Create(name string) error {
	if Exists(name) {
		return nil
	}
	if err := prepareDir(); err != nil {
		return err
	}
	return onThread(func() error {
		ns, err := vns.NewNamed(name) // moves this thread into it
		if err != nil {
			return fmt.Errorf("create netns %s: %w", name, err)
		}
		return ns.Close()
	}, func() error { return nil })
}

var netnsDirOnce struct {
	sync.Once
	err error
}

// prepareDir makes /run/netns a shared mount of itself, as iproute2
// does before its first `ip netns add`. Doing it first ourselves matters:
// if iproute2 later finds /run/netns not yet a mount point, its bind
// mount covers the namespaces mounted there before, which then can
// neither be opened nor deleted by name.
func prepareDir() error {
	netnsDirOnce.Do(func() {
		if err := os.MkdirAll(Dir, 0o755); err != nil {
			netnsDirOnce.err = err
			return
		}
		err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if errors.Is(err, unix.EINVAL) { // not a mount point yet
			if err = unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
				err = unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
			}
		}
		if err != nil {
			netnsDirOnce.err = fmt.Errorf("prepare %s: %w", Dir, err)
		}
	})
	return netnsDirOnce.err
}

// Delete removes a named namespace (its links go with it).
func Delete(name string) error {
	path := filepath.Join(Dir, name)
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

// Netlink returns a netlink handle bound to a named namespace and the
// namespace handle; close both.
func Netlink(name string) (*netlink.Handle, vns.NsHandle, error) {
	ns, err := vns.GetFromName(name)
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
func RunIn(ns Handle, fn func() error) error {
	return onThread(func() error { return vns.Set(ns) }, fn)
}

// onThread runs enter, which moves the calling thread into a namespace,
// then fn, on a fresh locked OS thread, and switches the thread back to
// its original namespace. If switching back fails, the thread stays
// locked and dies with its goroutine instead of carrying the wrong
// namespace.
func onThread(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ferr := enter()
		if ferr == nil {
			ferr = fn()
		}
		if err := vns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to original netns: %w", err))
			return // thread stays locked and is discarded
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Do runs fn with the calling thread in the network namespace at nsPath
// (for example /run/netns/qdhcp-<id> or /proc/<pid>/ns/net) and returns
// its error. Anything fn opens (sockets, netlink handles) stays in that
// namespace after Do returns and may be used from any goroutine.
func Do(nsPath string, fn func() error) error {
	target, err := vns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", nsPath, err)
	}
	defer target.Close()
	if err := RunIn(target, fn); err != nil {
		return fmt.Errorf("in netns %s: %w", nsPath, err)
	}
	return nil
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

// In runs fn on a locked OS thread inside the named namespace (RunIn by
// name).
func In(name string, fn func() error) error {
	h, err := Open(name)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", name, err)
	}
	defer h.Close()
	if err := RunIn(h, fn); err != nil {
		return fmt.Errorf("in namespace %s: %w", name, err)
	}
	return nil
}

// NetlinkAt returns a netlink handle bound to the named namespace.
func NetlinkAt(name string) (*netlink.Handle, error) {
	h, ns, err := Netlink(name)
	if err != nil {
		return nil, err
	}
	ns.Close()
	return h, nil
}

// CreateNew makes a named namespace with lo up; unlike Create it fails if
// the name is taken (test beds and the sandbox want a fresh one).
func CreateNew(name string) error {
	if Exists(name) {
		return fmt.Errorf("namespace %s exists", name)
	}
	if err := Create(name); err != nil {
		return err
	}
	h, err := NetlinkAt(name)
	if err != nil {
		Delete(name)
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		Delete(name)
		return fmt.Errorf("create namespace %s: lo up: %w", name, err)
	}
	return nil
}
