package dataplane

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// TestApplyPrunesRouterLeftovers: a router interface, its extra route
// and, at the end, the whole namespace taken out of the plan leave
// nothing behind: no qr- pair (inside or its outer tap), no route, and
// the namespace's devices go with the namespace at once.
func TestApplyPrunesRouterLeftovers(t *testing.T) {
	ns, _ := hostNS(t)
	name := fmt.Sprintf("qrouter-prune%d@test", os.Getpid())
	t.Cleanup(func() { netns.Delete(name) })
	router := func(withDMZ, withRoute bool) *desired.Host {
		h := sampleHost()
		r := desired.Namespace{Name: name, Veths: []desired.Veth{
			{Inner: "qr-apps", Outer: "tapqrapps", Bridge: "brqn1-0000000", MTU: 1450, Addrs: []netip.Prefix{netip.MustParsePrefix("10.241.0.1/22")}},
		}}
		if withDMZ {
			r.Veths = append(r.Veths, desired.Veth{Inner: "qr-dmz", Outer: "tapqrdmz", Bridge: "brqn1-0000000", MTU: 1450,
				Addrs: []netip.Prefix{netip.MustParsePrefix("10.242.0.1/22")}})
		}
		if withRoute {
			r.Routes = []desired.Route{{Dst: netip.MustParsePrefix("192.0.2.0/24"), Via: netip.MustParseAddr("10.241.0.10"), Dev: "qr-apps"}}
		}
		h.Namespaces = append(h.Namespaces, r)
		return h
	}
	owns := func(n string) bool { return n == name }
	applyIn(t, ns, router(true, true), Options{Prune: true, OwnsNamespace: owns})
	if res := applyIn(t, ns, router(true, true), Options{Prune: true, OwnsNamespace: owns}); len(res.Changes) != 0 {
		t.Fatalf("second apply changed %q", res.Changes)
	}
	res := applyIn(t, ns, router(false, false), Options{Prune: true, OwnsNamespace: owns})
	got := strings.Join(res.Changes, "\n")
	for _, want := range []string{"delete veth qr-dmz in " + name, "delete route 192.0.2.0/24 via 10.241.0.10 dev qr-apps in " + name} {
		if !strings.Contains(got, want) {
			t.Errorf("changes lack %q:\n%s", want, got)
		}
	}
	inner, nsh, err := netns.Netlink(name)
	if err != nil {
		t.Fatal(err)
	}
	defer nsh.Close()
	defer inner.Close()
	if _, err := inner.LinkByName("qr-dmz"); err == nil {
		t.Error("qr-dmz still in the router namespace")
	}
	routes, _ := inner.RouteList(nil, netlink.FAMILY_V4)
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == "192.0.2.0/24" {
			t.Errorf("extra route still there: %v", r)
		}
	}
	outer := func(dev string) bool {
		found := false
		netns.RunIn(ns, func() error { _, err := netlink.LinkByName(dev); found = err == nil; return nil })
		return found
	}
	if outer("tapqrdmz") || !outer("tapqrapps") {
		t.Errorf("outer ends: tapqrdmz present %v (want false), tapqrapps present %v (want true)", outer("tapqrdmz"), outer("tapqrapps"))
	}
	if res := applyIn(t, ns, router(false, false), Options{Prune: true, OwnsNamespace: owns}); len(res.Changes) != 0 {
		t.Fatalf("apply after the removal changed %q", res.Changes)
	}
	// Out of the plan altogether: unplugged, then deleted.
	inner.Close()
	nsh.Close()
	res = applyIn(t, ns, sampleHost(), Options{Prune: true, OwnsNamespace: owns})
	got = strings.Join(res.Changes, "\n")
	if !strings.Contains(got, "delete veth qr-apps in "+name) || !strings.Contains(got, "delete netns "+name) {
		t.Errorf("changes:\n%s", got)
	}
	if outer("tapqrapps") {
		t.Error("tapqrapps left in the host namespace")
	}
}
