package dataplane

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
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

// The floating IPs whose conntrack entries go: keys of fip_dnat and
// values of fip_snat that an apply removed, in any table.
func TestRemovedFIPs(t *testing.T) {
	a, b, x := netip.MustParseAddr("203.0.113.20"), netip.MustParseAddr("203.0.113.21"), netip.MustParseAddr("10.0.0.5")
	r := &nft.Result{Elements: []nft.Element{
		{Table: "ip neutrino-dvr", Map: "fip_dnat", Key: a, Value: x, Removed: true},
		{Table: "ip neutrino", Map: "fip_snat", Key: x, Value: b, Removed: true},
		{Table: "ip neutrino", Map: "fip_snat", Key: x, Value: a, Removed: true},
		{Table: "ip neutrino", Map: "fip_dnat", Key: b, Value: x},
		{Table: "ip neutrino", Map: "other", Key: x, Value: x, Removed: true},
	}}
	if got := removedFIPs(r); !slices.Equal(got, []netip.Addr{a, b}) {
		t.Errorf("removedFIPs = %v, want [%s %s]", got, a, b)
	}
}

// A DVR-style table (not the legacy "ip neutrino") that goes as a whole
// takes its floating IPs' conntrack entries with it.
func TestConntrackCleanupDVRTable(t *testing.T) {
	l := newRouterLab(t)
	tbl := routerTable("qg-lab", map[netip.Addr]netip.Addr{fipAddr: fixedAddr})
	tbl.Name = "neutrino-dvr"
	ns := desired.Namespace{Name: l.routerName, Nft: []desired.NftTable{*tbl}}
	res, nr := &Result{}, &NamespaceResult{}
	must(t, applyNamespaceNft(res, nr, ns, l.router))
	must(t, ping(l.outside, fipAddr, 3))
	if n := flowsWith(t, l.router, fipAddr); n == 0 {
		t.Fatal("no conntrack entry for the floating IP")
	}
	ns.Nft = nil
	must(t, applyNamespaceNft(res, nr, ns, l.router))
	if nr.ConntrackDeleted == 0 || flowsWith(t, l.router, fipAddr) != 0 {
		t.Errorf("deleted %d entries, %d left; changes %q", nr.ConntrackDeleted, flowsWith(t, l.router, fipAddr), res.Changes)
	}
}
