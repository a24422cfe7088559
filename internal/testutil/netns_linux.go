package testutil

import (
	"runtime"

	"github.com/vishvananda/netns"
)

func lockAndCreate(name string, errc chan<- error) {
	runtime.LockOSThread()
	h, err := netns.NewNamed(name)
	if err == nil {
		h.Close()
	}
	errc <- err
}
