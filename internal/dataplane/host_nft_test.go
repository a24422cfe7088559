package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/packet"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// bridgeLab is a host namespace with a bridge and three "instances" in
// namespaces of their own, each behind one bridge port: a behind
// veth-xa, b behind veth-xb and c behind other-c.
type bridgeLab struct {
	host          netns.Handle
	hostName      string
	a, b, c       netns.Handle
	macA          net.HardwareAddr
	ipA, ipB, ipC netip.Addr
}

const labBridge = "brqdvrtest"

func newBridgeLab(t *testing.T) *bridgeLab {
	l := &bridgeLab{ipA: ip("10.9.0.1"), ipB: ip("10.9.0.2"), ipC: ip("10.9.0.3")}
	l.hostName = testutil.NewNetNS(t, "brhost")
	l.host = openNS(t, l.hostName)
	hl, err := netlink.NewHandleAt(l.host)
	must(t, err)
	defer hl.Close()
	for _, inst := range []struct {
		port string
		ns   *netns.Handle
		addr netip.Addr
		tag  string
	}{{"veth-xa", &l.a, l.ipA, "bra"}, {"veth-xb", &l.b, l.ipB, "brb"}, {"other-c", &l.c, l.ipC, "brc"}} {
		*inst.ns = openNS(t, testutil.NewNetNS(t, inst.tag))
		must(t, hl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: inst.port}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(*inst.ns))}))
		il, err := netlink.NewHandleAt(*inst.ns)
		must(t, err)
		eth0, err := il.LinkByName("eth0")
		must(t, err)
		must(t, il.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(inst.addr, 24))}))
		must(t, il.LinkSetUp(eth0))
		if inst.port == "veth-xa" {
			l.macA = eth0.Attrs().HardwareAddr
		}
		il.Close()
	}
	return l
}

// want is the lab's bridge and ports plus the given host tables.
func (l *bridgeLab) want(tables ...desired.NftTable) *desired.Host {
	h := &desired.Host{Bridges: []desired.Bridge{{Name: labBridge, MTU: 1500}}, Nft: tables}
	for _, p := range []string{"veth-xa", "veth-xb", "other-c"} {
		h.BridgePorts = append(h.BridgePorts, desired.BridgePort{Name: p, Bridge: labBridge, MTU: 1500})
	}
	h.Normalize()
	return h
}

func dvrTable(rules ...desired.NftRule) desired.NftTable {
	return desired.NftTable{Family: desired.FamilyBridge, Name: "neutrino-dvr",
		Chains: []desired.NftChain{{Name: "forward", Type: "filter", Hook: "forward", Priority: 0, Rules: rules}}}
}

// capture records the frames arriving on eth0 of ns until stop is
// called.
func capture(t *testing.T, ns netns.Handle) (stop func() [][]byte) {
	t.Helper()
	_, stop = captureLive(t, ns)
	return stop
}

// captureLive is capture with a peek at the frames so far, for frames
// sent in the background (gratuitous ARPs go out after the apply).
func captureLive(t *testing.T, ns netns.Handle) (peek, stop func() [][]byte) {
	t.Helper()
	var conn *packet.Conn
	must(t, netns.RunIn(ns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	}))
	var (
		mu     sync.Mutex
		frames [][]byte
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			frames = append(frames, bytes.Clone(buf[:n]))
			mu.Unlock()
		}
	}()
	peek = func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(frames)
	}
	return peek, func() [][]byte {
		// Drain what is queued (the reader may lag behind the traffic),
		// then stop.
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		<-done
		conn.Close()
		mu.Lock()
		defer mu.Unlock()
		return frames
	}
}

// waitFrames waits (up to 10 s: background senders are slow on a loaded
// machine) until the frames captured so far satisfy done.
func waitFrames(peek func() [][]byte, done func([][]byte) bool) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !done(peek()); {
		time.Sleep(20 * time.Millisecond)
	}
}

// ipv4From reports whether frame is an IPv4 packet from src, and its
// Ethernet source.
func ipv4From(frame []byte, src netip.Addr) (net.HardwareAddr, bool) {
	if len(frame) < 34 || binary.BigEndian.Uint16(frame[12:14]) != unix.ETH_P_IP {
		return nil, false
	}
	return net.HardwareAddr(frame[6:12]), bytes.Equal(frame[26:30], src.AsSlice())
}

// arpFor reports whether frame is an ARP packet asking for target.
func arpFor(frame []byte, target netip.Addr) bool {
	return len(frame) >= 42 && binary.BigEndian.Uint16(frame[12:14]) == unix.ETH_P_ARP && bytes.Equal(frame[38:42], target.AsSlice())
}

// TestHostNftBridgeDVR: a bridge table in the host namespace rewrites
// the source MAC of frames from A leaving through the veth-x* ports (as
// DVR rewrites the gateway MAC towards the tunnel), and drops ARP for
// one address on one port only.
func TestHostNftBridgeDVR(t *testing.T) {
	l := newBridgeLab(t)
	dvrMAC := "fa:16:3f:00:00:42"
	rewrite := desired.NftRule{OifName: "veth-x*", EtherSaddr: l.macA.String(), SetEtherSaddr: dvrMAC, Comment: "dvr mac"}
	want := l.want(dvrTable(rewrite))
	opts := Options{Prune: true}
	res := applyIn(t, l.host, want, opts)
	if got := strings.Join(res.Changes, "\n"); !strings.Contains(got, "nft add table bridge neutrino-dvr") {
		t.Fatalf("table not added:\n%s", got)
	}
	wantConverged(t, l.host, want, opts)
	if out, ok := nftListTable(t, l.hostName, "bridge", "neutrino-dvr"); ok {
		// nft decodes the expressions back into the rule's text form.
		if w := `oifname "veth-x*" ether saddr ` + l.macA.String() + ` ether saddr set ` + dvrMAC; !strings.Contains(out, w) {
			t.Errorf("nft lists\n%s\nwithout %q", out, w)
		}
	}

	// b sees A's packets with the DVR MAC as source; c, behind a port
	// the rule does not match, with A's own.
	stopB, stopC := capture(t, l.b), capture(t, l.c)
	must(t, ping(l.a, l.ipB, 5))
	must(t, ping(l.a, l.ipC, 5))
	srcsAt := func(frames [][]byte) map[string]bool {
		out := map[string]bool{}
		for _, f := range frames {
			if mac, ok := ipv4From(f, l.ipA); ok {
				out[mac.String()] = true
			}
		}
		return out
	}
	if got := srcsAt(stopB()); !got[dvrMAC] || got[l.macA.String()] {
		t.Errorf("b saw A's IPv4 packets from %v, want only %s", got, dvrMAC)
	}
	if got := srcsAt(stopC()); got[dvrMAC] || !got[l.macA.String()] {
		t.Errorf("c saw A's IPv4 packets from %v, want only %s", got, l.macA)
	}

	// ARP for c's address is dropped towards other-c only: a cannot
	// reach c, b still sees the request (flooded to it), and ARP for b
	// is unaffected.
	drop := desired.NftRule{OifName: "other-c", ARPTargetIP: l.ipC, Drop: true, Comment: "no arp for c"}
	want = l.want(dvrTable(rewrite, drop))
	res = applyIn(t, l.host, want, opts)
	if got := strings.Join(res.Changes, "\n"); !strings.Contains(got, "nft flush+fill chain forward (2 rules) (table bridge neutrino-dvr)") {
		t.Errorf("chain not refilled:\n%s", got)
	}
	wantConverged(t, l.host, want, opts)
	if out, ok := nftListTable(t, l.hostName, "bridge", "neutrino-dvr"); ok {
		if w := `oifname "other-c" arp daddr ip 10.9.0.3 drop`; !strings.Contains(out, w) {
			t.Errorf("nft lists\n%s\nwithout %q", out, w)
		}
	}
	al, err := netlink.NewHandleAt(l.a)
	must(t, err)
	defer al.Close()
	eth0, err := al.LinkByName("eth0")
	must(t, err)
	must(t, al.NeighDel(&netlink.Neigh{LinkIndex: eth0.Attrs().Index, Family: netlink.FAMILY_V4, IP: l.ipC.AsSlice()}))
	must(t, al.NeighDel(&netlink.Neigh{LinkIndex: eth0.Attrs().Index, Family: netlink.FAMILY_V4, IP: l.ipB.AsSlice()}))
	stopB, stopC = capture(t, l.b), capture(t, l.c)
	if err := ping(l.a, l.ipC, 2); err == nil {
		t.Error("a reached c although ARP for c is dropped towards c")
	}
	must(t, ping(l.a, l.ipB, 5))
	arps := func(frames [][]byte, target netip.Addr) int {
		n := 0
		for _, f := range frames {
			if arpFor(f, target) {
				n++
			}
		}
		return n
	}
	framesB, framesC := stopB(), stopC()
	if arps(framesB, l.ipC) == 0 {
		t.Error("b did not see the ARP requests for c (dropped on the wrong port)")
	}
	if n := arps(framesC, l.ipC); n != 0 {
		t.Errorf("c saw %d ARP requests for itself", n)
	}
	if arps(framesB, l.ipB) == 0 {
		t.Errorf("b saw no ARP request for itself (%d frames, %d ARP for c)", len(framesB), arps(framesB, l.ipC))
	}

	// Without the table in the plan it goes, but only when pruning.
	applyIn(t, l.host, l.want(), Options{})
	if !hasTable(t, l.host, nftables.TableFamilyBridge, "neutrino-dvr") {
		t.Error("table deleted by an apply that may not prune")
	}
	res = applyIn(t, l.host, l.want(), opts)
	if got := strings.Join(res.Changes, "\n"); !strings.Contains(got, "nft delete table bridge neutrino-dvr") {
		t.Errorf("table not deleted:\n%s", got)
	}
	wantConverged(t, l.host, l.want(), opts)
}

// hasTable reports whether namespace ns has the table.
func hasTable(t *testing.T, ns netns.Handle, family nftables.TableFamily, name string) bool {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	must(t, err)
	defer c.CloseLasting()
	tables, err := c.ListTablesOfFamily(family)
	must(t, err)
	return slices.ContainsFunc(tables, func(tb *nftables.Table) bool { return tb.Name == name })
}

// nftListTable is `nft list table <family> <name>` in a namespace
// (ok=false: nft is not installed).
func nftListTable(t *testing.T, nsName, family, name string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Log("nft not installed: skipping the `nft list` check")
		return "", false
	}
	b, err := exec.Command("nsenter", "--net="+filepath.Join(netns.Dir, nsName), "nft", "list", "table", family, name).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table %s %s: %v\n%s", family, name, err, b)
	}
	return string(b), true
}
