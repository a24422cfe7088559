package dataplane

import (
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// TestNeighSuppressGARPIngress pins a kernel fact that rules out
// neigh_suppress as a way to keep a router's gratuitous ARPs out of the
// other routers on the external bridge (docs/performance.md, netnode,
// "Tried and rejected"): the bridge suppresses a gratuitous ARP only
// when it comes in through a port WITHOUT the flag
// (br_do_proxy_suppress_arp returns early for a suppressed ingress
// port). With the flag on the two "router" ports (veth-xa, veth-xb) and
// not on the "uplink" (other-c), A's GARPs still reach B, and the
// uplink's GARPs reach neither router. If a kernel ever changes this,
// the test fails and the idea is worth another look.
func TestNeighSuppressGARPIngress(t *testing.T) {
	l := newBridgeLab(t)
	applyIn(t, l.host, l.want(), Options{})
	hl, err := netlink.NewHandleAt(l.host)
	must(t, err)
	defer hl.Close()
	for _, p := range []string{"veth-xa", "veth-xb"} {
		link, err := hl.LinkByName(p)
		must(t, err)
		must(t, hl.LinkSetBrNeighSuppress(link, true))
	}
	// Every end up, the bridge's included: a bridge port whose carrier
	// the kernel's link watch has not processed yet is still disabled
	// and drops the first frames (seen under CI load: 0 of 2 GARPs).
	for _, ns := range []netns.Handle{l.a, l.b, l.c} {
		h, err := netlink.NewHandleAt(ns)
		must(t, err)
		waitOperUp(t, h, "eth0")
		h.Close()
	}
	for _, p := range []string{"veth-xa", "veth-xb", "other-c"} {
		waitOperUp(t, hl, p)
	}

	peekB, stopB := captureLive(t, l.b)
	peekC, stopC := captureLive(t, l.c)
	// One round: the request form and the broadcast reply form.
	must(t, SendGARP(l.a, "eth0", l.ipA, 1))
	waitFrames(peekC, func(f [][]byte) bool { return garpsFor(f, l.ipA) >= 2 })
	waitFrames(peekB, func(f [][]byte) bool { return garpsFor(f, l.ipA) >= 2 })
	if n := garpsFor(stopC(), l.ipA); n != 2 {
		t.Errorf("the uplink got %d of A's 2 GARP frames", n)
	}
	if n := garpsFor(stopB(), l.ipA); n != 2 {
		t.Errorf("B (suppressed) got %d of A's 2 GARP frames from a suppressed port; the kernel floods them (want 2)", n)
	}

	stopA := capture(t, l.a)
	stopB = capture(t, l.b)
	must(t, SendGARP(l.c, "eth0", l.ipC, 1))
	// Nothing is expected: give the frames time to arrive if they would.
	time.Sleep(500 * time.Millisecond)
	if n := garpsFor(stopA(), l.ipC); n != 0 {
		t.Errorf("A (suppressed) got %d of the uplink's GARP frames, want 0", n)
	}
	if n := garpsFor(stopB(), l.ipC); n != 0 {
		t.Errorf("B (suppressed) got %d of the uplink's GARP frames, want 0", n)
	}
}
