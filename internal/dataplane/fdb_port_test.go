package dataplane

import (
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestFDBOnBridgePort: a "master static" entry on a port that is not a
// VXLAN device (DVR pins the gateway MAC to the host's own qr- port) is
// created, left alone by the next apply and removed when no longer
// desired; learned entries on the port are the kernel's.
func TestFDBOnBridgePort(t *testing.T) {
	l := newBridgeLab(t)
	opts := Options{Prune: true}
	gwMAC := "fa:16:3e:00:00:77"
	want := l.want()
	want.FDB = []desired.FDB{{Dev: "veth-xb", MAC: gwMAC, Master: true}}
	res := applyIn(t, l.host, want, opts)
	if got := strings.Join(res.Changes, "\n"); !strings.Contains(got, "fdb add "+gwMAC+" dev veth-xb dst  master true") {
		t.Fatalf("changes:\n%s", got)
	}
	wantConverged(t, l.host, want, opts)
	// Traffic makes the bridge learn a's MAC on veth-xa: not ours.
	must(t, ping(l.a, l.ipB, 5))
	wantConverged(t, l.host, want, opts)

	hl, err := netlink.NewHandleAt(l.host)
	must(t, err)
	defer hl.Close()
	static := func() (gw, learnedA bool) {
		fdb, err := hl.NeighList(0, unix.AF_BRIDGE)
		must(t, err)
		xb, err := hl.LinkByName("veth-xb")
		must(t, err)
		for _, n := range fdb {
			switch n.HardwareAddr.String() {
			case gwMAC:
				gw = gw || (n.LinkIndex == xb.Attrs().Index && n.State&netlink.NUD_NOARP != 0 && n.Flags&netlink.NTF_SELF == 0)
			case l.macA.String():
				learnedA = true
			}
		}
		return gw, learnedA
	}
	if gw, learned := static(); !gw || !learned {
		t.Fatalf("static gateway entry %v, learned entry of a %v", gw, learned)
	}
	res = applyIn(t, l.host, l.want(), opts)
	if got := strings.Join(res.Changes, "\n"); got != "fdb del "+gwMAC+" dev veth-xb dst  master true" {
		t.Errorf("changes:\n%s", got)
	}
	if gw, learned := static(); gw || !learned {
		t.Errorf("after removal: static gateway entry %v, learned entry of a %v", gw, learned)
	}
}
