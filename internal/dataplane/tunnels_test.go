package dataplane

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tunnelHost: sampleHost plus a VLAN network (eth1.1998 in its bridge)
// and a GRE network with taps towards two remote hosts (key 10).
func tunnelHost(withSecond bool) *desired.Host {
	h := sampleHost()
	local := netip.MustParseAddr("10.0.1.21")
	h.Bridges = append(h.Bridges, desired.Bridge{Name: "brqvlan-000000", MTU: 1500}, desired.Bridge{Name: "brqgre-0000000", MTU: 1458})
	h.VLANs = []desired.VLAN{{Name: "eth1.1998", Parent: "eth1", VID: 1998, Bridge: "brqvlan-000000", MTU: 1500}}
	h.GRETaps = []desired.GRETap{{Name: "gre-00000000001", GREKey: 10, Local: local, Remote: netip.MustParseAddr("10.0.1.22"),
		Bridge: "brqgre-0000000", MTU: 1458, NeighSuppress: true}}
	h.FDB = append(h.FDB, desired.FDB{Dev: "gre-00000000001", MAC: "fa:16:3e:00:02:02", Master: true})
	if withSecond {
		h.GRETaps = append(h.GRETaps, desired.GRETap{Name: "gre-00000000002", GREKey: 10, Local: local, Remote: netip.MustParseAddr("10.0.1.11"),
			Bridge: "brqgre-0000000", MTU: 1458, NeighSuppress: true})
		h.FDB = append(h.FDB, desired.FDB{Dev: "gre-00000000002", MAC: "fa:16:3e:00:02:04", Master: true})
	}
	h.Normalize()
	return h
}

// A VLAN sub-interface and GRE taps are made with the planned id, keys,
// addresses, bridge and port flags (learning off, isolated), converge
// (a second apply changes nothing), and are pruned when the plan drops
// them, while a VLAN device the agent did not put in its bridges stays.
// Needs a kernel with 8021q and ip_gre (the VM tier); skips here.
func TestApplyVLANAndGRE(t *testing.T) {
	testutil.RequireKernel(t, "vlan", "gretap")
	ns, _ := hostNS(t)
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	if err := nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1"}, PeerName: "eth1peer"}); err != nil {
		t.Fatal(err)
	}
	eth1, _ := nl.LinkByName("eth1")
	// The operator's own VLAN on the same interface: never the agent's.
	if err := nl.LinkAdd(&netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "eth1.7", ParentIndex: eth1.Attrs().Index}, VlanId: 7}); err != nil {
		t.Fatal(err)
	}
	applyIn(t, ns, tunnelHost(true), Options{Prune: true})
	if res := applyIn(t, ns, tunnelHost(true), Options{Prune: true}); len(res.Changes) != 0 {
		t.Errorf("second apply changed the kernel: %v", res.Changes)
	}
	brVLAN, _ := nl.LinkByName("brqvlan-000000")
	brGRE, _ := nl.LinkByName("brqgre-0000000")
	l, err := nl.LinkByName("eth1.1998")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := l.(*netlink.Vlan); !ok || v.VlanId != 1998 || v.ParentIndex != eth1.Attrs().Index || v.MasterIndex != brVLAN.Attrs().Index || v.MTU != 1500 {
		t.Errorf("eth1.1998: %+v", l)
	}
	for _, name := range []string{"gre-00000000001", "gre-00000000002"} {
		l, err := nl.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		g, ok := l.(*netlink.Gretap)
		if !ok || g.IKey != 10 || g.OKey != 10 || g.Local.String() != "10.0.1.21" || g.MasterIndex != brGRE.Attrs().Index || g.MTU != 1458 {
			t.Errorf("%s: %+v", name, l)
		}
		pi, err := nl.LinkGetProtinfo(l)
		if err != nil {
			t.Fatal(err)
		}
		if pi.Learning || !pi.Isolated || !pi.NeighSuppress {
			t.Errorf("%s port flags: %s", name, pi.String())
		}
	}
	fdb, _ := nl.NeighList(0, unix.AF_BRIDGE)
	if !slices.ContainsFunc(fdb, func(n netlink.Neigh) bool { return n.HardwareAddr.String() == "fa:16:3e:00:02:04" }) {
		t.Error("no static FDB entry for fa:16:3e:00:02:04")
	}
	// Drop the second remote host and the VLAN network.
	h := tunnelHost(false)
	h.VLANs = nil
	h.Bridges = slices.DeleteFunc(h.Bridges, func(b desired.Bridge) bool { return b.Name == "brqvlan-000000" })
	res := applyIn(t, ns, h, Options{Prune: true})
	got := strings.Join(res.Changes, "\n")
	for _, want := range []string{"delete link gre-00000000002", "delete link eth1.1998", "delete link brqvlan-000000"} {
		if !strings.Contains(got, want) {
			t.Errorf("changes lack %q:\n%s", want, got)
		}
	}
	for _, name := range []string{"gre-00000000001", "eth1.7", "eth1"} {
		if _, err := nl.LinkByName(name); err != nil {
			t.Errorf("%s went: %v", name, err)
		}
	}
}
