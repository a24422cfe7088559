package dataplane

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// withEastWestNotrack adds a legacy router's east-west notrack (the shape
// internal/agent/plan/l3 renders) to t, with nets as the router's
// "internal" subnets and own as its addresses on them.
func withEastWestNotrack(t *desired.NftTable, nets, own []netip.Prefix) *desired.NftTable {
	t.Sets = append(t.Sets, desired.NftSet{Name: "internal_nets", Elements: nets}, desired.NftSet{Name: "router_ips", Elements: own})
	t.Chains = append(t.Chains, desired.NftChain{Name: "raw", Type: "filter", Hook: "prerouting", Priority: -300, Rules: []desired.NftRule{{
		IifName: "qr-*", SaddrSet: "internal_nets", DaddrSet: "internal_nets", NotDaddrSet: "router_ips",
		Notrack: true, Comment: "east-west is not tracked"}}})
	return t
}

// The notrack rule reaches the kernel as written, reads back equal, and
// does what the router relies on: a connection between two "internal"
// subnets skips conntrack and so the NAT chains (the default SNAT would
// otherwise rewrite it), while a connection to any other address is
// still tracked and translated.
func TestNftRouterNotrack(t *testing.T) {
	l := newRouterLab(t)
	// The outside namespace also plays a second internal subnet,
	// 198.51.100.0/24, behind qg-lab.
	on, err := netlink.NewHandleAt(l.outside)
	must(t, err)
	defer on.Close()
	rn, err := netlink.NewHandleAt(l.router)
	must(t, err)
	defer rn.Close()
	oeth, err := on.LinkByName("eth0")
	must(t, err)
	addr, err := netlink.ParseAddr("198.51.100.1/24")
	must(t, err)
	must(t, on.AddrAdd(oeth, addr))
	must(t, on.RouteAdd(&netlink.Route{LinkIndex: oeth.Attrs().Index, Dst: &net.IPNet{IP: net.IPv4(10, 0, 0, 0), Mask: net.CIDRMask(24, 32)}, Gw: net.ParseIP("203.0.113.10")}))
	qg, err := rn.LinkByName("qg-lab")
	must(t, err)
	must(t, rn.RouteAdd(&netlink.Route{LinkIndex: qg.Attrs().Index, Dst: &net.IPNet{IP: net.IPv4(198, 51, 100, 0), Mask: net.CIDRMask(24, 32)}, Gw: net.ParseIP("203.0.113.1")}))
	serveTCP(t, l.outside, "0.0.0.0:9000")

	// Without the rule: the default SNAT rewrites the client's address.
	base := routerTable("qg-lab", map[netip.Addr]netip.Addr{})
	applyNft(t, l.router, base)
	if peer, err := dialTCP(l.client, fixedAddr.String(), "198.51.100.1:9000"); err != nil || peer != gwAddr.String() {
		t.Fatalf("before notrack: outside saw %q (%v), want the gateway %s", peer, err, gwAddr)
	}

	want := withEastWestNotrack(routerTable("qg-lab", map[netip.Addr]netip.Addr{}),
		[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("198.51.100.0/24")},
		[]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")})
	applyNft(t, l.router, want)
	wantNoChanges(t, l.router, want)
	if out, ok := nftList(t, l.routerName); ok {
		t.Logf("nft list table ip neutrino:\n%s", out)
		for _, s := range []string{
			"type filter hook prerouting priority raw; policy accept;",
			`iifname "qr-*" ip saddr @internal_nets ip daddr @internal_nets ip daddr != @router_ips notrack comment "east-west is not tracked #`,
		} {
			if !strings.Contains(out, s) {
				t.Errorf("nft list lacks %q", s)
			}
		}
	}

	// Between the two subnets: not tracked, so not translated.
	if peer, err := dialTCP(l.client, fixedAddr.String(), "198.51.100.1:9000"); err != nil || peer != fixedAddr.String() {
		t.Errorf("east-west: outside saw %q (%v), want the client's own %s", peer, err, fixedAddr)
	}
	// Anywhere else: tracked and SNATed as before.
	if peer, err := dialTCP(l.client, fixedAddr.String(), "203.0.113.1:9000"); err != nil || peer != gwAddr.String() {
		t.Errorf("to the outside: outside saw %q (%v), want the gateway %s", peer, err, gwAddr)
	}
	if n := conntrackCount(t, l.router); n == 0 {
		t.Error("no conntrack entry at all in the router: the tracked connection should have one")
	}
}

// conntrackCount reads the namespace's conntrack entry count.
func conntrackCount(t *testing.T, ns netns.Handle) int {
	t.Helper()
	var n int
	must(t, netns.RunIn(ns, func() error {
		// /proc/sys/net is the namespace of the thread that opens it.
		b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_count")
		if err != nil {
			return err
		}
		n, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	}))
	return n
}
