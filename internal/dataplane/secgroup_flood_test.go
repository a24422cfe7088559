package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

// vxlanARPs counts ARP requests for target carried in VXLAN among
// underlay frames.
func vxlanARPs(frames [][]byte, target netip.Addr) int {
	n := 0
	for _, f := range frames {
		// Ethernet 14, IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14, ARP.
		const inner = 14 + 20 + 8 + 8
		if len(f) < inner+14+28 || f[23] != 17 || binary.BigEndian.Uint16(f[36:38]) != 4789 {
			continue
		}
		arp := f[inner+14:]
		if binary.BigEndian.Uint16(f[inner+12:inner+14]) == 0x0806 && netip.AddrFrom4([4]byte(arp[24:28])) == target {
			n++
		}
	}
	return n
}

// A filtered instance's ARP request for an address nobody answers
// locally is flooded into the tunnel (head-end replication), with the
// bridge's ARP suppression on the VXLAN port, as without filtering.
func TestSecGroupARPFloodsToTunnel(t *testing.T) {
	l := newSGLab(t)
	remote := openNS(t, testutil.NewNetNS(t, "sgremote"))
	hl, err := netlink.NewHandleAt(l.host)
	must(t, err)
	defer hl.Close()
	must(t, hl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ul0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(remote))}))
	ul0, err := hl.LinkByName("ul0")
	must(t, err)
	must(t, hl.AddrAdd(ul0, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("10.99.0.1/24"))}))
	must(t, hl.LinkSetUp(ul0))
	rl, err := netlink.NewHandleAt(remote)
	must(t, err)
	defer rl.Close()
	eth0, err := rl.LinkByName("eth0")
	must(t, err)
	must(t, rl.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("10.99.0.2/24"))}))
	must(t, rl.LinkSetUp(eth0))

	for _, filtered := range []bool{false, true} {
		l.snap.Ports["a"].PortSecurityEnabled = filtered
		want := l.want()
		want.VXLANs = []desired.VXLAN{{Name: "vxlan-77", VNI: 77, Local: netip.MustParseAddr("10.99.0.1"), Bridge: sgBridge, MTU: 1450, NeighSuppress: true}}
		want.FDB = []desired.FDB{{Dev: "vxlan-77", MAC: "00:00:00:00:00:00", Dst: netip.MustParseAddr("10.99.0.2")}}
		want.Normalize()
		applyIn(t, l.host, want, Options{Prune: true})
		// Frames sent before the links are operational are dropped
		// (the kernel activates a device's queue asynchronously).
		waitOperUp(t, hl, "ul0")
		waitOperUp(t, rl, "eth0")
		nobody := netip.MustParseAddr("10.9.1.250")
		// A few tries: on a loaded machine one round of requests may
		// go out before the capture socket is reading.
		seen := 0
		for try := 0; try < 3 && seen == 0; try++ {
			stop := capture(t, remote)
			pingFrom(l.vm["a"], "0.0.0.0", nobody.String(), 2)
			seen = vxlanARPs(stop(), nobody)
		}
		if seen == 0 {
			t.Errorf("filtered %v: no ARP request for %s in the tunnel", filtered, nobody)
		}
	}
}
