package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// churnCycles is how many times TestL3InterfaceChurn re-attaches DMZ.
const churnCycles = 50

// TestL3InterfaceChurn removes DMZ's router interface and adds it again,
// churnCycles times; after every add, traffic must flow both ways
// between DMZ and APPS (which stays attached), as `neutrino bench
// legacy` measures it: the DMZ instance's neighbour entry for its
// gateway is flushed before the add (it would name the previous
// router port), and pings start the moment the API answers. Each new
// router port has a new MAC address behind the same gateway address.
func TestL3InterfaceChurn(t *testing.T) {
	l := upLegacy(t, true)
	b := l.b
	b.MustPing("DMZ_INSTANCE", l.appsIP)
	dmzNS, appsNS := b.NS("DMZ_INSTANCE"), b.NS("APPS_INSTANCE")
	gateway := netip.MustParseAddr("10.242.0.1")
	port := l.dmzIf
	for i := range churnCycles {
		b.RemoveRouterInterface(l.r.ID, l.dmz.SubnetID)
		dev := "qr-" + port[:11]
		testbed.Eventually(t, 30*time.Second, 10*time.Millisecond, dev+" removed from "+l.ns, func() error {
			_, found, err := probe.Link(l.ns, dev)
			if err == nil && found {
				err = errors.New("still there")
			}
			return err
		})
		if err := probe.FlushNeighbour(dmzNS, "eth0", gateway); err != nil {
			t.Fatal(err)
		}
		port = b.AddRouterInterface(l.r.ID, l.dmz.SubnetID)
		// Both directions, each until the first reply. The bound is
		// generous: a healthy add answers within the instance's ARP
		// retransmission time (1 s); the stall this test guards
		// against lasted beyond 30 s.
		for _, c := range []struct {
			from, name string
			to         netip.Addr
		}{{dmzNS, "DMZ -> APPS", l.appsIP}, {appsNS, "APPS -> DMZ", l.dmzIP}} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := probe.PingUntil(ctx, c.from, c.to, 5*time.Millisecond)
			cancel()
			if err != nil {
				t.Fatalf("cycle %d: %s after add_router_interface (port %s): %v\n%s", i+1, c.name, port, err, churnState(b, l, port))
			}
		}
	}
}

// TestL3StaleGatewayAnswerCorrected: while compute2's agent lags
// (paused), DMZ's router interface is removed and added again; the DMZ
// instance on compute2 asks for its gateway and compute2's bridge, which
// answers ARP for remote ports, still tells it the old port's MAC. Once
// the agent catches up, the instance must be told the new MAC (not wait
// for its neighbour entry to expire, 15–45 s plus 5 s of delay probes),
// and traffic must flow both ways. This is the routing stall `neutrino
// bench legacy` hit now and then: its add follows the remove within
// milliseconds, and a compute agent that folded both into one apply kept
// answering with the old MAC until then.
func TestL3StaleGatewayAnswerCorrected(t *testing.T) {
	l := upLegacy(t, true)
	b := l.b
	b.MustPing("DMZ_INSTANCE", l.appsIP)
	dmzNS := b.NS("DMZ_INSTANCE")
	gateway := netip.MustParseAddr("10.242.0.1")
	oldMAC := b.Port(l.dmzIf).MAC

	p, alive, err := b.State.AgentProc("compute2")
	if err != nil || !alive {
		t.Fatalf("the agent of compute2: alive %v, %v", alive, err)
	}
	if err := syscall.Kill(p.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(p.PID, syscall.SIGCONT); err != nil {
				t.Errorf("resume the agent of compute2: %v", err)
			}
		}
	}
	t.Cleanup(resume)

	b.RemoveRouterInterface(l.r.ID, l.dmz.SubnetID)
	dev := "qr-" + l.dmzIf[:11]
	testbed.Eventually(t, 30*time.Second, 10*time.Millisecond, dev+" removed from "+l.ns, func() error {
		_, found, err := probe.Link(l.ns, dev)
		if err == nil && found {
			err = errors.New("still there")
		}
		return err
	})
	if err := probe.FlushNeighbour(dmzNS, "eth0", gateway); err != nil {
		t.Fatal(err)
	}
	port := b.AddRouterInterface(l.r.ID, l.dmz.SubnetID)
	newMAC := b.Port(port).MAC
	// The instance resolves its gateway now, from compute2's stale answer.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	probe.PingUntil(ctx, dmzNS, l.appsIP, 10*time.Millisecond)
	cancel()
	if mac := gatewayMAC(t, dmzNS, gateway); mac != oldMAC {
		t.Fatalf("setup: the instance resolved %s to %q, want the removed port's %s (compute2's stale answer)", gateway, mac, oldMAC)
	}

	resume()
	testbed.Eventually(t, 30*time.Second, 50*time.Millisecond, "compute2 answers "+gateway.String()+" with "+newMAC, func() error {
		ns, err := probe.Neighbours(b.NS("compute2"), l.dmz.Bridge())
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n.IP == gateway && n.Permanent && n.MAC == newMAC {
				return nil
			}
		}
		return fmt.Errorf("bridge entries %v", ns)
	})
	testbed.Eventually(t, 10*time.Second, 50*time.Millisecond, "the instance learns the new gateway MAC", func() error {
		if mac := gatewayMAC(t, dmzNS, gateway); mac != newMAC {
			return fmt.Errorf("%s is at %q, want %s", gateway, mac, newMAC)
		}
		return nil
	})
	b.MustPing("DMZ_INSTANCE", l.appsIP)
	b.MustPing("APPS_INSTANCE", l.dmzIP)
}

// gatewayMAC is the MAC an instance's neighbour table holds for gw ("" if
// none).
func gatewayMAC(t *testing.T, ns string, gw netip.Addr) string {
	t.Helper()
	ne, err := probe.Neighbours(ns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ne {
		if n.IP == gw {
			return n.MAC
		}
	}
	return ""
}

// churnState describes the kernel state that decides DMZ <-> APPS
// routing, for a failure message.
func churnState(b *testbed.Bed, l *legacyTopo, port string) string {
	var s string
	for _, d := range []struct{ ns, dev string }{
		{b.NS("DMZ_INSTANCE"), "eth0"}, {l.ns, "qr-" + port[:11]}, {b.NS("compute2"), l.dmz.Bridge()},
	} {
		ne, err := probe.Neighbours(d.ns, d.dev)
		s += fmt.Sprintf("neighbours of %s in %s: %v %v\n", d.dev, d.ns, ne, err)
	}
	fdb, err := probe.FDB(b.NS("compute2"), l.dmz.VXLAN())
	s += fmt.Sprintf("fdb of %s on compute2: %v %v\n", l.dmz.VXLAN(), fdb, err)
	return s
}
