package dataplane

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

var (
	fipAddr   = netip.MustParseAddr("203.0.113.20")
	fixedAddr = netip.MustParseAddr("10.0.0.5")
	otherAddr = netip.MustParseAddr("10.0.0.6") // no floating IP: default SNAT
	gwAddr    = netip.MustParseAddr("203.0.113.10")
	outAddr   = netip.MustParseAddr("203.0.113.1")
)

// openNS opens a named namespace for the test's duration.
func openNS(t testing.TB, name string) netns.Handle {
	t.Helper()
	h, err := netns.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// routerTable is a legacy router's table: floating IPs in maps, default
// SNAT for the router's subnets, metadata redirect.
func routerTable(qg string, fips map[netip.Addr]netip.Addr) *desired.NftTable {
	snat := map[netip.Addr]netip.Addr{}
	for f, x := range fips {
		snat[x] = f
	}
	return &desired.NftTable{
		Sets: []desired.NftSet{{Name: "snat_src", Elements: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}},
		Maps: []desired.NftMap{{Name: "fip_dnat", Elements: fips}, {Name: "fip_snat", Elements: snat}},
		Chains: []desired.NftChain{
			{Name: "prerouting", Type: "nat", Hook: "prerouting", Priority: -100, Rules: []desired.NftRule{
				{IifName: "qr-*", Daddr: netip.MustParsePrefix("169.254.169.254/32"), TCPDport: 80, RedirectTo: 9697, Comment: "metadata"},
				{DNATMap: "fip_dnat", Comment: "floating ip dnat"},
			}},
			{Name: "output", Type: "nat", Hook: "output", Priority: -100, Rules: []desired.NftRule{
				{DNATMap: "fip_dnat", Comment: "floating ip dnat (local)"},
			}},
			{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: 100, Rules: []desired.NftRule{
				{OifName: qg, SNATMap: "fip_snat", Comment: "floating ip snat"},
				{OifName: qg, SaddrSet: "snat_src", CtStateNotDNAT: true, SNATTo: gwAddr, Comment: "default snat"},
			}},
			{Name: "input", Type: "filter", Hook: "input", Priority: 0, Rules: []desired.NftRule{
				{IifName: qg, NotDaddrSet: "snat_src", TCPDport: 9697, Drop: true, Comment: "metadata proxy port"},
			}},
		},
	}
}

// nftList returns `nft list table ip neutrino` as run inside the named
// namespace, or ok=false if the nft tool is not installed.
func nftList(t *testing.T, name string) (out string, ok bool) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Log("nft not installed: skipping the `nft list` check")
		return "", false
	}
	// A missing table is an exit code; the caller checks the text.
	b, _ := exec.Command("nsenter", "--net="+filepath.Join(netns.Dir, name), "nft", "list", "table", "ip", desired.NftOwnedPrefix).CombinedOutput()
	return string(b), true
}

func nftExec(t *testing.T, name string, args ...string) bool {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		return false
	}
	b, err := exec.Command("nsenter", append([]string{"--net=" + filepath.Join(netns.Dir, name), "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %v: %v\n%s", args, err, b)
	}
	return true
}

// applyNftTable applies one table (nil: none) as the agent's only one
// in the namespace.
func applyNftTable(ns netns.Handle, want *desired.NftTable) ([]string, error) {
	var tables []desired.NftTable
	if want != nil {
		tables = []desired.NftTable{*want}
	}
	r, err := nft.Apply(ns, tables)
	return r.Lines, err
}

// u32Addr is the IPv4 address with the value u.
func u32Addr(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

// addrU32 is the value of an IPv4 address.
func addrU32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func applyNft(t testing.TB, ns netns.Handle, want *desired.NftTable) []string {
	t.Helper()
	ch, err := applyNftTable(ns, want)
	if err != nil {
		t.Fatalf("ApplyNft: %v (changes %q)", err, ch)
	}
	return ch
}

func wantNoChanges(t *testing.T, ns netns.Handle, want *desired.NftTable) {
	t.Helper()
	if ch := applyNft(t, ns, want); len(ch) != 0 {
		t.Fatalf("second apply changed: %q", ch)
	}
	// Also without the remembered state: a full read-back must agree.
	forgetNft(t, ns)
	if ch := applyNft(t, ns, want); len(ch) != 0 {
		t.Fatalf("apply after full read-back changed: %q", ch)
	}
}

// forgetNft drops the remembered state of a namespace.
func forgetNft(t testing.TB, ns netns.Handle) {
	t.Helper()
	must(t, nft.Forget(ns))
}

func TestApplyNftIdempotent(t *testing.T) {
	name := testutil.NewNetNS(t, "nft")
	ns := openNS(t, name)
	want := routerTable("qg-lab", map[netip.Addr]netip.Addr{fipAddr: fixedAddr})
	ch := applyNft(t, ns, want)
	for _, line := range []string{
		"nft add table ip neutrino",
		"nft add chain postrouting { type nat hook postrouting priority 100 }",
		"nft add map fip_dnat",
		"nft add set snat_src",
		"nft add element fip_dnat 203.0.113.20 : 10.0.0.5",
		"nft add element fip_snat 10.0.0.5 : 203.0.113.20",
		"nft add element snat_src 10.0.0.0/24",
	} {
		if !slices.Contains(ch, line) {
			t.Errorf("first apply: missing change %q in\n%s", line, strings.Join(ch, "\n"))
		}
	}
	wantNoChanges(t, ns, want)

	out, ok := nftList(t, name)
	if !ok {
		return
	}
	t.Logf("nft list table ip neutrino:\n%s", out)
	for _, s := range []string{
		"map fip_dnat {", "type ipv4_addr : ipv4_addr", "203.0.113.20 : 10.0.0.5",
		"map fip_snat {", "10.0.0.5 : 203.0.113.20",
		"set snat_src {", "flags interval", "10.0.0.0/24",
		"type nat hook prerouting priority dstnat; policy accept;",
		`iifname "qr-*" ip daddr 169.254.169.254 tcp dport 80 redirect to :9697 comment "metadata #`,
		`dnat to ip daddr map @fip_dnat comment "floating ip dnat #`,
		`oifname "qg-lab" snat to ip saddr map @fip_snat comment "floating ip snat #`,
		`oifname "qg-lab" ip saddr @snat_src ct status ! dnat snat to 203.0.113.10 comment "default snat #`,
		`iifname "qg-lab" ip daddr != @snat_src tcp dport 9697 drop`,
	} {
		if !strings.Contains(out, s) {
			t.Errorf("nft list lacks %q", s)
		}
	}
}

func TestApplyNftChainChange(t *testing.T) {
	name := testutil.NewNetNS(t, "nftch")
	ns := openNS(t, name)
	want := routerTable("qg-lab", map[netip.Addr]netip.Addr{fipAddr: fixedAddr})
	applyNft(t, ns, want)

	// Change one rule of postrouting only.
	post := &want.Chains[2]
	post.Rules = slices.Clone(post.Rules)
	post.Rules[1].SNATTo = netip.MustParseAddr("203.0.113.11")
	ch := applyNft(t, ns, want)
	if want := []string{"nft flush+fill chain postrouting (2 rules)"}; !slices.Equal(ch, want) {
		t.Fatalf("changes = %q, want %q", ch, want)
	}
	wantNoChanges(t, ns, want)
	if out, ok := nftList(t, name); ok && !strings.Contains(out, "snat to 203.0.113.11") {
		t.Errorf("nft list lacks the new rule:\n%s", out)
	}

	// A rule added behind our back makes the chain differ: refilled.
	if nftExec(t, name, "add", "rule", "ip", desired.NftOwnedPrefix, "output", "counter", "accept") {
		ch := applyNft(t, ns, want)
		if want := []string{"nft flush+fill chain output (1 rules)"}; !slices.Equal(ch, want) {
			t.Fatalf("after a foreign rule: changes = %q, want %q", ch, want)
		}
	}

	// A chain whose hook changes is recreated; a chain no longer wanted
	// is deleted.
	want.Chains[3].Priority = 10
	want.Chains = slices.Delete(want.Chains, 1, 2) // output
	ch = applyNft(t, ns, want)
	slices.Sort(ch)
	if want := []string{"nft delete chain output", "nft replace chain input { type filter hook input priority 10 }"}; !slices.Equal(ch, want) {
		t.Fatalf("changes = %q, want %q", ch, want)
	}
	wantNoChanges(t, ns, want)
}

func TestApplyNftMapDiff(t *testing.T) {
	name := testutil.NewNetNS(t, "nftmap")
	ns := openNS(t, name)
	fips := map[netip.Addr]netip.Addr{fipAddr: fixedAddr}
	want := routerTable("qg-lab", fips)
	applyNft(t, ns, want)

	second, secondFixed := netip.MustParseAddr("203.0.113.21"), netip.MustParseAddr("10.0.0.7")
	want.Maps[0].Elements[second] = secondFixed
	want.Maps[1].Elements[secondFixed] = second
	ch := applyNft(t, ns, want)
	if w := []string{"nft add element fip_dnat 203.0.113.21 : 10.0.0.7", "nft add element fip_snat 10.0.0.7 : 203.0.113.21"}; !slices.Equal(ch, w) {
		t.Fatalf("add: changes = %q, want %q", ch, w)
	}
	wantNoChanges(t, ns, want)

	// Move the floating IP to another fixed IP: delete + add of the key.
	want.Maps[0].Elements[second] = otherAddr
	delete(want.Maps[1].Elements, secondFixed)
	want.Maps[1].Elements[otherAddr] = second
	ch = applyNft(t, ns, want)
	if w := []string{
		"nft delete element fip_snat 10.0.0.7 : 203.0.113.21",
		"nft delete element fip_dnat 203.0.113.21 : 10.0.0.7",
		"nft add element fip_dnat 203.0.113.21 : 10.0.0.6",
		"nft add element fip_snat 10.0.0.6 : 203.0.113.21",
	}; !slices.Equal(ch, w) {
		t.Fatalf("move: changes = %q, want %q", ch, w)
	}
	wantNoChanges(t, ns, want)

	delete(want.Maps[0].Elements, second)
	delete(want.Maps[1].Elements, otherAddr)
	ch = applyNft(t, ns, want)
	if w := []string{"nft delete element fip_dnat 203.0.113.21 : 10.0.0.6", "nft delete element fip_snat 10.0.0.6 : 203.0.113.21"}; !slices.Equal(ch, w) {
		t.Fatalf("remove: changes = %q, want %q", ch, w)
	}
	wantNoChanges(t, ns, want)
	if out, ok := nftList(t, name); ok {
		if strings.Contains(out, "203.0.113.21") || !strings.Contains(out, "203.0.113.20 : 10.0.0.5") {
			t.Errorf("nft list after removal:\n%s", out)
		}
	}

	// An element deleted behind our back comes back.
	if nftExec(t, name, "delete", "element", "ip", desired.NftOwnedPrefix, "fip_dnat", "{ 203.0.113.20 }") {
		ch := applyNft(t, ns, want)
		if w := []string{"nft add element fip_dnat 203.0.113.20 : 10.0.0.5"}; !slices.Equal(ch, w) {
			t.Fatalf("restore: changes = %q, want %q", ch, w)
		}
	}
}

func TestApplyNftSetIntervals(t *testing.T) {
	name := testutil.NewNetNS(t, "nftset")
	ns := openNS(t, name)
	want := routerTable("qg-lab", nil)
	p := netip.MustParsePrefix
	// Overlapping and adjacent prefixes are merged; /32 and 0.0.0.0/0-like
	// edges encode without an end element.
	want.Sets[0].Elements = []netip.Prefix{p("10.0.0.0/24"), p("10.0.1.0/24"), p("10.0.0.128/25"), p("192.168.7.9/32"), p("255.255.255.0/24")}
	ch := applyNft(t, ns, want)
	for _, line := range []string{"nft add element snat_src 10.0.0.0/23", "nft add element snat_src 192.168.7.9", "nft add element snat_src 255.255.255.0/24"} {
		if !slices.Contains(ch, line) {
			t.Errorf("missing change %q in %q", line, ch)
		}
	}
	wantNoChanges(t, ns, want)

	want.Sets[0].Elements = []netip.Prefix{p("10.0.0.0/24"), p("172.16.0.0/12")}
	ch = applyNft(t, ns, want)
	slices.Sort(ch)
	w := []string{
		"nft add element snat_src 10.0.0.0/24",
		"nft add element snat_src 172.16.0.0/12",
		"nft delete element snat_src 10.0.0.0/23",
		"nft delete element snat_src 192.168.7.9",
		"nft delete element snat_src 255.255.255.0/24",
	}
	if !slices.Equal(ch, w) {
		t.Fatalf("changes = %q, want %q", ch, w)
	}
	wantNoChanges(t, ns, want)
	if out, ok := nftList(t, name); ok && !strings.Contains(out, "elements = { 10.0.0.0/24, 172.16.0.0/12 }") {
		t.Errorf("nft list:\n%s", out)
	}
}

func TestApplyNftChunked(t *testing.T) {
	name := testutil.NewNetNS(t, "nftbig")
	ns := openNS(t, name)
	fips := map[netip.Addr]netip.Addr{}
	for i := range 300 {
		fips[u32Addr(0x64400000+uint32(i))] = u32Addr(0x0a800000 + uint32(i))
	}
	want := routerTable("qg-lab", fips)
	ch := applyNft(t, ns, want)
	if n := countPrefix(ch, "nft add element fip_"); n != 600 {
		t.Fatalf("added %d elements, want 600", n)
	}
	wantNoChanges(t, ns, want)
	if got := kernelElements(t, ns, "fip_snat"); got != 300 {
		t.Fatalf("fip_snat has %d elements, want 300", got)
	}
	for k, v := range fips {
		if addrU32(k)%3 == 0 {
			delete(want.Maps[0].Elements, k)
			delete(want.Maps[1].Elements, v)
		}
	}
	ch = applyNft(t, ns, want)
	if n := countPrefix(ch, "nft delete element fip_"); n != 200 || len(ch) != 200 {
		t.Fatalf("deleted %d elements (%d changes), want 200", n, len(ch))
	}
	wantNoChanges(t, ns, want)
	if got := kernelElements(t, ns, "fip_dnat"); got != 200 {
		t.Fatalf("fip_dnat has %d elements, want 200", got)
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func kernelElements(t *testing.T, ns netns.Handle, set string) int {
	t.Helper()
	return kernelElementsTB(t, ns, set)
}

func kernelElementsTB(t testing.TB, ns netns.Handle, set string) int {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	must(t, err)
	tbl := &nftables.Table{Name: desired.NftOwnedPrefix, Family: nftables.TableFamilyIPv4}
	s, err := c.GetSetByName(tbl, set)
	must(t, err)
	// A dump of a hash set that the kernel resizes meanwhile returns some
	// elements twice (and others never): read again, as the product's
	// read-back does (nft/consistent.go).
	for range 8 {
		els, err := c.GetSetElements(s)
		must(t, err)
		keys := map[string]bool{}
		for _, e := range els {
			keys[string(e.Key)] = true
		}
		if len(keys) == len(els) {
			return len(els)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("elements of %s: every dump returned duplicates", set)
	return 0
}

func TestApplyNftDeleteTable(t *testing.T) {
	name := testutil.NewNetNS(t, "nftdel")
	ns := openNS(t, name)
	applyNft(t, ns, routerTable("qg-lab", map[netip.Addr]netip.Addr{fipAddr: fixedAddr}))
	ch := applyNft(t, ns, nil)
	if w := []string{"nft delete table ip neutrino"}; !slices.Equal(ch, w) {
		t.Fatalf("changes = %q, want %q", ch, w)
	}
	if ch := applyNft(t, ns, nil); len(ch) != 0 {
		t.Fatalf("second delete changed: %q", ch)
	}
	if out, ok := nftList(t, name); ok && !strings.Contains(out, "No such file") {
		t.Fatalf("table still listed:\n%s", out)
	}
	// Deleted behind our back: the next apply recreates everything.
	want := routerTable("qg-lab", nil)
	applyNft(t, ns, want)
	if nftExec(t, name, "delete", "table", "ip", desired.NftOwnedPrefix) {
		if ch := applyNft(t, ns, want); !slices.Contains(ch, "nft add table ip neutrino") {
			t.Fatalf("table not recreated: %q", ch)
		}
	}
}

// ---------------------------------------------------------------------
// Real packets through a legacy router.

type routerLab struct {
	client, router, outside          netns.Handle
	clientName, routerName, outsName string
	qgMAC                            net.HardwareAddr
}

// newRouterLab builds client (10.0.0.5, 10.0.0.6 /24, default via
// 10.0.0.1) — router (qr-lab 10.0.0.1/24, qg-lab 203.0.113.10/24 and the
// floating IP 203.0.113.20/32, ip_forward=1) — outside (203.0.113.1/24).
func newRouterLab(t *testing.T) *routerLab {
	t.Helper()
	l := &routerLab{
		clientName: testutil.NewNetNS(t, "cli"),
		routerName: testutil.NewNetNS(t, "qrouter"),
		outsName:   testutil.NewNetNS(t, "out"),
	}
	l.client, l.router, l.outside = openNS(t, l.clientName), openNS(t, l.routerName), openNS(t, l.outsName)
	nl := func(ns netns.Handle) *netlink.Handle {
		h, err := netlink.NewHandleAt(ns)
		must(t, err)
		t.Cleanup(h.Close)
		return h
	}
	rn, cn, on := nl(l.router), nl(l.client), nl(l.outside)
	must(t, rn.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "qr-lab"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(l.client))}))
	must(t, rn.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "qg-lab"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(l.outside))}))
	up := func(h *netlink.Handle, dev string, addrs ...string) netlink.Link {
		link, err := h.LinkByName(dev)
		must(t, err)
		for _, a := range addrs {
			addr, err := netlink.ParseAddr(a)
			must(t, err)
			must(t, h.AddrAdd(link, addr))
		}
		must(t, h.LinkSetUp(link))
		lo, err := h.LinkByName("lo")
		must(t, err)
		must(t, h.LinkSetUp(lo))
		return link
	}
	up(rn, "qr-lab", "10.0.0.1/24")
	qg := up(rn, "qg-lab", "203.0.113.10/24", "203.0.113.20/32")
	l.qgMAC = qg.Attrs().HardwareAddr
	ceth := up(cn, "eth0", "10.0.0.5/24", "10.0.0.6/24")
	up(on, "eth0", "203.0.113.1/24")
	must(t, cn.RouteAdd(&netlink.Route{LinkIndex: ceth.Attrs().Index, Gw: net.ParseIP("10.0.0.1")}))
	must(t, netns.RunIn(l.router, func() error { return netns.WriteSysctl("net/ipv4/ip_forward", "1") }))
	return l
}

// serveTCP listens on addr inside ns and answers every connection with
// the peer address it sees.
func serveTCP(t *testing.T, ns netns.Handle, addr string) {
	t.Helper()
	var ln net.Listener
	must(t, netns.RunIn(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer := c.RemoteAddr().(*net.TCPAddr).IP.String()
			fmt.Fprintf(c, "%s\n", peer)
			c.Close()
		}
	}()
}

// dialTCP connects from ns (optionally from a local address) and returns
// the peer address the server reported.
func dialTCP(ns netns.Handle, local, remote string) (string, error) {
	var c net.Conn
	err := netns.RunIn(ns, func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		var err error
		c, err = d.Dial("tcp4", remote)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// ping sends ICMP echo requests from ns to dst until one is answered.
func ping(ns netns.Handle, dst netip.Addr, tries int) error {
	var pc *icmp.PacketConn
	if err := netns.RunIn(ns, func() error {
		var err error
		pc, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return err
	}
	defer pc.Close()
	id := os.Getpid() & 0xffff
	buf := make([]byte, 1500)
	for seq := range tries {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("neutrino")}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := pc.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		pc.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				break // timeout: next try
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq && from.String() == dst.String() {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %s", dst)
}

func TestNftRouterTraffic(t *testing.T) {
	l := newRouterLab(t)
	want := routerTable("qg-lab", map[netip.Addr]netip.Addr{fipAddr: fixedAddr})
	applyNft(t, l.router, want)

	// Outside → floating IP: ping and TCP reach the instance, which sees
	// the outside's own address.
	if err := ping(l.outside, fipAddr, 3); err != nil {
		t.Fatalf("outside ping %s: %v", fipAddr, err)
	}
	serveTCP(t, l.client, "10.0.0.5:8080")
	peer, err := dialTCP(l.outside, "", "203.0.113.20:8080")
	if err != nil {
		t.Fatalf("outside → %s:8080: %v", fipAddr, err)
	}
	if peer != outAddr.String() {
		t.Errorf("instance saw %s, want %s", peer, outAddr)
	}

	// Instance → outside leaves as its floating IP; an address without a
	// floating IP leaves as the gateway IP (default SNAT).
	serveTCP(t, l.outside, "203.0.113.1:9000")
	for _, tc := range []struct{ from, want string }{{fixedAddr.String(), fipAddr.String()}, {otherAddr.String(), gwAddr.String()}} {
		peer, err := dialTCP(l.client, tc.from, "203.0.113.1:9000")
		if err != nil {
			t.Fatalf("%s → outside: %v", tc.from, err)
		}
		if peer != tc.want {
			t.Errorf("outside saw %s from %s, want %s", peer, tc.from, tc.want)
		}
	}

	// Inside the router namespace, the floating IP reaches the instance
	// too (output chain DNAT).
	if peer, err := dialTCP(l.router, "", "203.0.113.20:8080"); err != nil {
		t.Errorf("router → %s:8080: %v", fipAddr, err)
	} else {
		t.Logf("router-local connection to the floating IP seen from %s", peer)
	}

	// Disassociate: new connections to the floating IP stop, and the
	// instance leaves as the gateway IP.
	delete(want.Maps[0].Elements, fipAddr)
	delete(want.Maps[1].Elements, fixedAddr)
	if ch := applyNft(t, l.router, want); len(ch) != 2 {
		t.Fatalf("disassociate: changes %q", ch)
	}
	if _, err := dialTCP(l.outside, "", "203.0.113.20:8080"); err == nil {
		t.Fatal("connection to the floating IP still reaches the instance after its map element was removed")
	} else {
		t.Logf("after disassociation: %v", err)
	}
	if peer, err := dialTCP(l.client, fixedAddr.String(), "203.0.113.1:9000"); err != nil || peer != gwAddr.String() {
		t.Errorf("after disassociation outside saw %q (%v), want %s", peer, err, gwAddr)
	}
}

// IPv6 interval sets (remote group members with allowed address pair
// prefixes): merged like the IPv4 ones, diffed range by range, read
// back equal.
func TestApplyNftSetIntervals6(t *testing.T) {
	name := testutil.NewNetNS(t, "nftset6")
	ns := openNS(t, name)
	p := netip.MustParsePrefix
	want := &desired.NftTable{Family: desired.FamilyINet, Name: "neutrino-t6", Sets: []desired.NftSet{{Name: "m6", Type: desired.TypeIPv6Addr,
		Elements: []netip.Prefix{p("2001:db8::14/128"), p("2001:db8:1::/64"), p("2001:db8:1::5/128"), p("2001:db8::15/128")}}}}
	ch := applyNft(t, ns, want)
	slices.Sort(ch)
	if w := []string{"nft add element m6 2001:db8:1::/64", "nft add element m6 2001:db8::14/127", "nft add set m6 (table inet neutrino-t6)",
		"nft add table inet neutrino-t6"}; !slices.Equal(ch, w) {
		t.Fatalf("changes = %q, want %q", ch, w)
	}
	wantNoChanges(t, ns, want)
	want.Sets[0].Elements = []netip.Prefix{p("2001:db8::14/128"), p("ffff::/16")}
	ch = applyNft(t, ns, want)
	slices.Sort(ch)
	if w := []string{"nft add element m6 2001:db8::14", "nft add element m6 ffff::/16", "nft delete element m6 2001:db8:1::/64",
		"nft delete element m6 2001:db8::14/127"}; !slices.Equal(ch, w) {
		t.Fatalf("changes = %q, want %q", ch, w)
	}
	wantNoChanges(t, ns, want)
}
