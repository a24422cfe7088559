package dataplane

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

// hostNS makes a throwaway "host" namespace with an underlay interface
// holding the VTEP address and an instance tap whose other end sits in a
// second namespace.
func hostNS(t *testing.T) (host netns.Handle, hostName string) {
	hostName = testutil.NewNetNS(t, "host")
	vmName := testutil.NewNetNS(t, "vm")
	h, err := netns.Open(hostName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	vm, err := netns.Open(vmName)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0peer"}))
	eth0, _ := nl.LinkByName("eth0")
	must(nl.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.0.1.21"), Mask: net.CIDRMask(24, 32)}}))
	must(nl.LinkSetUp(eth0))
	must(nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tapvm1-port-aa"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(vm))}))
	return h, hostName
}

func sampleHost() *desired.Host {
	h := &desired.Host{
		Sysctls:     []desired.Sysctl{{Key: "net/bridge/bridge-nf-call-iptables", Value: "0"}},
		Bridges:     []desired.Bridge{{Name: "brqn1-0000000", MTU: 1450}},
		VXLANs:      []desired.VXLAN{{Name: "vxlan-101", VNI: 101, Local: netip.MustParseAddr("10.0.1.21"), Bridge: "brqn1-0000000", MTU: 1450, NeighSuppress: true}},
		BridgePorts: []desired.BridgePort{{Name: "tapvm1-port-aa", Bridge: "brqn1-0000000", MTU: 1450, PortID: "vm1-port"}, {Name: "tapmissing", Bridge: "brqn1-0000000", PortID: "gone"}},
		FDB: []desired.FDB{
			{Dev: "vxlan-101", MAC: "00:00:00:00:00:00", Dst: netip.MustParseAddr("10.0.1.22")},
			{Dev: "vxlan-101", MAC: "00:00:00:00:00:00", Dst: netip.MustParseAddr("10.0.1.11")},
			{Dev: "vxlan-101", MAC: "fa:16:3e:00:00:02", Dst: netip.MustParseAddr("10.0.1.22")},
			{Dev: "vxlan-101", MAC: "fa:16:3e:00:00:02", Master: true},
		},
		Neighs: []desired.Neigh{{Dev: "brqn1-0000000", IP: netip.MustParseAddr("10.0.0.12"), MAC: "fa:16:3e:00:00:02"}},
	}
	h.Normalize()
	return h
}

func applyIn(t *testing.T, ns netns.Handle, h *desired.Host, opts Options) *Result {
	t.Helper()
	var res *Result
	err := netns.RunIn(ns, func() error {
		var err error
		res, err = Apply(h, opts)
		return err
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func TestApplyL2Idempotent(t *testing.T) {
	ns, _ := hostNS(t)
	want := sampleHost()
	first := applyIn(t, ns, want, Options{Prune: true})
	if len(first.Changes) == 0 {
		t.Fatal("first apply changed nothing")
	}
	if !first.Plugged["vm1-port"] || first.Plugged["gone"] {
		t.Errorf("plugged = %v, want vm1-port only", first.Plugged)
	}
	second := applyIn(t, ns, want, Options{Prune: true})
	if len(second.Changes) != 0 {
		t.Errorf("second apply changed the kernel: %v", second.Changes)
	}
	nl, _ := netlink.NewHandleAt(ns)
	defer nl.Close()
	vx, err := nl.LinkByName("vxlan-101")
	if err != nil {
		t.Fatal(err)
	}
	fdb, _ := nl.NeighList(vx.Attrs().Index, 7 /* AF_BRIDGE */)
	var lines []string
	for _, n := range fdb {
		if n.IP != nil {
			lines = append(lines, n.HardwareAddr.String()+" "+n.IP.String())
		}
	}
	got := strings.Join(lines, ",")
	for _, w := range []string{"00:00:00:00:00:00 10.0.1.22", "00:00:00:00:00:00 10.0.1.11", "fa:16:3e:00:00:02 10.0.1.22"} {
		if !strings.Contains(got, w) {
			t.Errorf("fdb lacks %q: %s", w, got)
		}
	}
	// Deleted behind our back: the next apply brings it back.
	if err := nl.LinkDel(vx); err != nil {
		t.Fatal(err)
	}
	third := applyIn(t, ns, want, Options{Prune: true})
	if !strings.Contains(strings.Join(third.Changes, "\n"), "add vxlan vxlan-101") {
		t.Errorf("vxlan not recreated: %v", third.Changes)
	}
	if again := applyIn(t, ns, want, Options{Prune: true}); len(again.Changes) != 0 {
		t.Errorf("apply after repair changed the kernel: %v", again.Changes)
	}
	// A network gone: its bridge and VXLAN device are pruned, the
	// instance's tap stays (it is not ours).
	empty := &desired.Host{}
	pruned := applyIn(t, ns, empty, Options{Prune: true})
	if _, err := nl.LinkByName("brqn1-0000000"); err == nil {
		t.Errorf("bridge survived prune: %v", pruned.Changes)
	}
	if _, err := nl.LinkByName("tapvm1-port-aa"); err != nil {
		t.Errorf("prune removed the instance tap")
	}
	// Without Prune (before the first full view) nothing is deleted.
	applyIn(t, ns, want, Options{})
	applyIn(t, ns, empty, Options{})
	if _, err := nl.LinkByName("brqn1-0000000"); err != nil {
		t.Errorf("apply without prune deleted the bridge")
	}
}

func TestApplyDHCPNamespace(t *testing.T) {
	ns, hostName := hostNS(t)
	nsName := "qdhcp-n1" + "@" + hostName
	t.Cleanup(func() { netns.Delete(nsName) })
	want := sampleHost()
	want.Namespaces = []desired.Namespace{{Name: nsName, Veths: []desired.Veth{{
		Inner: "ns-dhcpport", Outer: "tapdhcpport", Bridge: "brqn1-0000000", MAC: "fa:16:3e:00:00:04", MTU: 1450,
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("169.254.169.254/32")}, PortID: "dhcp"}}}}
	owns := func(n string) bool { return n == nsName }
	res := applyIn(t, ns, want, Options{Prune: true, OwnsNamespace: owns})
	if !res.Plugged["dhcp"] {
		t.Errorf("dhcp port not plugged: %v", res.Changes)
	}
	if again := applyIn(t, ns, want, Options{Prune: true, OwnsNamespace: owns}); len(again.Changes) != 0 {
		t.Errorf("second apply changed the kernel: %v", again.Changes)
	}
	inner, h, err := netns.Netlink(nsName)
	if err != nil {
		t.Fatal(err)
	}
	l, err := inner.LinkByName("ns-dhcpport")
	if err != nil || l.Attrs().HardwareAddr.String() != "fa:16:3e:00:00:04" {
		t.Fatalf("inner link: %v %v", l, err)
	}
	inner.Close()
	h.Close()
	want.Namespaces = nil
	applyIn(t, ns, want, Options{Prune: true, OwnsNamespace: owns})
	if netns.Exists(nsName) {
		t.Error("stale dhcp namespace not pruned")
	}
}
