package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// TestARPSuppression: compute1's bridge answers vm1's ARP request for
// vm2 (on compute2) from its permanent neighbour entry; no ARP for vm1
// or vm2 enters the tunnel. An ARP request for an address without an
// entry is flooded to the other hosts, which proves that the capture
// on compute1's underlay interface sees ARP-in-VXLAN at all.
func TestARPSuppression(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{})
	n := b.CreateNetwork("net1", "192.168.1.0/24", nil)
	vm1 := b.Boot("vm1", "net1", "compute1")
	vm2 := b.Boot("vm2", "net1", "compute2")
	ip1, ip2 := testbed.Addr(vm1), testbed.Addr(vm2)
	b.MustPing("vm1", ip2)
	compute1 := b.NS("compute1")

	// The responder's entry: vm2's address on compute1's bridge.
	testbed.Eventually(t, 10*time.Second, 100*time.Millisecond, "neighbour entry of vm2 on compute1's bridge", func() error {
		ns, err := probe.Neighbours(compute1, n.Bridge())
		if err != nil {
			return err
		}
		for _, e := range ns {
			if e.IP == ip2 && e.MAC == vm2.MAC && e.Permanent {
				return nil
			}
		}
		return fmt.Errorf("%s on compute1 has %+v, want %s lladdr %s permanent", n.Bridge(), ns, ip2, vm2.MAC)
	})

	capture, err := probe.StartCapture(compute1, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Stop()

	// An ARP request of our own from vm1 (AF_PACKET socket in vm1).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	mac, err := probe.ARPRequest(ctx, vm1.Netns, "eth0", ip2, 200*time.Millisecond)
	cancel()
	if err != nil {
		t.Fatal(err)
	} else if mac.String() != vm2.MAC {
		t.Errorf("ARP reply for %s says %s, want vm2's %s", ip2, mac, vm2.MAC)
	}
	// The kernel's own resolution: flush vm1's entry, ping once.
	if err := probe.FlushNeighbour(vm1.Netns, "eth0", ip2); err != nil {
		t.Fatal(err)
	}
	b.MustPing("vm1", ip2)
	ns, err := probe.Neighbours(vm1.Netns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	resolved := false
	for _, e := range ns {
		resolved = resolved || e.IP == ip2 && e.MAC == vm2.MAC
	}
	if !resolved {
		t.Errorf("vm1's neighbours after the ping: %+v, want %s at %s", ns, ip2, vm2.MAC)
	}

	// Control: nobody has this address, so the request is flooded.
	// IPAM picks addresses at random, so the address is chosen among
	// those no port of the network holds (every port has a permanent
	// entry on the bridge).
	nobody := unusedAddress(t, compute1, n.Bridge(), ip1, ip2)
	ctx, cancel = context.WithTimeout(context.Background(), 600*time.Millisecond)
	if mac, err := probe.ARPRequest(ctx, vm1.Netns, "eth0", nobody, 200*time.Millisecond); err == nil {
		t.Errorf("ARP for %s answered by %s", nobody, mac)
	}
	cancel()

	frames := capture.Stop()
	flooded, leaked, other := 0, 0, 0
	for _, f := range frames {
		inner, vni, ok := f.VXLANInner()
		if !ok {
			continue
		}
		op, tpa, isARP := probe.IsARP(inner)
		switch {
		case !isARP:
			other++
		case tpa == nobody && f.Outgoing && vni == n.VNI:
			flooded++
		case tpa == ip1 || tpa == ip2:
			leaked++
			t.Errorf("ARP (op %d) for %s in VXLAN %d on compute1's eth0 (outgoing %v)", op, tpa, vni, f.Outgoing)
		default:
			t.Logf("other ARP in VXLAN %d: op %d for %s", vni, op, tpa)
		}
	}
	t.Logf("compute1 eth0: %d frames, %d VXLAN non-ARP, %d flooded ARP requests for %s, %d ARP for vm1/vm2", len(frames), other, flooded, nobody, leaked)
	// Three requests were sent (every 200 ms for 600 ms), each
	// replicated to every remote VTEP of the network.
	if flooded < 2 {
		t.Errorf("the capture saw %d flooded ARP requests for %s, want at least 2", flooded, nobody)
	}
}

// unusedAddress returns an address of 192.168.1.0/24, from the top
// down, that neither the given addresses nor any neighbour entry on the
// host's bridge of the network holds.
func unusedAddress(t *testing.T, host, bridge string, taken ...netip.Addr) netip.Addr {
	t.Helper()
	entries, err := probe.Neighbours(host, bridge)
	if err != nil {
		t.Fatal(err)
	}
	used := map[netip.Addr]bool{}
	for _, a := range taken {
		used[a] = true
	}
	for _, e := range entries {
		used[e.IP] = true
	}
	for last := 250; last > 100; last-- {
		a := netip.AddrFrom4([4]byte{192, 168, 1, byte(last)})
		if !used[a] {
			return a
		}
	}
	t.Fatal("no unused address in 192.168.1.101-250")
	return netip.Addr{}
}
