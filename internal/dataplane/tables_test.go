package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

var (
	pfx = netip.MustParsePrefix
	ip  = netip.MustParseAddr
)

// dvrShapes is what DVR and security groups need of the kernel, in two
// agent namespaces: a veth pair between them (rfp-/fpr-) with addresses
// on both ends, an ip rule and a route in table 16, a static neighbour,
// and three nftables tables (ip, inet, bridge) in one namespace.
func dvrShapes(router, fip string) *desired.Host {
	h := &desired.Host{
		Neighs: []desired.Neigh{{Namespace: router, Dev: "rfp-t", IP: ip("169.254.106.115"), MAC: "fa:16:3e:aa:bb:cc"}},
		Namespaces: []desired.Namespace{
			{Name: router,
				Veths: []desired.Veth{{Inner: "rfp-t", Outer: "fpr-t", PeerNamespace: fip, MTU: 1400,
					Addrs: []netip.Prefix{pfx("169.254.106.114/31")}, PeerAddrs: []netip.Prefix{pfx("169.254.106.115/31")}}},
				Rules: []desired.Rule{{Priority: 32768, From: pfx("10.0.0.0/24"), Table: 16}},
				Routes: []desired.Route{
					{Table: 16, Dst: pfx("0.0.0.0/0"), Via: ip("169.254.106.115"), Dev: "rfp-t"},
					{Dst: pfx("198.51.100.0/24"), Via: ip("169.254.106.115"), Dev: "rfp-t"},
				},
				Nft: []desired.NftTable{
					{Maps: []desired.NftMap{{Name: "fip_dnat", Elements: map[netip.Addr]netip.Addr{ip("203.0.113.20"): ip("10.0.0.5"), ip("203.0.113.21"): ip("10.0.0.6")}}},
						Chains: []desired.NftChain{{Name: "prerouting", Type: "nat", Hook: "prerouting", Priority: -100, Rules: []desired.NftRule{{DNATMap: "fip_dnat"}}}}},
					{Family: desired.FamilyINet, Name: "neutrino-sg",
						Sets: []desired.NftSet{{Name: "remote", Elements: []netip.Prefix{pfx("10.0.0.0/25")}}},
						Chains: []desired.NftChain{{Name: "forward", Type: "filter", Hook: "forward", Rules: []desired.NftRule{
							{SaddrSet: "remote", TCPDport: 22, Accept: true, Comment: "ssh"}, {OifName: "qr-*", Drop: true}}}}},
					{Family: desired.FamilyBridge, Name: "neutrino-br",
						Chains: []desired.NftChain{{Name: "forward", Type: "filter", Hook: "forward", Rules: []desired.NftRule{{Daddr: pfx("169.254.169.254/32"), Drop: true}}}}},
				}},
			{Name: fip},
		},
	}
	h.Normalize()
	return h
}

func TestApplyDVRShapes(t *testing.T) {
	host, _ := hostNS(t)
	router := fmt.Sprintf("qrouter-t%d@test", os.Getpid())
	fip := fmt.Sprintf("fip-t%d@test", os.Getpid())
	for _, n := range []string{router, fip} {
		t.Cleanup(func() { netns.Delete(n) })
	}
	owns := func(n string) bool { return n == router || n == fip }
	opts := Options{Prune: true, OwnsNamespace: owns}
	want := dvrShapes(router, fip)
	res := applyIn(t, host, want, opts)
	if len(res.Changes) == 0 {
		t.Fatal("first apply changed nothing")
	}
	wantConverged(t, host, want, opts)

	r := openNS(t, router)
	rh, err := netlink.NewHandleAt(r)
	must(t, err)
	defer rh.Close()
	fh, err := netns.NetlinkAt(fip)
	must(t, err)
	defer fh.Close()
	checkShapes(t, rh, fh)

	// Behind the agent's back: an address, a route in table 16, the ip
	// rule, the neighbour, a floating IP map element and the bridge table
	// go. The next apply puts back exactly those.
	rfp, err := rh.LinkByName("rfp-t")
	must(t, err)
	t16, err := rh.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 16}, netlink.RT_FILTER_TABLE)
	must(t, err)
	must(t, rh.RouteDel(&t16[0]))
	must(t, rh.NeighDel(&netlink.Neigh{Family: netlink.FAMILY_V4, LinkIndex: rfp.Attrs().Index, IP: net.ParseIP("169.254.106.115")}))
	// (The address goes after the route: without it the kernel drops
	// the routes through 169.254.106.115, and the neighbours of the
	// device with its last address, itself.)
	a, _ := netlink.ParseAddr("169.254.106.114/31")
	must(t, rh.AddrDel(rfp, a))
	rules, err := rh.RuleList(netlink.FAMILY_V4)
	must(t, err)
	for _, r := range rules {
		if r.Priority == 32768 {
			must(t, rh.RuleDel(&r))
		}
	}
	nc, err := nftables.New(nftables.WithNetNSFd(int(r)))
	must(t, err)
	tbl := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "neutrino"}
	set, err := nc.GetSetByName(tbl, "fip_dnat")
	must(t, err)
	must(t, nc.SetDeleteElements(set, []nftables.SetElement{{Key: ip("203.0.113.21").AsSlice(), Val: ip("10.0.0.6").AsSlice()}}))
	nc.DelTable(&nftables.Table{Family: nftables.TableFamilyBridge, Name: "neutrino-br"})
	must(t, nc.Flush())

	res = applyIn(t, host, want, opts)
	got := strings.Join(res.Changes, "\n")
	for _, w := range []string{
		"add address 169.254.106.114/31 dev rfp-t in " + router,
		"route 0.0.0.0/0 via 169.254.106.115 dev rfp-t table 16 in " + router,
		"rule pref 32768 from 10.0.0.0/24 lookup 16 in " + router,
		"neigh 169.254.106.115 lladdr fa:16:3e:aa:bb:cc dev rfp-t in " + router,
		"nft add element fip_dnat 203.0.113.21 : 10.0.0.6 in " + router,
		"nft add table bridge neutrino-br in " + router,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("drift repair lacks %q; changes:\n%s", w, got)
		}
	}
	checkShapes(t, rh, fh)
	wantConverged(t, host, want, opts)

	// Taken out of the plan: rule, table-16 route, neighbour, the inet
	// and bridge tables and the pair go; an empty plan removes both.
	less := dvrShapes(router, fip)
	ns := &less.Namespaces[slices.IndexFunc(less.Namespaces, func(n desired.Namespace) bool { return n.Name == router })]
	ns.Rules, ns.Routes, ns.Veths, less.Neighs = nil, nil, nil, nil
	ns.Nft = slices.DeleteFunc(ns.Nft, func(t desired.NftTable) bool { return t.Family != "" })
	res = applyIn(t, host, less, opts)
	got = strings.Join(res.Changes, "\n")
	// The pair goes from the fip namespace's side (applied first); its
	// routes go with it.
	for _, w := range []string{"delete rule pref 32768 table 16", "nft delete table bridge neutrino-br",
		"nft delete table inet neutrino-sg", "delete veth fpr-t in " + fip} {
		if !strings.Contains(got, w) {
			t.Errorf("removal lacks %q; changes:\n%s", w, got)
		}
	}
	wantConverged(t, host, less, opts)
	if t16, _ := rh.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 16}, netlink.RT_FILTER_TABLE); len(t16) != 0 {
		t.Errorf("table 16 not empty: %v", t16)
	}
	applyIn(t, host, &desired.Host{}, opts)
	if netns.Exists(router) || netns.Exists(fip) {
		t.Error("namespaces not pruned")
	}
}

// wantConverged applies want again and expects no change.
func wantConverged(t *testing.T, host netns.Handle, want *desired.Host, opts Options) {
	t.Helper()
	if res := applyIn(t, host, want, opts); len(res.Changes) != 0 {
		t.Fatalf("apply again changed:\n%s", strings.Join(res.Changes, "\n"))
	}
}

// checkShapes reads the kernel back.
func checkShapes(t *testing.T, rh, fh *netlink.Handle) {
	t.Helper()
	fpr, err := fh.LinkByName("fpr-t")
	if err != nil {
		t.Fatalf("outer end not in the fip namespace: %v", err)
	}
	addrs, _ := fh.AddrList(fpr, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "169.254.106.115/31" {
		t.Errorf("fpr-t addresses: %v", addrs)
	}
	routes, err := rh.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 16}, netlink.RT_FILTER_TABLE)
	must(t, err)
	if len(routes) != 1 || routes[0].Gw.String() != "169.254.106.115" {
		t.Errorf("table 16: %v", routes)
	}
	rules, err := rh.RuleList(netlink.FAMILY_V4)
	must(t, err)
	if !slices.ContainsFunc(rules, func(r netlink.Rule) bool {
		return r.Priority == 32768 && r.Table == 16 && r.Src != nil && r.Src.String() == "10.0.0.0/24"
	}) {
		t.Errorf("rule missing: %v", rules)
	}
	neighs, err := rh.NeighList(0, netlink.FAMILY_V4)
	must(t, err)
	if !slices.ContainsFunc(neighs, func(n netlink.Neigh) bool {
		return n.IP.String() == "169.254.106.115" && n.HardwareAddr.String() == "fa:16:3e:aa:bb:cc" && n.State&netlink.NUD_PERMANENT != 0
	}) {
		t.Errorf("neighbour missing: %v", neighs)
	}
}

// A held namespace is neither created, changed nor pruned; the others
// are applied.
func TestApplyHoldsNamespace(t *testing.T) {
	host, _ := hostNS(t)
	held := fmt.Sprintf("qrouter-h%d@test", os.Getpid())
	other := fmt.Sprintf("qrouter-o%d@test", os.Getpid())
	for _, n := range []string{held, other} {
		t.Cleanup(func() { netns.Delete(n) })
	}
	want := &desired.Host{Namespaces: []desired.Namespace{
		{Name: held, Sysctls: []desired.Sysctl{{Key: "net/ipv4/ip_forward", Value: "1"}}},
		{Name: other},
	}}
	opts := Options{Prune: true, OwnsNamespace: func(n string) bool { return n == held || n == other },
		Hold: func(n string) bool { return n == held }}
	res := applyIn(t, host, want, opts)
	if netns.Exists(held) || !netns.Exists(other) || !res.Namespaces[held].Held || res.Namespaces[other].Held {
		t.Fatalf("held exists %v, other exists %v, results %+v", netns.Exists(held), netns.Exists(other), res.Namespaces)
	}
	// Created by a later apply, then held while out of the plan's
	// reach: still not pruned while desired.
	opts.Hold = nil
	applyIn(t, host, want, opts)
	opts.Hold = func(n string) bool { return n == held }
	applyIn(t, host, want, opts)
	if !netns.Exists(held) {
		t.Fatal("held namespace pruned")
	}
}
