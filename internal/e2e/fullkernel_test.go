package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
)

// TestFullKernelSmoke proves the kernel features the full-kernel tier
// (internal/vmtier, docs/vmtier.md) exists for: a real 802.1Q-tagged
// frame and a real GRE-keyed frame pass between two namespaces. It
// skips on a kernel without 802.1Q or GRE (this machine's own); in the
// tier's VM (Debian's stock kernel) it runs.
func TestFullKernelSmoke(t *testing.T) {
	testbed.RequireRoot(t)
	sfx := fmt.Sprintf("%x", os.Getpid()&0xfff) + testbed.UniquePrefix()[1:4]
	if err := vlanGRESupported(t, "fkp-"+sfx); err != nil {
		t.Skipf("kernel without 802.1Q or GRE (modules 8021q, ip_gre; the full-kernel tier runs this): %v", err)
	}
	a, b := "fka-"+sfx, "fkb-"+sfx
	for _, ns := range []string{a, b} {
		if err := probe.CreateNS(ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { probe.DeleteNS(ns) })
	}
	ha, hb := nsHandle(t, a), nsHandle(t, b)
	// Underlay: a veth pair between the two namespaces.
	peerNS, err := netns.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer peerNS.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fk0"}, PeerName: "fk0", PeerNamespace: netlink.NsFd(peerNS)}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	under := func(h *netlink.Handle) int { return linkUp(t, h, "fk0", "10.199.1.%d/24", h == hb) }
	ua, ub := under(ha), under(hb)

	t.Run("vlan", func(t *testing.T) {
		for _, side := range []struct {
			h      *netlink.Handle
			parent int
			second bool
		}{{ha, ua, false}, {hb, ub, true}} {
			v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "fk0.1998", ParentIndex: side.parent}, VlanId: 1998}
			if err := side.h.LinkAdd(v); err != nil {
				t.Fatalf("vlan 1998: %v", err)
			}
			linkUp(t, side.h, "fk0.1998", "10.199.98.%d/24", side.second)
		}
		// The reply can only come back through b's fk0.1998, which takes
		// nothing but frames tagged 1998.
		pingAndCount(t, a, b, "fk0.1998", netip.MustParseAddr("10.199.98.2"))
	})

	t.Run("gretap", func(t *testing.T) {
		for _, side := range []struct {
			h             *netlink.Handle
			local, remote string
			second        bool
		}{{ha, "10.199.1.1", "10.199.1.2", false}, {hb, "10.199.1.2", "10.199.1.1", true}} {
			g := &netlink.Gretap{LinkAttrs: netlink.LinkAttrs{Name: "fkgre"}, Local: net.ParseIP(side.local), Remote: net.ParseIP(side.remote), IKey: 10, OKey: 10}
			if err := side.h.LinkAdd(g); err != nil {
				t.Fatalf("gretap key 10: %v", err)
			}
			linkUp(t, side.h, "fkgre", "10.199.10.%d/24", side.second)
		}
		pingAndCount(t, a, b, "fkgre", netip.MustParseAddr("10.199.10.2"))
		l, err := hb.LinkByName("fkgre")
		if err != nil {
			t.Fatal(err)
		}
		if g, ok := l.(*netlink.Gretap); !ok || g.IKey != 10 {
			t.Errorf("b's fkgre reads back as %#v, want a gretap with key 10", l)
		}
	})
}

// vlanGRESupported tries a VLAN on a veth and a gretap in a throwaway
// namespace.
func vlanGRESupported(t *testing.T, ns string) error {
	if err := probe.CreateNS(ns); err != nil {
		t.Fatal(err)
	}
	defer probe.DeleteNS(ns)
	h, err := probe.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fkp0"}, PeerName: "fkp1"}); err != nil {
		t.Fatalf("veth: %v", err)
	}
	p, err := h.LinkByName("fkp0")
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	if err := h.LinkAdd(&netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "fkp0.7", ParentIndex: p.Attrs().Index}, VlanId: 7}); err != nil {
		errs = append(errs, fmt.Errorf("vlan: %w", err))
	}
	if err := h.LinkAdd(&netlink.Gretap{LinkAttrs: netlink.LinkAttrs{Name: "fkpgre"}, Local: net.ParseIP("10.199.0.1"), Remote: net.ParseIP("10.199.0.2"), IKey: 1, OKey: 1}); err != nil {
		errs = append(errs, fmt.Errorf("gretap: %w", err))
	}
	return errors.Join(errs...)
}

func nsHandle(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	h, err := probe.Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// linkUp gives the named link address .1 (or .2 on the second side) of
// the format and sets it up; it returns its index.
func linkUp(t *testing.T, h *netlink.Handle, name, addrFormat string, second bool) int {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	host := 1
	if second {
		host = 2
	}
	addr, err := netlink.ParseAddr(fmt.Sprintf(addrFormat, host))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(l, addr); err != nil {
		t.Fatalf("%s: address %s: %v", name, addr, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatalf("%s up: %v", name, err)
	}
	return l.Attrs().Index
}

// pingAndCount pings dst from namespace a and checks that dev in b
// received packets (the reply proves the way back, the counter the way
// there through that device).
func pingAndCount(t *testing.T, a, b, dev string, dst netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := probe.PingUntil(ctx, a, dst, 200*time.Millisecond); err != nil {
		t.Fatalf("over %s: %v", dev, err)
	}
	h := nsHandle(t, b)
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	if s := l.Attrs().Statistics; s == nil || s.RxPackets == 0 {
		t.Errorf("%s in %s received nothing: %+v", dev, b, s)
	}
	t.Logf("ping %s from %s over %s: replied", dst, a, dev)
}
