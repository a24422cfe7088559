package dataplane

import (
	"slices"
	"sync"
	"time"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A gratuitous ARP sent on a device whose veth pair was just made, with
// its outer end just plugged into a bridge, can be dropped by that
// bridge: the bridge enables a port only once the kernel's link watch
// has processed the port's carrier (it runs from a work queue, batched
// up to a second apart, later on a loaded machine), and until then the
// port is "disabled" and the port shows NO-CARRIER although both ends
// are up. Seen in TestApplyDVRFloatingIP under load (13 of 80 runs): the
// first of the 3 rounds on a new fg- device never left the host, with
// its outer end disabled on the bridge when it was sent. So an
// announcement waits, boundedly, for the outer ends of its devices.

// portWait bounds that wait: the rounds after the first are another
// chance, and a port that never gets a carrier must not hold them.
var portWait = 2 * time.Second

// startAnnouncements runs the announcements of an apply in the
// background with a handle of the namespace the apply ran in (the
// host's, where the outer ends are).
func startAnnouncements(as []func(host netns.Handle)) {
	if len(as) == 0 {
		return
	}
	host, err := netns.Current()
	if err != nil {
		host = -1
	}
	var wg sync.WaitGroup
	for _, a := range as {
		wg.Go(func() { a(host) })
	}
	if err == nil {
		go func() { wg.Wait(); host.Close() }()
	}
}

// outerPorts are the host-side ends, plugged into a bridge, of the
// namespace's veths that carry an announced address.
func outerPorts(ns desired.Namespace, gs []desired.GARP) []string {
	var out []string
	for _, v := range ns.Veths {
		if v.PeerNamespace != "" || v.Bridge == "" || v.Outer == "" {
			continue
		}
		if slices.ContainsFunc(gs, func(g desired.GARP) bool { return g.Dev == v.Inner }) {
			out = append(out, v.Outer)
		}
	}
	return out
}

// garpDevs are the devices the announcements are sent on: a frame
// written before the link watch activated a device's queue is dropped.
func garpDevs(gs []desired.GARP) []string {
	var out []string
	for _, g := range gs {
		if !slices.Contains(out, g.Dev) {
			out = append(out, g.Dev)
		}
	}
	return out
}

// waitPorts waits, up to portWait, until the devices named are
// operationally up in namespace host (IFF_RUNNING: the link watch has
// processed their carrier, which is when a bridge enables its port).
func waitPorts(host netns.Handle, names []string) {
	if len(names) == 0 || host < 0 {
		return
	}
	nl, err := netlink.NewHandleAt(host)
	if err != nil {
		return
	}
	defer nl.Close()
	waitUntil(func() bool {
		for _, n := range names {
			l, err := nl.LinkByName(n)
			if err == nil && l.Attrs().RawFlags&unix.IFF_RUNNING == 0 {
				return false
			}
		}
		return true // a port that is gone has nothing to wait for
	}, portWait, 10*time.Millisecond)
}

// waitUntil polls ready every step until it holds or limit passed, and
// reports whether it held.
func waitUntil(ready func() bool, limit, step time.Duration) bool {
	for deadline := time.Now().Add(limit); ; time.Sleep(step) {
		if ready() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
