package dataplane

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fprTable is DVR's per-router table and rule priority in the fip
// namespace: the integer of the fpr- address 169.254.106.115 (> 2^31).
const fprTable = 2852022899

// dvrLab is a DVR compute host's router: qrouter- with a qr- port on the
// lab's bridge and the rfp-/fpr- pair into fip-, whose fg- port is on
// the bridge too (b stands for the external network's gateway).
type dvrLab struct {
	*bridgeLab
	router, fip string
	fips        []netip.Addr
	neighs      int
}

func newDVRLab(t *testing.T) *dvrLab {
	l := &dvrLab{bridgeLab: newBridgeLab(t),
		router: fmt.Sprintf("qrouter-dvr%d@test", os.Getpid()), fip: fmt.Sprintf("fip-dvr%d@test", os.Getpid())}
	for _, n := range []string{l.router, l.fip} {
		t.Cleanup(func() { netns.Delete(n) })
	}
	return l
}

func (l *dvrLab) opts() Options {
	return Options{Prune: true, OwnsNamespace: func(n string) bool { return n == l.router || n == l.fip }}
}

func (l *dvrLab) want() *desired.Host {
	h := l.bridgeLab.want()
	fip := desired.Namespace{Name: l.fip,
		Veths: []desired.Veth{{Inner: "fg-abc", Outer: "tapfgabc", Bridge: labBridge, MTU: 1500, Addrs: []netip.Prefix{pfx("10.9.0.10/24")}}},
		Sysctls: []desired.Sysctl{{Key: "net/ipv4/ip_forward", Value: "1"}, {Key: "net/ipv4/conf/fg-abc/proxy_arp", Value: "1"},
			{Key: "net/ipv4/conf/all/send_redirects", Value: "0"}, {Key: "net/ipv4/conf/fpr-t/rp_filter", Value: "2"}},
		Rules:  []desired.Rule{{Priority: fprTable, IifName: "fpr-t", Table: fprTable}},
		Routes: []desired.Route{{Table: fprTable, Dst: pfx("0.0.0.0/0"), Via: l.ipB, Dev: "fg-abc"}},
	}
	for _, a := range l.fips {
		fip.Routes = append(fip.Routes, desired.Route{Dst: netip.PrefixFrom(a, 32), Via: ip("169.254.106.114"), Dev: "fpr-t"})
		fip.GARP = append(fip.GARP, desired.GARP{Dev: "fg-abc", Addr: a})
	}
	router := desired.Namespace{Name: l.router,
		Veths: []desired.Veth{
			{Inner: "rfp-t", Outer: "fpr-t", PeerNamespace: l.fip, MTU: 1450, MAC: "fa:16:3e:11:11:11",
				Addrs: []netip.Prefix{pfx("169.254.106.114/31")}, PeerAddrs: []netip.Prefix{pfx("169.254.106.115/31")}},
			{Inner: "qr-t", Outer: "tapqrt", Bridge: labBridge, MTU: 1500, Addrs: []netip.Prefix{pfx("10.20.0.1/22")}},
		},
		Sysctls: []desired.Sysctl{{Key: "net/ipv4/ip_forward", Value: "1"}, {Key: "net/ipv4/conf/all/send_redirects", Value: "0"}},
		Rules:   []desired.Rule{{Priority: 32768, From: pfx("10.20.0.5/32"), Table: 16}},
		Routes:  []desired.Route{{Table: 16, Dst: pfx("0.0.0.0/0"), Via: ip("169.254.106.115"), Dev: "rfp-t"}},
	}
	h.Namespaces = []desired.Namespace{fip, router} // fip sorts first: the pair's owner must still go first
	h.Neighs = append(h.Neighs, desired.Neigh{Namespace: l.fip, Dev: "fpr-t", IP: ip("169.254.106.114"), MAC: "fa:16:3e:11:11:11"})
	base := addrU32(ip("10.20.0.10"))
	for i := range l.neighs {
		h.Neighs = append(h.Neighs, desired.Neigh{Namespace: l.router, Dev: "qr-t", IP: u32Addr(base + uint32(i)),
			MAC: fmt.Sprintf("fa:16:3e:00:%02x:%02x", i>>8, i&0xff)})
	}
	h.Normalize()
	return h
}

// garpsFor counts the gratuitous ARPs (sender = target = addr) in frames.
func garpsFor(frames [][]byte, addr netip.Addr) int {
	n := 0
	for _, f := range frames {
		if arpFor(f, addr) && len(f) >= 32 && netip.AddrFrom4([4]byte(f[28:32])) == addr {
			n++
		}
	}
	return n
}

// waitLabPorts waits until the lab's bridge ports pass traffic: the
// bridge enables a port once the kernel's link watch has seen its
// carrier (IFF_RUNNING), which a loaded machine does late.
func waitLabPorts(t *testing.T, host netns.Handle, names ...string) {
	t.Helper()
	nl, err := netlink.NewHandleAt(host)
	must(t, err)
	defer nl.Close()
	running := func() bool {
		for _, n := range names {
			l, err := nl.LinkByName(n)
			if err != nil || l.Attrs().RawFlags&unix.IFF_RUNNING == 0 {
				return false
			}
		}
		return true
	}
	if !waitUntil(running, 10*time.Second, 10*time.Millisecond) {
		t.Fatalf("lab ports %q not running", names)
	}
}

func sysctlIn(t *testing.T, ns, key string) string {
	t.Helper()
	var v string
	must(t, netns.In(ns, func() error {
		b, err := os.ReadFile("/proc/sys/" + key)
		v = strings.TrimSpace(string(b))
		return err
	}))
	return v
}

// TestApplyDVRFloatingIP: the DVR kernel state of a compute host's
// router with a floating IP, applied in one go although the fip
// namespace sorts before the router namespace that creates the pair
// into it; announced by GARP on fg- without being an address there;
// 500 static neighbours; drift repaired and removals done.
func TestApplyDVRFloatingIP(t *testing.T) {
	old := GARPInterval
	GARPInterval = 50 * time.Millisecond
	t.Cleanup(func() { GARPInterval = old })
	l := newDVRLab(t)
	fip1, fip2 := ip("203.0.113.20"), ip("203.0.113.21")
	l.fips = []netip.Addr{fip1}
	// The lab's own bridge ports first, forwarding before the capture:
	// the GARP count is about the router's fg- port (which the product
	// waits for, garpwait.go), not about the upstream's port that a
	// production bridge has long had.
	applyIn(t, l.host, l.bridgeLab.want(), l.opts())
	waitLabPorts(t, l.host, "veth-xb")
	peek, stop := captureLive(t, l.b)
	res, err := applyErr(l.host, l.want(), l.opts())
	if err != nil {
		t.Fatalf("first apply: %v\n%s", err, strings.Join(res.Changes, "\n"))
	}
	wantConverged(t, l.host, l.want(), l.opts())
	// 3 rounds, 50 ms apart, sent in the background.
	waitFrames(peek, func(f [][]byte) bool { return garpsFor(f, fip1) >= 6 })
	if n := garpsFor(stop(), fip1); n != 6 {
		t.Errorf("%d GARP frames for %s, want 6 (3 rounds of 2)", n, fip1)
	}

	rh, err := netns.NetlinkAt(l.router)
	must(t, err)
	defer rh.Close()
	fh, err := netns.NetlinkAt(l.fip)
	must(t, err)
	defer fh.Close()
	checkDVRKernel(t, rh, fh)
	if v := sysctlIn(t, l.fip, "net/ipv4/conf/fg-abc/proxy_arp"); v != "1" {
		t.Errorf("proxy_arp on fg-abc = %s", v)
	}
	if v := sysctlIn(t, l.fip, "net/ipv4/conf/fpr-t/rp_filter"); v != "2" {
		t.Errorf("rp_filter on fpr-t (the router's pair end) = %s", v)
	}
	if v := sysctlIn(t, l.router, "net/ipv4/conf/all/send_redirects"); v != "0" {
		t.Errorf("send_redirects = %s", v)
	}
	// The upstream (b) resolves the floating IP to fg-'s MAC by proxy ARP.
	bl, err := netlink.NewHandleAt(l.b)
	must(t, err)
	defer bl.Close()
	beth, err := bl.LinkByName("eth0")
	must(t, err)
	must(t, bl.RouteAdd(&netlink.Route{LinkIndex: beth.Attrs().Index, Dst: ipNet(pfx("203.0.113.0/24"))}))
	ping(l.b, fip1, 1) // makes b resolve the floating IP; no instance answers
	fg, err := fh.LinkByName("fg-abc")
	must(t, err)
	neighs, err := bl.NeighList(beth.Attrs().Index, netlink.FAMILY_V4)
	must(t, err)
	if !slices.ContainsFunc(neighs, func(n netlink.Neigh) bool {
		return n.IP.Equal(fip1.AsSlice()) && n.HardwareAddr.String() == fg.Attrs().HardwareAddr.String()
	}) {
		t.Errorf("upstream's neighbours %v lack %s at fg-abc's %s", neighs, fip1, fg.Attrs().HardwareAddr)
	}

	// A no-op apply announces nothing; a new floating IP only itself.
	peek, stop = captureLive(t, l.b)
	wantConverged(t, l.host, l.want(), l.opts())
	l.fips = []netip.Addr{fip1, fip2}
	applyIn(t, l.host, l.want(), l.opts())
	waitFrames(peek, func(f [][]byte) bool { return garpsFor(f, fip2) >= 6 })
	time.Sleep(2 * GARPInterval) // room for a wrong announcement of fip1
	frames := stop()
	if n1, n2 := garpsFor(frames, fip1), garpsFor(frames, fip2); n1 != 0 || n2 != 6 {
		t.Errorf("GARP frames after adding %s: %d for %s (want 0), %d for it (want 6)", fip2, n1, fip1, n2)
	}

	// 500 static neighbours in the router namespace.
	l.neighs = 500
	start := time.Now()
	res = applyIn(t, l.host, l.want(), l.opts())
	took := time.Since(start)
	t.Logf("500 neighbours applied in %v", took)
	if n := countPrefix(res.Changes, "neigh 10.20."); n != 500 {
		t.Errorf("%d neighbours added in %v", n, took)
	}
	start = time.Now()
	wantConverged(t, l.host, l.want(), l.opts())
	t.Logf("no-op apply with 500 neighbours in %v", time.Since(start))

	// Drift: fg- deleted (its per-device sysctl goes with it), a stray
	// permanent neighbour on qr-t. Then half the neighbours, the second
	// floating IP and the fip namespace's rule and table leave the plan.
	must(t, fh.LinkDel(fg))
	qr, err := rh.LinkByName("qr-t")
	must(t, err)
	must(t, rh.NeighAdd(&netlink.Neigh{LinkIndex: qr.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: ip("10.20.3.1").AsSlice(), HardwareAddr: fg.Attrs().HardwareAddr}))
	res = applyIn(t, l.host, l.want(), l.opts())
	got := strings.Join(res.Changes, "\n")
	for _, w := range []string{"add veth fg-abc in " + l.fip, "sysctl net/ipv4/conf/fg-abc/proxy_arp=1 in " + l.fip, "neigh del 10.20.3.1"} {
		if !strings.Contains(got, w) {
			t.Errorf("drift repair lacks %q:\n%s", w, got)
		}
	}
	wantConverged(t, l.host, l.want(), l.opts())
	l.neighs, l.fips = 250, []netip.Addr{fip1}
	less := l.want()
	fipNS := &less.Namespaces[0]
	fipNS.Rules = nil
	fipNS.Routes = slices.DeleteFunc(fipNS.Routes, func(r desired.Route) bool { return r.Table == fprTable })
	res = applyIn(t, l.host, less, l.opts())
	got = strings.Join(res.Changes, "\n")
	if n := countPrefix(res.Changes, "neigh del 10.20."); n != 250 {
		t.Errorf("%d neighbours deleted, want 250", n)
	}
	for _, w := range []string{fmt.Sprintf("delete rule pref %d table %d in %s", fprTable, fprTable, l.fip),
		fmt.Sprintf("delete route 0.0.0.0/0 via 10.9.0.2 dev fg-abc table %d in %s", fprTable, l.fip),
		"delete route 203.0.113.21/32 via 169.254.106.114 dev fpr-t in " + l.fip} {
		if !strings.Contains(got, w) {
			t.Errorf("removal lacks %q:\n%s", w, got)
		}
	}
	wantConverged(t, l.host, less, l.opts())
	rules, err := fh.RuleList(netlink.FAMILY_V4)
	must(t, err)
	var prios []int
	for _, r := range rules {
		prios = append(prios, r.Priority)
	}
	if !slices.Equal(prios, []int{0, 32766, 32767}) {
		t.Errorf("fip namespace rules %v, want the kernel's 0, 32766, 32767", prios)
	}
}

// applyErr is applyIn that returns the error.
func applyErr(ns netns.Handle, h *desired.Host, opts Options) (*Result, error) {
	var res *Result
	err := netns.RunIn(ns, func() error {
		var err error
		res, err = Apply(h, opts)
		return err
	})
	return res, err
}

// checkDVRKernel reads the pair, the big rule and its table back.
func checkDVRKernel(t *testing.T, rh, fh *netlink.Handle) {
	t.Helper()
	for _, end := range []struct {
		h    *netlink.Handle
		name string
	}{{rh, "rfp-t"}, {fh, "fpr-t"}} {
		l, err := end.h.LinkByName(end.name)
		must(t, err)
		if l.Attrs().MTU != 1450 {
			t.Errorf("%s mtu %d, want 1450", end.name, l.Attrs().MTU)
		}
	}
	rules, err := fh.RuleList(netlink.FAMILY_V4)
	must(t, err)
	if !slices.ContainsFunc(rules, func(r netlink.Rule) bool {
		return r.Priority == fprTable && r.Table == fprTable && r.IifName == "fpr-t"
	}) {
		t.Errorf("fip namespace lacks rule %d iif fpr-t: %+v", fprTable, rules)
	}
	routes, err := fh.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: fprTable}, netlink.RT_FILTER_TABLE)
	must(t, err)
	if len(routes) != 1 || routes[0].Gw.String() != "10.9.0.2" {
		t.Errorf("table %d: %v", fprTable, routes)
	}
}

// A per-device sysctl whose device never appears is an error of its
// namespace (before, the key was skipped silently).
func TestApplySysctlMissingDevice(t *testing.T) {
	host, _ := hostNS(t)
	name := fmt.Sprintf("qrouter-sysctl%d@test", os.Getpid())
	t.Cleanup(func() { netns.Delete(name) })
	want := &desired.Host{Namespaces: []desired.Namespace{{Name: name,
		Sysctls: []desired.Sysctl{{Key: "net/ipv4/conf/nope0/proxy_arp", Value: "1"}, {Key: "net/ipv4/ip_forward", Value: "1"}}}}}
	res, err := applyErr(host, want, Options{})
	if err == nil || !strings.Contains(err.Error(), "device nope0 does not exist") || res.Namespaces[name].Err == nil {
		t.Fatalf("err = %v, namespace err = %v", err, res.Namespaces[name].Err)
	}
	if v := sysctlIn(t, name, "net/ipv4/ip_forward"); v != "1" {
		t.Errorf("ip_forward = %s", v)
	}
}
