package dataplane

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// flowsWith counts the IPv4 conntrack entries in ns that involve addr.
func flowsWith(t *testing.T, ns netns.Handle, addr netip.Addr) int {
	t.Helper()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
	must(t, err)
	defer h.Close()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, netlink.FAMILY_V4)
	must(t, err)
	n := 0
	for _, f := range flows {
		if (addrFilter{addr: true}).MatchConntrackFlow(f) {
			n++
		}
	}
	return n
}

func TestDeleteConntrack(t *testing.T) {
	l := newRouterLab(t)
	applyNft(t, l.router, routerTable("qg-lab", map[netip.Addr]netip.Addr{fipAddr: fixedAddr}))

	// A UDP exchange and a ping through the DNAT. UDP (not TCP) so that
	// no late ACK or FIN can recreate an entry after the deletion.
	var srv *net.UDPConn
	must(t, netns.RunIn(l.client, func() error {
		var err error
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: fixedAddr.AsSlice(), Port: 5353})
		return err
	}))
	defer srv.Close()
	go func() {
		buf := make([]byte, 64)
		n, from, err := srv.ReadFromUDP(buf)
		if err == nil {
			srv.WriteToUDP(buf[:n], from)
		}
	}()
	var cli *net.UDPConn
	must(t, netns.RunIn(l.outside, func() error {
		var err error
		cli, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: fipAddr.AsSlice(), Port: 5353})
		return err
	}))
	defer cli.Close()
	_, err := cli.Write([]byte("hello"))
	must(t, err)
	cli.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	if n, err := cli.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("UDP through the floating IP: %q, %v", buf[:n], err)
	}
	if err := ping(l.outside, fipAddr, 3); err != nil {
		t.Fatal(err)
	}

	before := flowsWith(t, l.router, fipAddr)
	if before < 2 {
		t.Fatalf("%d conntrack entries involve %s, want at least 2 (udp, icmp)", before, fipAddr)
	}
	// An unrelated address deletes nothing.
	if n, err := DeleteConntrack(l.router, netip.MustParseAddr("198.51.100.1")); err != nil || n != 0 {
		t.Fatalf("DeleteConntrack(unrelated) = %d, %v", n, err)
	}
	n, err := DeleteConntrack(l.router, fipAddr)
	if err != nil {
		t.Fatalf("DeleteConntrack: %v", err)
	}
	if n < before {
		t.Errorf("deleted %d entries, want %d", n, before)
	}
	if left := flowsWith(t, l.router, fipAddr); left != 0 {
		t.Fatalf("%d entries involving %s left", left, fipAddr)
	}
	t.Logf("deleted %d conntrack entries", n)
}
