package e2e_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// sgOverlapping: netA and netB share 10.77.0.0/24 and their instances
// have the same addresses (a1 and b1 .10 on compute1, a2 and b2 .20 on
// compute2). A's group lets TCP and ICMP in; B's lets nothing in. A
// connection a1 -> a2:7000 stays up while b1 tries the very same 5-tuple
// (same addresses, same ports) towards b2: conntrack zones keep B's
// packets out of A's connection, so b2 (closed) sees no connection, and
// b2's capture sees none of A's packets.
func sgOverlapping(t *testing.T, d *sgTopo, b *testbed.Bed) {
	b.CreateNetwork("netA", "10.77.0.0/24", nil)
	b.CreateNetwork("netB", "10.77.0.0/24", nil)
	gA := b.CreateSecurityGroup("overlap-a")
	b.AddRule(gA, "ingress", map[string]any{"protocol": "tcp"})
	b.AddRule(gA, "ingress", map[string]any{"protocol": "icmp"})
	gB := b.CreateSecurityGroup("overlap-b") // egress only
	boot := func(name, network, host, ip, group string) *sandbox.Instance {
		return b.BootWith(testbed.BootOptions{Name: name, Network: network, Host: host, FixedIP: ip, SecurityGroups: []string{group}})
	}
	boot("a1", "netA", "compute1", "10.77.0.10", gA)
	boot("a2", "netA", "compute2", "10.77.0.20", gA)
	boot("b1", "netB", "compute1", "10.77.0.10", gB)
	b2 := boot("b2", "netB", "compute2", "10.77.0.20", gB)
	x := netip.MustParseAddr("10.77.0.20")
	b.ListenEcho("a2", "0.0.0.0:7000")
	srvB := b.ListenTCP("b2", "0.0.0.0:7000")

	capB, err := probe.StartCapture(b2.Netns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	b.MustPing("a1", x)
	var connA *probe.EchoConn
	testbed.Eventually(t, 10*time.Second, 100*time.Millisecond, "a1 -> a2:7000", func() error {
		var err error
		connA, err = b.DialEchoFrom("a1", 40000, netip.AddrPortFrom(x, 7000), 2*time.Second)
		return err
	})
	if err := connA.Exchange(2 * time.Second); err != nil {
		t.Fatalf("a1 <-> a2:7000: %v", err)
	}
	// The same 5-tuple in netB, while A's connection is established.
	if c, err := b.DialEchoFrom("b1", 40000, netip.AddrPortFrom(x, 7000), 3*time.Second); err == nil {
		c.Close()
		t.Errorf("b1 -> b2:7000 from the port of A's connection: connected, want b2's group to refuse it")
	}
	b.MustNotPing("b1", x, 2*time.Second)
	if err := connA.Exchange(2 * time.Second); err != nil {
		t.Errorf("a1 <-> a2:7000 after B's attempts: %v", err)
	}
	frames := capB.Stop()
	if n := len(srvB.Peers()); n != 0 {
		t.Errorf("b2 accepted %d connections, want none", n)
	}
	// b2 sees b1's own refused attempts arrive at its tap's filter, never
	// A's: no TCP frame reaches b2's eth0 at all, nor an ICMP echo.
	if n := testbed.Matching(frames, "TCP "); n > 0 {
		t.Errorf("b2's eth0 saw %d TCP frames (A's flow or B's refused one):\n%s", n, probe.Summarize(frames))
	}
	if n := testbed.Matching(frames, "ICMP "); n > 0 {
		t.Errorf("b2's eth0 saw %d ICMP frames:\n%s", n, probe.Summarize(frames))
	}
}

// forgery is what sgAntiSpoofing sends from s1 and counts at s2.
type forgery struct {
	forgedIP  netip.Addr       // not s1's
	forgedMAC net.HardwareAddr // not s1's
}

// sent sends, from s1 to s2: a genuine echo request (the path works), an
// echo request from the forged address, one from s1's address with the
// forged MAC, and a broadcast ARP reply claiming the forged address. It
// returns what s2's eth0 saw of each.
func (f forgery) sent(t *testing.T, s1, s2 *sandbox.Instance) (genuine, ip, mac, arp int) {
	t.Helper()
	mac1, _ := net.ParseMAC(s1.MAC)
	mac2, _ := net.ParseMAC(s2.MAC)
	ip1, ip2 := testbed.Addr(s1), testbed.Addr(s2)
	c, err := probe.StartCapture(s2.Netns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		seq := uint16(i)
		err := probe.SendFrames(s1.Netns, "eth0",
			probe.ICMPEchoFrame(mac1, mac2, ip1, ip2, 0x1111, seq),
			probe.ICMPEchoFrame(mac1, mac2, f.forgedIP, ip2, 0x2222, seq),
			probe.ICMPEchoFrame(f.forgedMAC, mac2, ip1, ip2, 0x3333, seq),
			probe.ARPFrame(mac1, 2, mac1, f.forgedIP, f.forgedIP))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	for _, fr := range c.Stop() {
		if fr.Outgoing {
			continue
		}
		ff := fr.Facts()
		switch {
		case ff.ARPSrcIP == f.forgedIP:
			arp++
		case ff.IPv4Src == f.forgedIP:
			ip++
		case ff.IPv4Src == ip1 && ff.EthSrc.String() == f.forgedMAC.String():
			mac++
		case ff.IPv4Src == ip1 && ff.EthSrc.String() == mac1.String():
			genuine++
		}
	}
	return genuine, ip, mac, arp
}

// sgAntiSpoofing: on spoof-net, s1 (compute1, default group) sends
// forged frames to s2 (compute1 too: a gratuitous ARP does not cross
// VXLAN, where neigh_suppress keeps ARP local; port security off on s2
// so that its own filter lets everything in). The forged source IP, the forged MAC and
// the forged ARP are dropped at s1's port; an allowed address pair
// makes the forged IP (and its ARP) pass; with port security off on s1
// everything passes (the pair removed first: upstream refuses pairs on
// a port without port security). Turning port security off while
// groups remain is refused with 409.
func sgAntiSpoofing(t *testing.T, d *sgTopo, b *testbed.Bed) {
	b.CreateNetwork("spoof-net", "10.88.0.0/24", nil)
	s1 := b.Boot("s1", "spoof-net", "compute1")
	s2 := b.Boot("s2", "spoof-net", "compute1")
	for _, in := range []*sandbox.Instance{s1, s2} {
		if err := b.SetPortSecurity(in.PortID, false); err == nil || !strings.Contains(err.Error(), "409") {
			t.Errorf("port security off on %s with its groups: %v, want 409 PortSecurityPortHasSecurityGroup", in.Name, err)
		}
	}
	b.SetPortGroups(s2.PortID, nil)
	if err := b.SetPortSecurity(s2.PortID, false); err != nil {
		t.Fatalf("port security off on s2 without groups: %v", err)
	}
	f := forgery{forgedIP: netip.MustParseAddr("10.88.0.199"), forgedMAC: net.HardwareAddr{0x02, 0, 0, 0, 0xbe, 0xef}}
	expect := func(what string, wantIP, wantMAC, wantARP bool) {
		t.Helper()
		testbed.Eventually(t, 15*time.Second, 200*time.Millisecond, what, func() error {
			g, ip, mac, arp := f.sent(t, s1, s2)
			if g == 0 || (ip > 0) != wantIP || (mac > 0) != wantMAC || (arp > 0) != wantARP {
				return fmt.Errorf("s2 saw genuine %d, forged IP %d, forged MAC %d, forged ARP %d; want genuine, IP %v, MAC %v, ARP %v",
					g, ip, mac, arp, wantIP, wantMAC, wantARP)
			}
			return nil
		})
	}
	expect("port security on: forgeries dropped", false, false, false)
	b.Do("PUT", "/v2.0/ports/"+s1.PortID, map[string]any{"port": map[string]any{
		"allowed_address_pairs": []map[string]string{{"ip_address": f.forgedIP.String()}}}}, nil)
	expect("allowed address pair: its IP and ARP pass, the forged MAC does not", true, false, true)
	b.Do("PUT", "/v2.0/ports/"+s1.PortID, map[string]any{"port": map[string]any{"allowed_address_pairs": []any{}}}, nil)
	b.SetPortGroups(s1.PortID, nil)
	if err := b.SetPortSecurity(s1.PortID, false); err != nil {
		t.Fatalf("port security off on s1 without groups: %v", err)
	}
	expect("port security off: everything passes", true, true, true)
}
