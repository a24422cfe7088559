// Package nsthread runs a function on an OS thread switched into a network
// namespace, for the few things that must be created inside one (sockets).
//
// The switch happens on a fresh goroutine locked to its thread, never on
// the caller's: a goroutine that setns'd and then migrated would leave some
// other goroutine running in the wrong namespace. If switching back fails
// the goroutine exits still locked, so the Go runtime discards the thread
// instead of reusing it.
package nsthread

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn with the calling thread in the network namespace at nsPath
// (for example /run/netns/qdhcp-<id> or /proc/<pid>/ns/net) and returns
// its error. Anything fn opens (sockets, netlink handles) stays in that
// namespace after Do returns and may be used from any goroutine.
func Do(nsPath string, fn func() error) error {
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", nsPath, err)
	}
	defer target.Close()
	return DoHandle(target, nsPath, fn)
}

// DoHandle is Do for an already open namespace handle; name is only used
// in errors.
func DoHandle(target netns.NsHandle, name string, fn func() error) error {
	nsPath := name
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			// setns failed, so the thread never left; it is safe to reuse.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", nsPath, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the thread dies with this goroutine.
			errc <- fmt.Errorf("leave netns %s: %w (after: %v)", nsPath, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
