package e2e_test

// TestDVR's later steps: east-west routing, agent restarts under
// traffic, a floating IP moving between computes, and the migration of
// a router between legacy and distributed.

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// dvrEastWest: demo-net2 on demo-router with demo-instance2 on compute2
// (which then gets qrouter-); demo-instance1 pings demo-instance2 every
// 100 ms for 60 s: nothing lost, no duplicate, each direction routed on
// its sender's host (the sender's qrouter- counts it on its own qr-
// device), and network1's fabric interfaces carry none of it.
func dvrEastWest(t *testing.T, d *dvrTopo, b *testbed.Bed) {
	need(t, d.vm1 != nil, "demo-instance1")
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "compute1", "compute2")
	d.net2 = b.CreateNetwork("demo-net2", "192.168.2.0/24", map[string]any{"gateway_ip": "192.168.2.1"})
	d.if2 = b.AddRouterInterface(d.r.ID, d.net2.SubnetID)
	d.vm2 = b.Boot("demo-instance2", "demo-net2", "compute2")
	waitNS(t, b, "compute2", []string{d.qrouter()}, []string{d.snat()})
	ip1, ip2 := testbed.Addr(d.vm1), testbed.Addr(d.vm2)
	if err := b.Ping("demo-instance1", ip2, 20*time.Second); err != nil {
		t.Fatalf("demo-instance1 -> demo-instance2: %v", err)
	}
	if err := b.Ping("demo-instance2", ip1, 10*time.Second); err != nil {
		t.Errorf("demo-instance2 -> demo-instance1: %v", err)
	}
	vm2TCP := b.ListenTCP("demo-instance2", "0.0.0.0:2222")
	if seen, err := b.DialTCP("demo-instance1", netip.AddrPortFrom(ip2, vm2TCP.Addr.Port()), 5*time.Second); err != nil {
		t.Errorf("demo-instance1 -> demo-instance2 over TCP: %v", err)
	} else if seen.Addr() != ip1 {
		t.Errorf("demo-instance2 saw %s, want demo-instance1's own address %s (no NAT east-west)", seen.Addr(), ip1)
	}

	qr1 := names.RouterInterface(d.if1) // demo-net's gateway device on every host
	qr2 := names.RouterInterface(d.if2)
	c1ns, c2ns := b.QRouterNS("compute1", d.r.ID), b.QRouterNS("compute2", d.r.ID)
	routed := func() (a, c uint64) {
		s1, err1 := probe.LinkStats(c1ns, qr1)
		s2, err2 := probe.LinkStats(c2ns, qr2)
		if err1 != nil || err2 != nil {
			t.Fatalf("qr- counters: %v; %v", err1, err2)
		}
		return s1.RxPackets, s2.RxPackets
	}
	q := watchNetworkNode(b)
	req0, rep0 := routed()
	const n = 600
	st := pingCount(t, b, "demo-instance1", ip2, n, 100*time.Millisecond)
	req1, rep1 := routed()
	t.Logf("ping -i 0.1 -c %d demo-instance1 -> demo-instance2: %s; %s on compute1 received %d, %s on compute2 received %d",
		n, st, qr1, req1-req0, qr2, rep1-rep0)
	q.check(t, "the east-west flow", ip1, ip2)
	if len(st.Lost) > 0 || st.Duplicates > 0 || st.SendErrors > 0 {
		t.Errorf("east-west ping: %s; want nothing lost and no DUP!", st)
	}
	if req1-req0 < uint64(st.Sent) {
		t.Errorf("compute1's %s received %d packets for %d requests: the requests were not routed on compute1", qr1, req1-req0, st.Sent)
	}
	if rep1-rep0 < uint64(st.Received) {
		t.Errorf("compute2's %s received %d packets for %d replies: the replies were not routed on compute2", qr2, rep1-rep0, st.Received)
	}
}

// dvrAgentRestart restarts compute1's and then compute2's agent while
// the internet host pings demo-instance1's floating IP and
// demo-instance1 pings demo-instance2, every 10 ms: nothing may be lost,
// each restarted agent's first apply finds the kernel as desired
// (changes=0) and it changes nothing afterwards.
func dvrAgentRestart(t *testing.T, d *dvrTopo, b *testbed.Bed) {
	need(t, d.vm1 != nil && d.vm2 != nil && d.fip.ID != "", "instances and floating IP")
	dumpOnFailure(t, b, "compute1", "compute2")
	fipStream := b.PingStream(sandbox.NodeInternet, d.fip.Addr, 10*time.Millisecond)
	ewStream := b.PingStream("demo-instance1", testbed.Addr(d.vm2), 10*time.Millisecond)
	streams := map[string]*probe.Stream{"internet -> " + d.fip.Addr.String(): fipStream, "demo-instance1 -> demo-instance2": ewStream}
	waitMore := func(n int) {
		t.Helper()
		for what, s := range streams {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := s.WaitReplies(ctx, s.Stats().Received+n)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v (%s)", what, err, s.Stats())
			}
		}
	}
	waitMore(50)
	for _, host := range []string{"compute1", "compute2"} {
		start := time.Now()
		p := b.RestartAgent(host)
		line := b.WaitInitialApply(host, 30*time.Second)
		t.Logf("%s: agent restarted (pid %d); initial apply after %s: %s", host, p.PID, time.Since(start).Round(time.Millisecond), line.Raw)
		if c, ok := line.Int("changes"); !ok || c != 0 || line.Fields["ok"] != "true" {
			t.Errorf("%s: initial apply after restart: %q, want changes=0 ok=true", host, line.Raw)
		}
		waitMore(100) // a second of traffic after the apply
		if log := b.AgentLog(host); strings.Contains(log, `msg="kernel change"`) {
			t.Errorf("%s: the restarted agent changed the kernel:\n%s", host, testbed.LastLines(log, 20))
		}
	}
	for what, s := range streams {
		st := s.Stop(2 * time.Second)
		t.Logf("%s every 10 ms across the restarts: %s", what, st)
		if len(st.Lost) > 0 || st.SendErrors > 0 || st.Duplicates > 0 {
			t.Errorf("%s across the restarts: %s; want nothing lost", what, st)
		}
	}
}

// dvrFIPMove re-associates the floating IP from demo-instance1
// (compute1) to demo-instance3 (compute3) while a UDP flow from the
// internet host keeps sending to it: the same flow (same 5-tuple) then
// reaches demo-instance3 (logged: how long after the API call), never
// demo-instance1 again (no stale conntrack or ARP path), a new TCP
// connection reaches demo-instance3, and the outbound sources follow.
func dvrFIPMove(t *testing.T, d *dvrTopo, b *testbed.Bed) {
	need(t, d.vm1 != nil && d.fip.ID != "", "demo-instance1 with its floating IP")
	dumpOnFailure(t, b, "compute1", "compute3", sandbox.NodeUpstream)
	vm3 := b.Boot("demo-instance3", "demo-net", "compute3")
	waitNS(t, b, "compute3", []string{d.qrouter()}, []string{d.snat()})
	udp1 := listenUDP(t, b, "demo-instance1", "vm1")
	listenUDP(t, b, "demo-instance3", "vm3")
	tcp1 := b.ListenTCP("demo-instance1", "0.0.0.0:2223")
	tcp3 := b.ListenTCP("demo-instance3", "0.0.0.0:2223")
	flow, err := probe.DialUDP(b.NS(sandbox.NodeInternet), netip.AddrPortFrom(d.fip.Addr, 5000))
	if err != nil {
		t.Fatal(err)
	}
	defer flow.Close()
	for i := range 5 {
		if r, err := flow.Exchange(2 * time.Second); err != nil || r.Name != "vm1" {
			t.Fatalf("UDP exchange %d before the move: %+v, %v (want vm1)", i, r, err)
		}
	}

	start := time.Now()
	b.AssociateFloatingIP(d.fip.ID, vm3.PortID)
	api := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	r, err := flow.ProbeUntil(ctx, 2*time.Millisecond, func(r probe.UDPReply) bool { return r.Name == "vm3" })
	cancel()
	if err != nil {
		t.Fatalf("the ongoing UDP flow never reached demo-instance3 after the move: %v (demo-instance1 got %d datagrams)", err, udp1.Received())
	}
	t.Logf("floating IP moved compute1 -> compute3: the ongoing UDP flow reached demo-instance3 %s after the API call (target 1s; the call took %s)",
		r.At.Sub(start).Round(time.Millisecond), api.Round(time.Millisecond))
	after := udp1.Received()
	for i := range 20 {
		if r, err := flow.Exchange(2 * time.Second); err != nil || r.Name != "vm3" {
			t.Fatalf("UDP exchange %d after the move: %+v, %v (want vm3)", i, r, err)
		}
	}
	if n := udp1.Received(); n != after {
		t.Errorf("demo-instance1 still got %d datagrams of the flow after the move", n-after)
	}
	before1, before3 := len(tcp1.Peers()), len(tcp3.Peers())
	if _, err := b.DialTCP(sandbox.NodeInternet, netip.AddrPortFrom(d.fip.Addr, 2223), 5*time.Second); err != nil {
		t.Errorf("new TCP connection to the floating IP after the move: %v", err)
	} else if len(tcp3.Peers()) != before3+1 || len(tcp1.Peers()) != before1 {
		t.Errorf("new TCP connection to the floating IP after the move did not reach demo-instance3 (vm1 %d->%d, vm3 %d->%d)",
			before1, len(tcp1.Peers()), before3, len(tcp3.Peers()))
	}
	waitNS(t, b, "compute3", []string{d.fipNS()}, nil)
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	if got := sourceSeen(t, b, srv, "demo-instance3", 10*time.Second); got != d.fip.Addr {
		t.Errorf("demo-instance3 -> internet after the move: source %s, want %s", got, d.fip.Addr)
	}
	if got := sourceSeen(t, b, srv, "demo-instance1", 10*time.Second); got != d.r.GatewayIP {
		t.Errorf("demo-instance1 -> internet after the move: source %s, want the gateway address %s", got, d.r.GatewayIP)
	}
}

func listenUDP(t *testing.T, b *testbed.Bed, node, name string) *probe.UDPServer {
	t.Helper()
	s, err := probe.ListenUDP(b.NS(node), "0.0.0.0:5000", name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dvrMigration: a legacy router carrying traffic (an instance on
// compute2 behind it reaching the internet host) is migrated by admin
// to distributed (down, distributed=true, up) and back; the traffic
// works after each migration, from the same gateway address, and the
// namespaces follow (legacy: qrouter- on network1 only; distributed:
// snat- on network1 and qrouter- on compute2).
func dvrMigration(t *testing.T, d *dvrTopo, b *testbed.Bed) {
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "compute2")
	r := b.CreateRouter("mig-router", d.ext.ID, nil)
	n := b.CreateNetwork("mig-net", "192.168.3.0/24", nil)
	b.AddRouterInterface(r.ID, n.SubnetID)
	vm := b.Boot("mig-instance", "mig-net", "compute2")
	qr, sn := names.PrefixRouter+r.ID, names.PrefixSNAT+r.ID
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	works := func(phase string) {
		t.Helper()
		if err := b.Ping(vm.Name, internetIP, 30*time.Second); err != nil {
			t.Fatalf("%s: mig-instance -> internet host: %v", phase, err)
		}
		if got := sourceSeen(t, b, srv, vm.Name, 10*time.Second); got != r.GatewayIP {
			t.Errorf("%s: mig-instance -> internet host: source %s, want the gateway address %s", phase, got, r.GatewayIP)
		}
	}
	works("legacy")
	waitNS(t, b, sandbox.NodeNetwork1, []string{qr}, []string{sn})
	waitNS(t, b, "compute2", nil, []string{qr})
	stream := b.PingStream(vm.Name, internetIP, 10*time.Millisecond)
	for _, distributed := range []bool{true, false} {
		start := time.Now()
		b.UpdateRouter(r.ID, map[string]any{"admin_state_up": false})
		b.UpdateRouter(r.ID, map[string]any{"distributed": distributed})
		b.UpdateRouter(r.ID, map[string]any{"admin_state_up": true})
		var got struct {
			Router struct {
				Distributed bool `json:"distributed"`
			} `json:"router"`
		}
		b.Do(http.MethodGet, "/v2.0/routers/"+r.ID, nil, &got)
		if got.Router.Distributed != distributed {
			t.Fatalf("router distributed %v after the migration, want %v", got.Router.Distributed, distributed)
		}
		phase := map[bool]string{true: "legacy -> distributed", false: "distributed -> legacy"}[distributed]
		works(phase)
		t.Logf("%s: traffic back %s after the first API call (ping stream so far: %s)", phase, time.Since(start).Round(time.Millisecond), stream.Stats())
		if distributed {
			waitNS(t, b, sandbox.NodeNetwork1, []string{sn, qr}, nil)
			waitNS(t, b, "compute2", []string{qr}, []string{sn})
		} else {
			waitNS(t, b, sandbox.NodeNetwork1, []string{qr}, []string{sn})
			waitNS(t, b, "compute2", nil, []string{qr})
		}
	}
	t.Logf("ping mig-instance -> internet every 10 ms across both migrations (the router is down during each): %s", stream.Stop(2*time.Second))
}
