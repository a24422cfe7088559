package dataplane

import (
	"testing"

	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

// TestDumpPortFlags reads two bridge ports' flags in one dump, as
// LinkGetProtinfo reads them one at a time.
func TestDumpPortFlags(t *testing.T) {
	ns := testutil.NewNetNS(t, "portflags")
	h, err := netns.NetlinkAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := h.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a0", "b0"} {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n, MasterIndex: br.Attrs().Index}, PeerName: n + "p"}
		if err := h.LinkAdd(v); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := h.LinkByName("a0")
	b, _ := h.LinkByName("b0")
	if err := h.LinkSetLearning(a, false); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetBrNeighSuppress(b, true); err != nil {
		t.Fatal(err)
	}
	// Isolation (GRE taps) is a bridge port flag like the others: it
	// needs no module, so it is tested here on veths.
	if err := h.LinkSetIsolated(b, true); err != nil {
		t.Fatal(err)
	}
	var got map[int]portFlags
	var want [2]netlink.Protinfo
	if err := netns.In(ns, func() error {
		var err error
		if got, err = dumpPortFlags(); err != nil {
			return err
		}
		for i, l := range []netlink.Link{a, b} {
			if want[i], err = netlink.LinkGetProtinfo(l); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, l := range []netlink.Link{a, b} {
		f, ok := got[l.Attrs().Index]
		if !ok || f.Learning != want[i].Learning || f.NeighSuppress != want[i].NeighSuppress || f.Isolated != want[i].Isolated {
			t.Errorf("%s: dumped %+v (present %v), LinkGetProtinfo learning %v neigh_suppress %v", l.Attrs().Name, f, ok, want[i].Learning, want[i].NeighSuppress)
		}
	}
	if got[a.Attrs().Index].Learning || !got[b.Attrs().Index].NeighSuppress || !got[b.Attrs().Index].Isolated || got[a.Attrs().Index].Isolated {
		t.Errorf("flags not as set: %+v", got)
	}
	if _, ok := got[br.Attrs().Index]; ok {
		t.Errorf("the bridge itself is listed as a port: %+v", got)
	}
}
