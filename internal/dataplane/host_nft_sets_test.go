package dataplane

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// dvrSetTable is the DVR bridge table as the planner lays it out
// (internal/agent/plan/dvrsets.go): the veth-x* ports jump to a chain
// that rewrites the source MACs in dvr-macs and drops frames to the
// MACs in gw-macs; other-c to one that drops ARP for the addresses in
// gw-ips. Each set also holds filler keys, as other routers' would.
func dvrSetTable(dvrMAC string, srcs, gwMACs, gwIPs []string) desired.NftTable {
	fill := func(keys []string, format string) []string {
		out := append([]string(nil), keys...)
		for i := range 50 {
			out = append(out, fmt.Sprintf(format, i))
		}
		return out
	}
	return desired.NftTable{Family: desired.FamilyBridge, Name: "neutrino-dvr",
		Sets: []desired.NftSet{
			{Name: "dvr-macs", Type: desired.TypeEtherAddr, Hash: true, Keys: fill(srcs, "fa:16:3e:77:00:%02x")},
			{Name: "gw-ips", Type: desired.TypeIPv4Addr, Hash: true, Keys: fill(gwIPs, "10.77.0.%d")},
			{Name: "gw-macs", Type: desired.TypeEtherAddr, Hash: true, Keys: fill(gwMACs, "fa:16:3e:78:00:%02x")},
		},
		Chains: []desired.NftChain{
			{Name: "forward", Type: "filter", Hook: "forward", Priority: -100, Rules: []desired.NftRule{
				{OifName: "veth-x*", Jump: "tunnel-0"}, {OifName: "other-c", Jump: "tunnel-1"}}},
			{Name: "tunnel-0", Rules: []desired.NftRule{
				{EtherSaddrSet: "dvr-macs", SetEtherSaddr: dvrMAC, Comment: "dvr mac"},
				{EtherDaddrSet: "gw-macs", Drop: true, Comment: "gateway macs"}}},
			{Name: "tunnel-1", Rules: []desired.NftRule{{ARPTargetSet: "gw-ips", Drop: true, Comment: "gateway arp"}}},
		}}
}

// TestHostNftBridgeDVRSets: the DVR rules as hash set lookups do what
// the single rules do (TestHostNftBridgeDVR), with real frames; a key
// added or removed is one element change and no chain is refilled; the
// kernel's sets read back equal to the wanted ones.
func TestHostNftBridgeDVRSets(t *testing.T) {
	l := newBridgeLab(t)
	dvrMAC := "fa:16:3f:00:00:42"
	macA := l.macA.String()
	opts := Options{Prune: true}
	want := l.want(dvrSetTable(dvrMAC, []string{macA}, nil, nil))
	applyIn(t, l.host, want, opts)
	wantConverged(t, l.host, want, opts)
	must(t, nft.Forget(l.host)) // read back from the kernel, not remembered
	wantConverged(t, l.host, want, opts)
	if out, ok := nftListTable(t, l.hostName, "bridge", "neutrino-dvr"); ok {
		for _, w := range []string{"ether saddr @dvr-macs ether saddr set " + dvrMAC, "ether daddr @gw-macs drop", "arp daddr ip @gw-ips drop",
			"type ether_addr", "type ipv4_addr", macA} {
			if !strings.Contains(out, w) {
				t.Errorf("nft lists\n%s\nwithout %q", out, w)
			}
		}
		if strings.Contains(out, "flags interval") {
			t.Errorf("interval sets:\n%s", out)
		}
	}

	// b sees A's packets with the DVR MAC as source; c, behind a port
	// that does not jump to the rewrite, with A's own.
	srcsAt := func(frames [][]byte) map[string]bool {
		out := map[string]bool{}
		for _, f := range frames {
			if mac, ok := ipv4From(f, l.ipA); ok {
				out[mac.String()] = true
			}
		}
		return out
	}
	stopB, stopC := capture(t, l.b), capture(t, l.c)
	must(t, ping(l.a, l.ipB, 5))
	must(t, ping(l.a, l.ipC, 5))
	if got := srcsAt(stopB()); !got[dvrMAC] || got[macA] {
		t.Errorf("b saw A's IPv4 packets from %v, want only %s", got, dvrMAC)
	}
	if got := srcsAt(stopC()); got[dvrMAC] || !got[macA] {
		t.Errorf("c saw A's IPv4 packets from %v, want only %s", got, macA)
	}

	// c's address as a gateway IP, b's MAC as a gateway MAC: two
	// element additions, nothing else.
	macB := linkMAC(t, l.b)
	want = l.want(dvrSetTable(dvrMAC, []string{macA}, []string{macB}, []string{l.ipC.String()}))
	res := applyIn(t, l.host, want, opts)
	wantLines := "nft add element gw-ips 10.9.0.3\nnft add element gw-macs " + macB
	if got := strings.Join(res.Changes, "\n"); got != wantLines {
		t.Errorf("changes:\n%s\nwant\n%s", got, wantLines)
	}
	wantConverged(t, l.host, want, opts)
	flushNeigh(t, l)
	if err := ping(l.a, l.ipC, 2); err == nil {
		t.Error("a reached c although ARP for c is dropped towards c")
	}
	if err := ping(l.a, l.ipB, 2); err == nil {
		t.Error("a reached b although frames to b's MAC are dropped towards b")
	}

	// Removed again: element deletions only, and both answer.
	want = l.want(dvrSetTable(dvrMAC, []string{macA}, nil, nil))
	res = applyIn(t, l.host, want, opts)
	for _, line := range res.Changes {
		if !strings.HasPrefix(line, "nft delete element ") {
			t.Errorf("change %q: want element deletions only", line)
		}
	}
	if len(res.Changes) != 2 {
		t.Errorf("changes:\n%s", strings.Join(res.Changes, "\n"))
	}
	flushNeigh(t, l)
	must(t, ping(l.a, l.ipC, 5))
	must(t, ping(l.a, l.ipB, 5))
	must(t, nft.Forget(l.host))
	wantConverged(t, l.host, want, opts)
}

// linkMAC is the MAC of eth0 in ns.
func linkMAC(t *testing.T, ns netns.Handle) string {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	must(t, err)
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	must(t, err)
	return eth0.Attrs().HardwareAddr.String()
}

// flushNeigh deletes a's neighbour entries for b and c.
func flushNeigh(t *testing.T, l *bridgeLab) {
	t.Helper()
	al, err := netlink.NewHandleAt(l.a)
	must(t, err)
	defer al.Close()
	eth0, err := al.LinkByName("eth0")
	must(t, err)
	for _, ip := range []netip.Addr{l.ipB, l.ipC} {
		al.NeighDel(&netlink.Neigh{LinkIndex: eth0.Attrs().Index, Family: netlink.FAMILY_V4, IP: ip.AsSlice()})
	}
}
