package dataplane

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

// TestApplyAnnouncesChangedNeighbour: an instance behind the bridge
// learned an address's previous MAC from the bridge's ARP responder
// (the router port behind the gateway address was replaced); when the
// responder's entry changes, the apply announces the new MAC to the
// bridge's ports and the instance's neighbour entry follows.
func TestApplyAnnouncesChangedNeighbour(t *testing.T) {
	hostName, vmName := testutil.NewNetNS(t, "nann-h"), testutil.NewNetNS(t, "nann-v")
	host, vm := openNS(t, hostName), openNS(t, vmName)
	hn, err := netlink.NewHandleAt(host)
	must(t, err)
	defer hn.Close()
	vn, err := netlink.NewHandleAt(vm)
	must(t, err)
	defer vn.Close()
	must(t, hn.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "tapvm1-port-aa"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(vm))}))
	eth0, err := vn.LinkByName("eth0")
	must(t, err)
	a, _ := netlink.ParseAddr("10.0.0.5/24")
	must(t, vn.AddrAdd(eth0, a))
	must(t, vn.LinkSetUp(eth0))

	gateway := netip.MustParseAddr("10.0.0.1")
	oldMAC, newMAC := "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"
	plan := func(mac string) *desired.Host {
		h := &desired.Host{
			Bridges:     []desired.Bridge{{Name: "brqn1-0000000", MTU: 1450}},
			BridgePorts: []desired.BridgePort{{Name: "tapvm1-port-aa", Bridge: "brqn1-0000000", MTU: 1450, PortID: "vm1-port"}},
			Neighs:      []desired.Neigh{{Dev: "brqn1-0000000", IP: gateway, MAC: mac}},
		}
		h.Normalize()
		return h
	}
	applyIn(t, host, plan(oldMAC), Options{Prune: true})
	// Frames sent before the links are operational are dropped (the
	// kernel activates a device's queue asynchronously): wait for that.
	waitOperUp(t, hn, "brqn1-0000000")
	waitOperUp(t, hn, "tapvm1-port-aa")
	waitOperUp(t, vn, "eth0")

	// The instance holds the old answer, confirmed (as after the
	// responder's reply).
	old, _ := net.ParseMAC(oldMAC)
	must(t, vn.NeighSet(&netlink.Neigh{LinkIndex: eth0.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_REACHABLE,
		IP: gateway.AsSlice(), HardwareAddr: old}))

	res := applyIn(t, host, plan(newMAC), Options{Prune: true})
	if len(res.Changes) != 1 {
		t.Errorf("changes %q, want the neighbour entry only", res.Changes)
	}
	if want := (desired.Neigh{Dev: "brqn1-0000000", IP: gateway, MAC: newMAC}); len(res.NeighsSet) != 1 || res.NeighsSet[0] != want {
		t.Errorf("NeighsSet %v, want [%v]", res.NeighsSet, want)
	}
	var got net.HardwareAddr
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		neighs, err := vn.NeighList(eth0.Attrs().Index, netlink.FAMILY_V4)
		must(t, err)
		for _, n := range neighs {
			if n.IP.Equal(gateway.AsSlice()) {
				got = n.HardwareAddr
			}
		}
		if got.String() == newMAC {
			return
		}
	}
	t.Fatalf("the instance's neighbour entry for %s is %s, want the bridge's new answer %s", gateway, got, newMAC)
}

// waitOperUp waits (bounded) until dev in the handle's namespace is
// operationally up.
func waitOperUp(t *testing.T, h *netlink.Handle, dev string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		l, err := h.LinkByName(dev)
		must(t, err)
		if l.Attrs().OperState == netlink.OperUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, not up", dev, l.Attrs().OperState)
		}
	}
}
