package dhcp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/neutrino-net/neutrino/internal/agent/dhcp"
	"github.com/neutrino-net/neutrino/internal/agent/dhcp/client"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestServer runs the server in throwaway namespaces and a real client
// (nclient4 on a packet socket) in others, joined by veth pairs: two
// networks with the same CIDR served at once by one Server, a lease change
// picked up without a restart, and one namespace stopped while the other
// keeps serving.
func TestServer(t *testing.T) {
	testutil.RequireRoot(t)
	a, b := newPair(t, "a"), newPair(t, "b")

	s := &dhcp.Server{Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	t.Cleanup(func() { s.Close() }) // before the namespaces go (cleanups run last-in first-out)

	var netA, netB atomic.Pointer[dhcp.Network]
	netA.Store(testNetwork(a.mac, "10.99.0.57", 1450))
	netB.Store(testNetwork(b.mac, "10.99.0.77", 1400))
	if err := s.Start(a.serverNS, "ns-dhcp0", netA.Load); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(b.serverNS, "ns-dhcp0", netB.Load); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acquire := func(p pair, want string) {
		t.Helper()
		r, err := client.Acquire(ctx, p.clientNS, "eth0")
		if err != nil {
			t.Fatalf("Acquire in %s: %v", p.clientNS, err)
		}
		if diff := cmp.Diff(want, renderResult(r)); diff != "" {
			t.Errorf("lease in %s (-want +got):\n%s", p.clientNS, diff)
		}
	}

	acquire(a, wantResult("10.99.0.57", 1450))
	acquire(b, wantResult("10.99.0.77", 1400))

	// The port's fixed IP changes: the next exchange gets the new address.
	netA.Store(testNetwork(a.mac, "10.99.0.58", 1450))
	acquire(a, wantResult("10.99.0.58", 1450))

	// Renewing: a client that has its address gets the ACK by unicast. A
	// plain UDP socket bound to that address (not to 0.0.0.0) does not
	// receive broadcasts, so an answer on it proves the unicast path.
	renewUnicast(t, a, "10.99.0.58")

	// Start again on a served namespace only swaps the getter.
	if err := s.Start(a.serverNS, "ns-dhcp0", netA.Load); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Namespaces(), sortedPaths(a.serverNS, b.serverNS); !cmp.Equal(got, want) {
		t.Errorf("Namespaces = %v, want %v", got, want)
	}

	// Stopping one namespace leaves the other served.
	s.Stop(b.serverNS)
	if got := s.Namespaces(); !cmp.Equal(got, []string{a.serverNS}) {
		t.Errorf("after Stop, Namespaces = %v, want [%s]", got, a.serverNS)
	}
	acquire(a, wantResult("10.99.0.58", 1450))

	// A device that does not exist in the namespace is an error.
	if err := s.Start(b.serverNS, "nosuchdev", netB.Load); err == nil || !errors.Is(err, unix.ENODEV) {
		t.Errorf("Start on a missing device: err = %v, want ENODEV", err)
	}
}

func renewUnicast(t *testing.T, p pair, ip string) {
	t.Helper()
	h, err := netlink.NewHandleAt(p.client)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(ip), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatalf("add %s to the client: %v", ip, err)
	}
	var conn *net.UDPConn
	err = netns.Do(p.clientNS, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: dhcpv4.ClientPort})
		return err
	})
	if conn != nil {
		defer conn.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	req, err := dhcpv4.New(dhcpv4.WithHwAddr(p.mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.ParseIP(ip)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteToUDP(req.ToBytes(), &net.UDPAddr{IP: net.ParseIP("10.99.0.2"), Port: dhcpv4.ServerPort}); err != nil {
		t.Fatal(err)
	}
	// The deadline only keeps a broken server from hanging the test.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("renew: no unicast reply: %v", err)
	}
	resp, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s from %s yiaddr %s ciaddr %s xid-match %v",
		resp.MessageType(), from, resp.YourIPAddr, resp.ClientIPAddr, resp.TransactionID == req.TransactionID)
	want := fmt.Sprintf("ACK from 10.99.0.2:67 yiaddr %[1]s ciaddr %[1]s xid-match true", ip)
	if got != want {
		t.Errorf("renew reply: %s, want %s", got, want)
	}
}

func testNetwork(mac net.HardwareAddr, ip string, mtu int) *dhcp.Network {
	gw := netip.MustParseAddr("10.99.0.1")
	return &dhcp.Network{
		ID:               "net-test",
		MTU:              mtu,
		DomainName:       "openstacklocal",
		IsolatedMetadata: true,
		Subnets: []dhcp.Subnet{{
			ID:      "sub-test",
			CIDR:    netip.MustParsePrefix("10.99.0.0/24"),
			Gateway: &gw,
			DNS:     []netip.Addr{netip.MustParseAddr("192.0.2.53")},
			HostRoutes: []dhcp.Route{{
				Destination: netip.MustParsePrefix("198.51.100.0/24"),
				NextHop:     netip.MustParseAddr("10.99.0.254"),
			}},
			ServerIP: netip.MustParseAddr("10.99.0.2"),
		}},
		Leases: map[string]dhcp.Lease{
			mac.String(): {MAC: mac.String(), IP: netip.MustParseAddr(ip), SubnetID: "sub-test"},
		},
	}
}

func wantResult(ip string, mtu int) string {
	return fmt.Sprintf(`offer %[1]s
address %[1]s/24
router 10.99.0.1
dns [192.0.2.53]
mtu %[2]d
routes [{198.51.100.0/24 10.99.0.254} {169.254.169.254/32 10.99.0.2} {0.0.0.0/0 10.99.0.1}]
domain openstacklocal
hostname host-%[3]s
server 10.99.0.2
lease 24h0m0s
`, ip, mtu, strings.ReplaceAll(ip, ".", "-"))
}

func renderResult(r *client.Result) string {
	return fmt.Sprintf("offer %s\naddress %s\nrouter %s\ndns %v\nmtu %d\nroutes %v\ndomain %s\nhostname %s\nserver %s\nlease %s\n",
		r.Offer.YourIPAddr, r.Address, r.Router, r.DNS, r.MTU, r.Routes, r.DomainName, r.Hostname, r.ServerID, r.LeaseTime)
}

func sortedPaths(p ...string) []string {
	if p[0] > p[1] {
		p[0], p[1] = p[1], p[0]
	}
	return p
}

// pair is a server namespace and a client namespace joined by a veth:
// ns-dhcp0 (10.99.0.2/24) in the server's, eth0 (no address) in the
// client's.
type pair struct {
	serverNS, clientNS string // paths
	client             netns.Handle
	mac                net.HardwareAddr
}

func newPair(t *testing.T, tag string) pair {
	t.Helper()
	srvName, srv := newNS(t, "dhcp-srv-"+tag)
	cliName, cli := newNS(t, "dhcp-cli-"+tag)
	hs, err := netlink.NewHandleAt(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	hc, err := netlink.NewHandleAt(cli)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ns-dhcp0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(cli))}
	if err := hs.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("veth pair: %v (kernel module veth missing?)", err)
		}
		t.Fatalf("add veth: %v", err)
	}
	sl, err := hs.LinkByName("ns-dhcp0")
	if err != nil {
		t.Fatal(err)
	}
	if err := hs.AddrAdd(sl, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.99.0.2"), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatalf("add address: %v", err)
	}
	cl, err := hc.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, up := range []struct {
		h *netlink.Handle
		l netlink.Link
	}{{hs, sl}, {hc, cl}} {
		if err := up.h.LinkSetUp(up.l); err != nil {
			t.Fatalf("set %s up: %v", up.l.Attrs().Name, err)
		}
	}
	return pair{serverNS: "/run/netns/" + srvName, clientNS: "/run/netns/" + cliName, client: cli, mac: cl.Attrs().HardwareAddr}
}

// newNS makes a namespace deleted (with its links) when the test ends and
// returns its name and an open handle.
func newNS(t *testing.T, tag string) (string, netns.Handle) {
	t.Helper()
	name := testutil.NewNetNS(t, tag)
	h, err := netns.Open(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	return name, h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
