package dataplane

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// TestARPFilterOwnerOnly applies the host's ARP filter (plan.ARPFilter)
// to the bridge lab, veth-xa and veth-xb standing for two routers'
// gateway ports and other-c for the uplink, and checks with real
// frames: the uplink's request for A's address reaches A but not B;
// A's gratuitous ARPs reach the uplink but not B; the uplink's own
// announcement (an address that is not ours) reaches both routers; B
// still resolves and reaches A's address (hairpin over the external
// network) and the uplink sees B's request. The apply is idempotent.
func TestARPFilterOwnerOnly(t *testing.T) {
	if _, err := exec.LookPath("arping"); err != nil {
		t.Skip("arping (Habets) not installed")
	}
	l := newBridgeLab(t)
	fipA := ip("10.9.0.11") // announced on A's port, on no device
	nss := []desired.Namespace{
		{Name: "qrouter-a", Veths: []desired.Veth{{Inner: "qg-a", Outer: "veth-xa", Bridge: labBridge}},
			GARP: []desired.GARP{{Dev: "qg-a", Addr: l.ipA}, {Dev: "qg-a", Addr: fipA}}},
		{Name: "qrouter-b", Veths: []desired.Veth{{Inner: "qg-b", Outer: "veth-xb", Bridge: labBridge}},
			GARP: []desired.GARP{{Dev: "qg-b", Addr: l.ipB}}},
	}
	want := l.want(*plan.ARPFilter(nss))
	applyIn(t, l.host, want, Options{})
	if res := applyIn(t, l.host, want, Options{}); len(res.Changes) != 0 {
		t.Fatalf("second apply changed %v", res.Changes)
	}
	for _, ns := range []netns.Handle{l.a, l.b, l.c} {
		h, err := netlink.NewHandleAt(ns)
		must(t, err)
		waitOperUp(t, h, "eth0")
		h.Close()
	}
	arping := func(from *netns.Handle, args ...string) error {
		return exec.Command("ip", append([]string{"netns", "exec", l.names[from], "arping", "-q", "-i", "eth0"}, args...)...).Run()
	}
	count := func(frames [][]byte, target netip.Addr) int {
		n := 0
		for _, f := range frames {
			if arpFor(f, target) {
				n++
			}
		}
		return n
	}

	// Until the ports forward (a just-made bridge), nothing counts.
	deadline := time.Now().Add(10 * time.Second)
	for arping(&l.c, "-c", "1", "-w", "0.5", l.ipA.String()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the uplink never resolved A's address")
		}
	}

	// The uplink asks for A's address and for A's floating IP.
	stopA, stopB := capture(t, l.a), capture(t, l.b)
	if err := arping(&l.c, "-c", "1", "-w", "2", l.ipA.String()); err != nil {
		t.Errorf("the uplink got no answer from A: %v", err)
	}
	_ = arping(&l.c, "-c", "1", "-w", "0.3", fipA.String()) // nobody answers: an error
	time.Sleep(200 * time.Millisecond)
	fa, fb := stopA(), stopB()
	if n := count(fa, l.ipA); n < 1 {
		t.Errorf("A got none of the requests for its address")
	}
	if n := count(fa, fipA); n < 1 {
		t.Errorf("A got none of the requests for its floating IP")
	}
	if n := count(fb, l.ipA) + count(fb, fipA); n != 0 {
		t.Errorf("B got %d requests for A's addresses, want 0", n)
	}

	// A announces its floating IP.
	stopB = capture(t, l.b)
	peekC, stopC := captureLive(t, l.c)
	must(t, SendGARP(l.a, "eth0", fipA, 1))
	waitFrames(peekC, func(f [][]byte) bool { return garpsFor(f, fipA) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if n := garpsFor(stopC(), fipA); n != 2 {
		t.Errorf("the uplink got %d of A's 2 GARP frames", n)
	}
	if n := garpsFor(stopB(), fipA); n != 0 {
		t.Errorf("B got %d of A's GARP frames, want 0", n)
	}

	// The uplink announces its own address: not ours, every port.
	peekA, stopA := captureLive(t, l.a)
	peekB, stopB := captureLive(t, l.b)
	must(t, SendGARP(l.c, "eth0", l.ipC, 1))
	waitFrames(peekA, func(f [][]byte) bool { return garpsFor(f, l.ipC) >= 2 })
	waitFrames(peekB, func(f [][]byte) bool { return garpsFor(f, l.ipC) >= 2 })
	if n := garpsFor(stopA(), l.ipC); n != 2 {
		t.Errorf("A got %d of the uplink's 2 GARP frames", n)
	}
	if n := garpsFor(stopB(), l.ipC); n != 2 {
		t.Errorf("B got %d of the uplink's 2 GARP frames", n)
	}

	// Hairpin: B resolves A's address; the uplink sees the request.
	stopC = capture(t, l.c)
	if err := arping(&l.b, "-c", "1", "-w", "2", l.ipA.String()); err != nil {
		t.Errorf("B got no answer from A (hairpin): %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := count(stopC(), l.ipA); n < 1 {
		t.Errorf("the uplink did not see B's request for A's address")
	}
}
