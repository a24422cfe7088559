package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

func routerNS(name, qg string, fips map[netip.Addr]netip.Addr) desired.Namespace {
	var addrs []netip.Prefix
	for f := range fips {
		addrs = append(addrs, netip.PrefixFrom(f, 32))
	}
	addrs = append(addrs, pfx("203.0.113.2/24"))
	slices.SortFunc(addrs, netip.Prefix.Compare)
	return desired.Namespace{Name: name,
		Veths: []desired.Veth{{Inner: qg, Outer: "tap" + qg[2:], Bridge: "brqext-000000", MTU: 1500, Addrs: addrs}},
		Nft:   []desired.NftTable{*routerTable(qg, fips)}}
}

func TestMemoryUnchanged(t *testing.T) {
	m := NewMemory()
	a := routerNS("qrouter-a", "qg-a", map[netip.Addr]netip.Addr{ip("203.0.113.20"): ip("10.0.0.5")})
	in := nsInput{ns: a, peers: map[string]bool{"fpr-x": true}, neighs: []desired.Neigh{{Namespace: "qrouter-a", Dev: "qr-a", IP: ip("10.0.0.9"), MAC: "fa:16:3e:00:00:09"}}}
	if m.unchanged(in) {
		t.Fatal("an empty memory says unchanged")
	}
	m.record(in, []string{"p1"}, time.Now())
	if !m.unchanged(in) {
		t.Fatal("the same input is not unchanged")
	}
	// Structural equality: a new plan of the same thing is unchanged.
	again := in
	again.ns = routerNS("qrouter-a", "qg-a", map[netip.Addr]netip.Addr{ip("203.0.113.20"): ip("10.0.0.5")})
	again.peers = map[string]bool{"fpr-x": true}
	if !m.unchanged(again) {
		t.Fatal("an equal plan built anew is not unchanged")
	}
	for what, c := range map[string]nsInput{
		"floating IP": {ns: routerNS("qrouter-a", "qg-a", map[netip.Addr]netip.Addr{ip("203.0.113.20"): ip("10.0.0.6")}), peers: in.peers, neighs: in.neighs},
		"peer":        {ns: a, peers: map[string]bool{}, neighs: in.neighs},
		"neighbour":   {ns: a, peers: in.peers},
	} {
		if m.unchanged(c) {
			t.Errorf("a changed %s is unchanged", what)
		}
	}
	m.Forget("qrouter-a")
	if m.unchanged(in) {
		t.Fatal("a forgotten namespace is unchanged")
	}
}

// TestSameListsCoversNamespace: sameLists must look at every field of
// desired.Namespace; a field added there must be added to it (and to
// the count here).
func TestSameListsCoversNamespace(t *testing.T) {
	if n := reflect.TypeFor[desired.Namespace]().NumField(); n != 7 {
		t.Fatalf("desired.Namespace has %d fields, sameLists compares 7", n)
	}
	a := routerNS("qrouter-a", "qg-a", map[netip.Addr]netip.Addr{ip("203.0.113.20"): ip("10.0.0.5")})
	if !sameLists(a, a) {
		t.Fatal("a namespace does not have its own lists")
	}
	b := a
	b.Veths = slices.Clone(a.Veths)
	if sameLists(a, b) {
		t.Fatal("a copied list counts as the same")
	}
	b = a
	b.Name = "qrouter-b"
	if sameLists(a, b) {
		t.Fatal("another name counts as the same")
	}
	b = a
	b.GARP = []desired.GARP{{Dev: "qg-a", Addr: ip("203.0.113.20")}}
	if sameLists(a, b) {
		t.Fatal("a list added counts as the same")
	}
}

func TestMemoryOldestAndKeepOnly(t *testing.T) {
	m := NewMemory()
	t0 := time.Now()
	for i, name := range []string{"c", "a", "b", "d"} {
		m.record(nsInput{ns: desired.Namespace{Name: name}}, nil, t0.Add(time.Duration(i%3)*time.Second))
	}
	// c and d at t0, a at +1 s, b at +2 s.
	if got := m.Oldest(3); !slices.Equal(got, []string{"c", "d", "a"}) {
		t.Fatalf("Oldest(3) = %v", got)
	}
	if got := m.Oldest(10); len(got) != 4 {
		t.Fatalf("Oldest(10) = %v", got)
	}
	m.keepOnly(&desired.Host{Namespaces: []desired.Namespace{{Name: "a"}, {Name: "d"}}})
	if got := m.Oldest(10); !slices.Equal(got, []string{"d", "a"}) {
		t.Fatalf("after keepOnly: %v", got)
	}
}

func TestMemoryHostInput(t *testing.T) {
	h := sampleHost()
	h.Namespaces = []desired.Namespace{routerNS("qrouter-a", "qg-a", nil)}
	m := NewMemory()
	in := hostInputOf(h, true)
	if m.hostUnchanged(h, true) {
		t.Fatal("an empty memory says the host is unchanged")
	}
	m.host = &hostMemo{in: *in}
	if !m.hostUnchanged(h, true) {
		t.Fatal("the same host is not unchanged")
	}
	// The planner changes its host lists in place: the memory has
	// copies.
	h.FDB[0].Dst = ip("10.0.1.99")
	if m.hostUnchanged(h, true) {
		t.Fatal("an FDB entry changed in place is unchanged")
	}
	h = sampleHost()
	h.Namespaces = []desired.Namespace{routerNS("qrouter-a", "qg-a", map[netip.Addr]netip.Addr{ip("203.0.113.20"): ip("10.0.0.5")})}
	if !m.hostUnchanged(h, true) {
		t.Fatal("a namespace's floating IP changes the host's parts")
	}
	h.Namespaces = append(h.Namespaces, desired.Namespace{Name: "qrouter-b"})
	if m.hostUnchanged(h, true) {
		t.Fatal("a new namespace (pruning) leaves the host's parts unchanged")
	}
	if m.hostUnchanged(sampleHost(), false) {
		t.Fatal("prune off is the same input")
	}
	h.Namespaces = h.Namespaces[:1]
	h.Nft = []desired.NftTable{*routerTable("qg-a", nil)}
	if m.hostUnchanged(h, true) {
		t.Fatal("a new host table leaves the host's parts unchanged")
	}
	// The comparison in place sees what the copy holds: a host
	// neighbour or a pair's bridge changed, not a namespace's neighbour.
	h = sampleHost()
	h.Namespaces = []desired.Namespace{routerNS("qrouter-a", "qg-a", nil)}
	h.Neighs = append(h.Neighs, desired.Neigh{Namespace: "qrouter-a", Dev: "qr-a", IP: ip("10.0.0.9"), MAC: "fa:16:3e:00:00:09"})
	if !m.hostUnchanged(h, true) {
		t.Fatal("a namespace's neighbour changes the host's parts")
	}
	h.Neighs[0].MAC = "fa:16:3e:00:00:99"
	if m.hostUnchanged(h, true) {
		t.Fatal("a host neighbour changed in place is unchanged")
	}
	h = sampleHost()
	h.Namespaces = []desired.Namespace{routerNS("qrouter-a", "qg-a", nil)}
	h.Namespaces[0].Veths[0].Bridge = "brqother-0000"
	if m.hostUnchanged(h, true) {
		t.Fatal("a pair moved to another bridge is unchanged")
	}
}

// TestNeighsByNamespace: the groups are parts of the sorted list, and
// the same as grouping by copy, also for a list not grouped.
func TestNeighsByNamespace(t *testing.T) {
	n := func(ns, addr string) desired.Neigh {
		return desired.Neigh{Namespace: ns, Dev: "d", IP: ip(addr), MAC: "fa:16:3e:00:00:01"}
	}
	for _, neighs := range [][]desired.Neigh{
		{n("", "10.0.0.1"), n("a", "10.0.0.2"), n("a", "10.0.0.3"), n("b", "10.0.0.4"), n("", "10.0.0.5")},
		{n("a", "10.0.0.2"), n("b", "10.0.0.4"), n("a", "10.0.0.3")},
		nil,
	} {
		h, orig := &desired.Host{Neighs: neighs}, slices.Clone(neighs)
		got, want := neighsByNamespace(h), neighsByNamespaceCopy(h)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: grouped %v, want %v", neighs, got, want)
		}
		for ns := range got {
			got[ns] = append(got[ns], n(ns, "10.9.9.9")) // must not write into h.Neighs
		}
		if !slices.Equal(h.Neighs, orig) {
			t.Errorf("%v: grouping wrote into the host's list", neighs)
		}
	}
}

// TestApplyIncremental applies two router namespaces with a Memory and
// checks that a floating IP change touches only its namespace, that an
// unchanged namespace is left alone even when it drifted until it is
// verified, and that Stop ends an apply between namespaces.
func TestApplyIncremental(t *testing.T) {
	host, _ := hostNS(t)
	r1 := fmt.Sprintf("qrouter-inc1-%d@test", os.Getpid())
	r2 := fmt.Sprintf("qrouter-inc2-%d@test", os.Getpid())
	for _, n := range []string{r1, r2} {
		t.Cleanup(func() { netns.Delete(n) })
	}
	owns := func(n string) bool { return n == r1 || n == r2 }
	mem := NewMemory()
	opts := Options{Prune: true, OwnsNamespace: owns, Memory: mem, Workers: 2}
	plan := func(fip1 netip.Addr) *desired.Host {
		h := sampleHost()
		h.Bridges = append(h.Bridges, desired.Bridge{Name: "brqext-000000", MTU: 1500})
		h.Namespaces = []desired.Namespace{
			routerNS(r1, "qg-inc1", map[netip.Addr]netip.Addr{fip1: ip("10.0.0.5")}),
			routerNS(r2, "qg-inc2", map[netip.Addr]netip.Addr{ip("203.0.113.30"): ip("10.0.0.5")}),
		}
		h.Normalize()
		return h
	}
	res := applyIn(t, host, plan(ip("203.0.113.20")), opts)
	if len(res.Changes) == 0 || res.HostSkipped || res.Namespaces[r1].Unchanged || res.Namespaces[r2].Unchanged {
		t.Fatalf("first apply: host skipped %v, %d changes", res.HostSkipped, len(res.Changes))
	}
	if !res.Plugged["vm1-port"] {
		t.Fatal("first apply: vm1-port not plugged")
	}

	// An unchanged plan touches nothing, not even the kernel's reads.
	res = applyIn(t, host, plan(ip("203.0.113.20")), opts)
	if len(res.Changes) != 0 || !res.HostSkipped || !res.Namespaces[r1].Unchanged || !res.Namespaces[r2].Unchanged {
		t.Fatalf("same plan: host skipped %v, changes %q", res.HostSkipped, res.Changes)
	}
	if !res.Plugged["vm1-port"] {
		t.Fatal("same plan: vm1-port no longer reported plugged")
	}

	// A floating IP moved in r1: only r1 is applied.
	res = applyIn(t, host, plan(ip("203.0.113.21")), opts)
	if res.Namespaces[r1].Unchanged || !res.Namespaces[r2].Unchanged || !res.HostSkipped {
		t.Fatalf("FIP change: r1 unchanged %v, r2 unchanged %v, host skipped %v", res.Namespaces[r1].Unchanged, res.Namespaces[r2].Unchanged, res.HostSkipped)
	}
	if len(res.Changes) == 0 {
		t.Fatal("FIP change applied nothing")
	}
	for _, c := range res.Changes {
		if !strings.Contains(c, r1) {
			t.Errorf("FIP change of %s changed %q", r1, c)
		}
	}
	t.Logf("FIP change: %d kernel changes, all in %s", len(res.Changes), r1)

	// The same with the namespaces named First (r2 unchanged, one not
	// desired): the same outcome, r1 applied before the others' pass.
	first := opts
	first.First = []string{r1, "qrouter-none", r2}
	res = applyIn(t, host, plan(ip("203.0.113.22")), first)
	if res.Namespaces[r1].Unchanged || !res.Namespaces[r2].Unchanged || !res.HostSkipped || len(res.Changes) == 0 {
		t.Fatalf("FIP change, First: r1 unchanged %v, r2 unchanged %v, host skipped %v, changes %q", res.Namespaces[r1].Unchanged, res.Namespaces[r2].Unchanged, res.HostSkipped, res.Changes)
	}
	for _, c := range res.Changes {
		if !strings.Contains(c, r1) {
			t.Errorf("FIP change of %s with First changed %q", r1, c)
		}
	}
	if !res.Plugged["vm1-port"] || len(res.Namespaces) != 2 {
		t.Fatalf("FIP change, First: plugged %v, namespaces %d", res.Plugged, len(res.Namespaces))
	}
	if res = applyIn(t, host, plan(ip("203.0.113.21")), opts); res.Namespaces[r1].Unchanged || len(res.Changes) == 0 {
		t.Fatalf("back to the first address: r1 unchanged %v, changes %q", res.Namespaces[r1].Unchanged, res.Changes)
	}

	// Drift in r2 (its floating IP address deleted behind our back) is
	// not seen by an incremental apply, and repaired by a verification.
	h2, err := netns.NetlinkAt(r2)
	must(t, err)
	defer h2.Close()
	qg, err := h2.LinkByName("qg-inc2")
	must(t, err)
	must(t, h2.AddrDel(qg, &netlink.Addr{IPNet: ipNet(pfx("203.0.113.30/32"))}))
	want := plan(ip("203.0.113.21"))
	if res = applyIn(t, host, want, opts); len(res.Changes) != 0 {
		t.Fatalf("incremental apply after drift changed %q", res.Changes)
	}
	vopts := opts
	vopts.Verify = func(name string) bool { return name == r2 }
	res = applyIn(t, host, want, vopts)
	if res.Namespaces[r2].Unchanged || !slices.ContainsFunc(res.Changes, func(c string) bool { return strings.Contains(c, "203.0.113.30/32") }) {
		t.Fatalf("verification of %s: changes %q", r2, res.Changes)
	}

	// A check of the host's parts applies them (nothing to change), and
	// is not begun while a change waits.
	hopts := opts
	hopts.VerifyHost = true
	if res = applyIn(t, host, want, hopts); res.HostSkipped || len(res.Changes) != 0 {
		t.Fatalf("host check: host skipped %v, changes %q", res.HostSkipped, res.Changes)
	}
	hopts.Yield = func() bool { return true }
	if res = applyIn(t, host, want, hopts); !res.HostSkipped || len(res.Changes) != 0 {
		t.Fatalf("host check with a change waiting: host skipped %v, changes %q", res.HostSkipped, res.Changes)
	}

	// Stop before the first namespace: both deferred, ErrStopped, and
	// the next apply does them.
	sopts := opts
	sopts.Stop = func() bool { return true }
	res, err = applyErr(host, plan(ip("203.0.113.22")), sopts)
	if !errors.Is(err, ErrStopped) || !res.Stopped || !res.Namespaces[r1].Deferred {
		t.Fatalf("stopped apply: err %v, stopped %v, r1 deferred %v", err, res.Stopped, res.Namespaces[r1].Deferred)
	}
	res = applyIn(t, host, plan(ip("203.0.113.22")), opts)
	if res.Namespaces[r1].Unchanged || len(res.Changes) == 0 {
		t.Fatalf("apply after a stop: r1 unchanged %v, changes %q", res.Namespaces[r1].Unchanged, res.Changes)
	}
	wantConverged(t, host, plan(ip("203.0.113.22")), Options{Prune: true, OwnsNamespace: owns})
}

// TestToAnnounceAfterRestart: the first apply of a namespace that
// existed announces what it added and what is on no device, not the
// addresses already in place; a created namespace announces everything.
func TestToAnnounceAfterRestart(t *testing.T) {
	name := fmt.Sprintf("qrouter-announce-%d", os.Getpid())
	t.Cleanup(func() { forgetAnnounced(name) })
	onQG := desired.GARP{Dev: "qg-a", Addr: ip("203.0.113.20")}
	added := desired.GARP{Dev: "qg-a", Addr: ip("203.0.113.21")}
	proxy := desired.GARP{Dev: "fg-a", Addr: ip("203.0.113.22")}
	ns := desired.Namespace{Name: name, GARP: []desired.GARP{onQG, added, proxy},
		Veths: []desired.Veth{{Inner: "qg-a", Addrs: []netip.Prefix{pfx("203.0.113.20/32"), pfx("203.0.113.21/32")}}}}
	got := toAnnounce(ns, &NamespaceResult{Added: []netip.Prefix{pfx("203.0.113.21/32")}}, true)
	if !slices.Equal(got, []desired.GARP{added, proxy}) {
		t.Fatalf("first apply after a restart announces %v, want %v", got, []desired.GARP{added, proxy})
	}
	if got := toAnnounce(ns, &NamespaceResult{}, true); len(got) != 0 {
		t.Fatalf("an unchanged namespace announces %v", got)
	}
	forgetAnnounced(name)
	if got := toAnnounce(ns, &NamespaceResult{Created: true}, true); len(got) != 3 {
		t.Fatalf("a created namespace announces %v, want all 3", got)
	}
}
