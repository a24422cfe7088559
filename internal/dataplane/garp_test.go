package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

func TestSendGARP(t *testing.T) {
	routerName := testutil.NewNetNS(t, "garp-r")
	outName := testutil.NewNetNS(t, "garp-o")
	router, outside := openNS(t, routerName), openNS(t, outName)
	rn, err := netlink.NewHandleAt(router)
	must(t, err)
	defer rn.Close()
	on, err := netlink.NewHandleAt(outside)
	must(t, err)
	defer on.Close()
	must(t, rn.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "qg-garp"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(outside))}))
	qg, err := rn.LinkByName("qg-garp")
	must(t, err)
	a, _ := netlink.ParseAddr("203.0.113.20/32")
	must(t, rn.AddrAdd(qg, a))
	must(t, rn.LinkSetUp(qg))
	eth0, err := on.LinkByName("eth0")
	must(t, err)
	a, _ = netlink.ParseAddr("203.0.113.1/24")
	must(t, on.AddrAdd(eth0, a))
	must(t, on.LinkSetUp(eth0))

	// The upstream has a stale entry for the floating IP with a wrong MAC
	// (as after the address moved from another router).
	wrong := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	fip := netip.MustParseAddr("203.0.113.20")
	must(t, on.NeighSet(&netlink.Neigh{LinkIndex: eth0.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_STALE,
		IP: fip.AsSlice(), HardwareAddr: wrong}))

	// One frame only: wait until the kernel's link watch has activated
	// qg-garp (operstate up, qdisc in place); a frame sent before is
	// dropped, and with namespaces of other tests being torn down the
	// link watch can lag.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l, err := rn.LinkByName("qg-garp")
		must(t, err)
		if l.Attrs().OperState == netlink.OperUp || time.Now().After(deadline) {
			break
		}
	}
	if err := SendGARP(router, "qg-garp", fip, 1); err != nil {
		t.Fatalf("SendGARP: %v", err)
	}
	// The frames are processed asynchronously by the peer's softirq:
	// poll the neighbour table (bounded).
	want := qg.Attrs().HardwareAddr
	var got net.HardwareAddr
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		neighs, err := on.NeighList(eth0.Attrs().Index, netlink.FAMILY_V4)
		must(t, err)
		for _, n := range neighs {
			if n.IP.Equal(fip.AsSlice()) {
				got = n.HardwareAddr
			}
		}
		if bytes.Equal(got, want) {
			return
		}
	}
	t.Fatalf("outside's neighbour entry for %s is %s, want the router's %s", fip, got, want)
}

func TestSendGARPErrors(t *testing.T) {
	name := testutil.NewNetNS(t, "garp-e")
	ns := openNS(t, name)
	if err := SendGARP(ns, "nosuchdev", netip.MustParseAddr("203.0.113.20"), 1); err == nil {
		t.Error("SendGARP on a missing device succeeded")
	}
	if err := SendGARP(ns, "lo", netip.MustParseAddr("2001:db8::1"), 1); err == nil {
		t.Error("SendGARP with an IPv6 address succeeded")
	}
}

func TestARPBody(t *testing.T) {
	mac := net.HardwareAddr{0xfa, 0x16, 0x3e, 1, 2, 3}
	b := arpBody(1, mac, netip.MustParseAddr("203.0.113.20"), net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	want := []byte{0, 1, 8, 0, 6, 4, 0, 1,
		0xfa, 0x16, 0x3e, 1, 2, 3, 203, 0, 113, 20,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 203, 0, 113, 20}
	if !bytes.Equal(b, want) {
		t.Fatalf("arpBody = % x, want % x", b, want)
	}
}
