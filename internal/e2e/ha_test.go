package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// haInterval is the ping interval of the HA tests (the 100 ms).
const haInterval = 100 * time.Millisecond

// haTopo is an HA router on network1 and network2 with one instance on
// compute1.
type haTopo struct {
	ext    testbed.ExternalNetwork
	r      testbed.Router
	net    testbed.Network
	vm     string
	target netip.Addr // what vm's traffic reaches
	from   string     // where the ping stream runs
}

// setupHA builds the topology: distributed decides DVR-HA or legacy HA.
func setupHA(t *testing.T, b *testbed.Bed, distributed bool) *haTopo {
	d := &haTopo{vm: "ha-vm1"}
	d.ext = b.CreateExternalNetwork("ext-net", "203.0.113.0/24", "203.0.113.1", "203.0.113.101", "203.0.113.200")
	d.r = b.CreateRouter("ha-router", d.ext.ID, map[string]any{"distributed": distributed, "ha": true})
	d.net = b.CreateNetwork("ha-net", "192.168.1.0/24", map[string]any{"gateway_ip": "192.168.1.1"})
	b.AddRouterInterface(d.r.ID, d.net.SubnetID)
	b.AddIngressRules()
	in := b.Boot(d.vm, "ha-net", "compute1")
	d.from, d.target = d.vm, internetIP
	if !distributed {
		// Legacy: traffic from the external network to a floating IP.
		fip := b.CreateFloatingIP(d.ext.ID, in.PortID, nil)
		d.from, d.target = sandbox.NodeInternet, fip.Addr
	}
	if err := b.Ping(d.from, d.target, 60*time.Second); err != nil {
		t.Fatalf("%s -> %s before any failure: %v", d.from, d.target, err)
	}
	// Let the hosts finish what the instance's boot started (the first
	// answers of a new path are not what these tests measure).
	time.Sleep(2 * time.Second)
	return d
}

// TestHADVR: an HA distributed router on two network nodes. The active
// node fails under a 100 ms ping stream from an instance without a
// floating IP to the internet host: traffic resumes through the other
// node (the gap is logged), the API reports it active; the failed node
// comes back as standby without loss; a partition of the active node's
// agent from the server loses nothing and never makes the standby
// answer ARP for the gateway address; disabling the active node's agent
// moves the router back with one handover (the gap is logged).
func TestHADVR(t *testing.T) { runHA(t, true) }

// TestHALegacy: the same with a legacy HA router, and traffic from the
// external network to an instance's floating IP.
func TestHALegacy(t *testing.T) { runHA(t, false) }

func runHA(t *testing.T, distributed bool) {
	b := testbed.Up(t, 1, testbed.Options{Quiet: true, NetworkNodes: 2})
	d := setupHA(t, b, distributed)
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "network2")
	active, standby := b.ActiveHost(d.r.ID, 2)
	t.Logf("router %s: active on %s, standby on %s", d.r.ID, active, standby[0])
	// Who answers ARP for the router's external addresses, for the
	// whole test: the upstream asks every 200 ms, both network nodes'
	// external interfaces are captured.
	addrs := []netip.Addr{d.r.GatewayIP}
	if d.from == sandbox.NodeInternet {
		addrs = append(addrs, d.target)
	}
	own := watchOwners(t, b, addrs, active, standby[0])
	t.Run("ActiveAgentRestart", func(t *testing.T) { haAgentRestart(t, b.With(t), d, active) })
	t.Run("Failover", func(t *testing.T) { haFailover(t, b.With(t), d, active, standby[0]) })
	if t.Failed() {
		own.stop()
		return
	}
	// The standby is active now; the healed node is the standby.
	t.Run("Partition", func(t *testing.T) { haPartition(t, b.With(t), d, standby[0], active) })
	t.Run("DisableActive", func(t *testing.T) { haDisableActive(t, b.With(t), d, standby[0], active) })
	own.check(t, active, standby[0], active)
}

// owners captures the ARP answers of the network nodes for addresses.
type owners struct {
	addrs  []netip.Addr
	caps   map[string]*testbed.HostCapture
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func watchOwners(t *testing.T, b *testbed.Bed, addrs []netip.Addr, hosts ...string) *owners {
	o := &owners{addrs: addrs, caps: map[string]*testbed.HostCapture{}}
	for _, h := range hosts {
		o.caps[h] = b.CaptureHost(h, sandbox.HostExternalIf)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	for _, a := range addrs {
		o.wg.Add(1)
		go func() { defer o.wg.Done(); arpLoop(ctx, b, a) }()
	}
	return o
}

func (o *owners) stop() map[string][]probe.Frame {
	o.cancel()
	o.wg.Wait()
	out := map[string][]probe.Frame{}
	for h, c := range o.caps {
		out[h] = c.Stop()[sandbox.HostExternalIf]
	}
	return out
}

// check: for each address, the hosts that sent ARP answers (replies or
// gratuitous ARP), in time order, are want: the first active, the
// standby from the failover on (never back at the heal, never to the
// other during the partition), and the first again once the second's
// agent is disabled — one handover each time, never two at once.
func (o *owners) check(t *testing.T, want ...string) {
	type answer struct {
		at   time.Time
		host string
	}
	byAddr := map[netip.Addr][]answer{}
	for h, frames := range o.stop() {
		for _, f := range frames {
			if !f.Outgoing {
				continue
			}
			if _, spa, ok := probe.ARPAnswer(f.Data); ok {
				byAddr[spa] = append(byAddr[spa], answer{f.Time, h})
			}
		}
	}
	for _, a := range o.addrs {
		as := byAddr[a]
		slices.SortFunc(as, func(x, y answer) int { return x.at.Compare(y.at) })
		var runs []string
		counts := map[string]int{}
		for _, x := range as {
			counts[x.host]++
			if len(runs) == 0 || runs[len(runs)-1] != x.host {
				runs = append(runs, x.host)
			}
		}
		t.Logf("ARP answers for %s on the external network: %v, owners in time order %v", a, counts, runs)
		if !slices.Equal(runs, want) {
			t.Errorf("owners of %s in time order: %v, want %v (one handover each, no overlap)", a, runs, want)
		}
	}
}

// haAgentRestart restarts the active node's agent under the ping
// stream: its kernel keeps answering the standby's probes, so nothing
// moves and nothing is lost.
func haAgentRestart(t *testing.T, b *testbed.Bed, d *haTopo, active string) {
	s := b.PingStream(d.from, d.target, haInterval)
	waitReplies(t, s, 10)
	start := s.Stats().Sent
	b.RestartAgent(active)
	b.WaitInitialApply(active, 30*time.Second)
	time.Sleep(2 * time.Second)
	st := s.Stop(2 * time.Second)
	m, _ := b.HAStates(d.r.ID)
	t.Logf("restart of %s's agent: %s; l3-agents %v", active, st, m)
	if n := testbed.LostAfter(st, start); n > 0 {
		t.Errorf("restart of the active agent: %d requests lost, want none", n)
	}
	if m[active] != "active" {
		t.Errorf("after the restart: l3-agents %v, want %s still active", m, active)
	}
}

// takeover waits, once the active node failed or its agent was disabled
// at t0 (request seq of the stream s), until the API reports standby
// active and the traffic resumes through it (20 answered requests in a
// row); it returns when the API said so, the longest gap in the stream
// around the takeover, and the stream's figures.
func takeover(t *testing.T, b *testbed.Bed, d *haTopo, s *probe.Stream, standby string, t0 time.Time, seq int) (apiAt, gap time.Duration, st probe.PingStats) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, 50*time.Millisecond, "the API reports "+standby+" active", func() error {
		m, err := b.HAStates(d.r.ID)
		if err == nil && m[standby] == "active" {
			apiAt = time.Since(t0)
			return nil
		}
		return fmt.Errorf("l3-agents %v (%v)", m, err)
	})
	testbed.Eventually(t, 30*time.Second, haInterval, "traffic resumes through "+standby, func() error {
		st := s.Stats()
		if st.Sent-seq < 30 || testbed.LostAfter(st, st.Sent-20) > 2 {
			return fmt.Errorf("%s", st)
		}
		return nil
	})
	st = s.Stats()
	gap = testbed.LongestGap(slices.DeleteFunc(slices.Clone(st.Lost), func(q int) bool { return q < seq-2 || q > st.Sent-5 }), haInterval)
	return apiAt, gap, st
}

// haFailover fails the active node under the ping stream, then heals it.
func haFailover(t *testing.T, b *testbed.Bed, d *haTopo, active, standby string) {
	tcp := d.echoStream(t, b)
	defer tcp.Close()
	s := b.PingStream(d.from, d.target, haInterval)
	defer s.Stop(time.Second)
	waitReplies(t, s, 20)
	failSeq := s.Stats().Sent
	t.Logf("before the failure: %s", s.Stats())
	t0 := time.Now()
	b.Fail(active)
	apiAt, gap, st := takeover(t, b, d, s, standby, t0, failSeq)
	t.Logf("FAILOVER %s: gap %s (%d requests lost of %d), API reported %s active after %s",
		b.Prefix, gap, testbed.LostAfter(st, failSeq-2)-testbed.LostAfter(st, st.Sent-5), st.Sent-failSeq, standby, apiAt.Round(10*time.Millisecond))

	reportTCP(t, tcp, t0)

	// Heal: the node returns as standby, without loss.
	healSeq := s.Stats().Sent
	b.Heal(active)
	if m, _ := b.HAStates(d.r.ID); m[standby] != "active" || m[active] != "standby" {
		t.Errorf("after heal: l3-agents %v, want %s active (non-preemptive)", m, standby)
	}
	time.Sleep(3 * time.Second)
	st = s.Stop(2 * time.Second)
	if n := testbed.LostAfter(st, healSeq); n > 0 {
		t.Errorf("heal of %s: %d requests lost (%s), want none", active, n, st)
	}
	t.Logf("heal: %s", st)
}

// partitionTime is how long haPartition cuts the active node: well
// beyond its down time and the HA fence (defaults: 1.5 s, 2 s).
const partitionTime = 6 * time.Second

// haPartition cuts the active node's agent from the server for longer
// than its down time and the fence: no loss, and the router stays where it is (the
// ARP answers are judged by runHA).
func haPartition(t *testing.T, b *testbed.Bed, d *haTopo, active, standby string) {
	s := b.PingStream(d.from, d.target, haInterval)
	waitReplies(t, s, 10)
	start := s.Stats().Sent
	b.Partition(active)
	time.Sleep(partitionTime)
	m, _ := b.HAStates(d.r.ID)
	if err := b.State.Heal(context.Background(), active); err != nil {
		t.Errorf("heal the partition: %v", err)
	}
	time.Sleep(2 * time.Second)
	st := s.Stop(2 * time.Second)
	t.Logf("partition of %s for %s: %s; l3-agents during it %v", active, partitionTime, st, m)
	if n := testbed.LostAfter(st, start); n > 0 {
		t.Errorf("partition of %s: %d requests lost (%s), want none", active, n, st)
	}
	if m[active] != "active" || m[standby] != "standby" {
		t.Errorf("during the partition: l3-agents %v, want %s still active", m, active)
	}
}

// arpLoop asks the upstream's external interface for addr every 200ms
// until ctx ends, so that every owner of the address answers.
func arpLoop(ctx context.Context, b *testbed.Bed, addr netip.Addr) {
	for ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		probe.ARPRequest(c, sandbox.NodeNS(b.Prefix, sandbox.NodeUpstream), "eth0", addr, 100*time.Millisecond)
		<-c.Done()
		cancel()
	}
}

func waitReplies(t *testing.T, s *probe.Stream, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitReplies(ctx, n); err != nil {
		t.Fatalf("ping stream: %v (%s)", err, s.Stats())
	}
}

// echoStream opens a long TCP connection along the tested path: to an
// echo server on the internet host (DVR: SNAT), or from the internet
// host to the instance's floating IP (legacy).
func (d *haTopo) echoStream(t *testing.T, b *testbed.Bed) *probe.EchoStream {
	t.Helper()
	srvNode := sandbox.NodeInternet
	if d.from == sandbox.NodeInternet {
		srvNode = d.vm
	}
	srv, err := probe.ListenEcho(b.NS(srvNode), "0.0.0.0:0")
	if err != nil {
		t.Fatalf("echo server on %s: %v", srvNode, err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := probe.DialEchoStream(ctx, b.NS(d.from), netip.AddrPortFrom(d.target, srv.Addr.Port()), haInterval)
	if err != nil {
		t.Fatalf("TCP %s -> %s:%d: %v", d.from, d.target, srv.Addr.Port(), err)
	}
	return s
}

// reportTCP logs whether the long TCP connection survived the failure
// at t0 (not asserted: upstream keeps connections only with conntrack
// synchronisation, see docs/ha.md).
func reportTCP(t *testing.T, s *probe.EchoStream, t0 time.Time) {
	err := testbed.Poll(15*time.Second, 100*time.Millisecond, func() error {
		_, _, last, err := s.Status()
		if err != nil || last.After(t0.Add(time.Second)) {
			return nil
		}
		return fmt.Errorf("no echo since the failure")
	})
	sent, echoed, last, cerr := s.Status()
	switch {
	case cerr == nil && err == nil:
		t.Logf("TCP connection across the failover: survived (%d bytes sent, %d echoed, last echo %s after the failure)", sent, echoed, last.Sub(t0).Round(10*time.Millisecond))
	default:
		t.Logf("TCP connection across the failover: broken (%d sent, %d echoed; connection error %v; %v)", sent, echoed, cerr, err)
	}
}

// TestNonHAReschedule: a non-HA legacy router whose network node fails
// is rescheduled to the other one once its agents are dead (default
// timings: 1.5 s after its last heartbeat); the outage of
// traffic from the external network to a floating IP is logged.
func TestNonHAReschedule(t *testing.T) {
	b := testbed.Up(t, 1, testbed.Options{Quiet: true, NetworkNodes: 2})
	d := &haTopo{vm: "vm1"}
	d.ext = b.CreateExternalNetwork("ext-net", "203.0.113.0/24", "203.0.113.1", "203.0.113.101", "203.0.113.200")
	d.r = b.CreateRouter("router", d.ext.ID, nil)
	d.net = b.CreateNetwork("net", "192.168.1.0/24", map[string]any{"gateway_ip": "192.168.1.1"})
	b.AddRouterInterface(d.r.ID, d.net.SubnetID)
	b.AddIngressRules()
	in := b.Boot(d.vm, "net", "compute1")
	fip := b.CreateFloatingIP(d.ext.ID, in.PortID, nil)
	d.from, d.target = sandbox.NodeInternet, fip.Addr
	if err := b.Ping(d.from, d.target, 60*time.Second); err != nil {
		t.Fatalf("internet -> floating IP: %v", err)
	}
	time.Sleep(2 * time.Second)
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "network2")
	var host string
	for h, st := range mustHAStates(t, b, d.r.ID) {
		if st != "" {
			t.Fatalf("non-HA router: ha_state %q", st)
		}
		host = h
	}
	tcp := d.echoStream(t, b)
	defer tcp.Close()
	s := b.PingStream(d.from, d.target, haInterval)
	waitReplies(t, s, 10)
	failSeq := s.Stats().Sent
	t0 := time.Now()
	b.Fail(host)
	testbed.Eventually(t, 60*time.Second, haInterval, "traffic resumes on the other node", func() error {
		st := s.Stats()
		if st.Sent-failSeq < 30 || testbed.LostAfter(st, st.Sent-20) > 2 {
			return fmt.Errorf("%s", st)
		}
		return nil
	})
	st := s.Stop(2 * time.Second)
	gap := testbed.LongestGap(slices.DeleteFunc(slices.Clone(st.Lost), func(q int) bool { return q < failSeq-2 }), haInterval)
	t.Logf("NON-HA RESCHEDULE %s: %s failed, outage %s (down time %s); %s", b.Prefix, host, gap, sandbox.NetworkNodeDownTime, st)
	reportTCP(t, tcp, t0)
	b.Heal(host)
}

func mustHAStates(t *testing.T, b *testbed.Bed, rid string) map[string]string {
	t.Helper()
	m, err := b.HAStates(rid)
	if err != nil || len(m) != 1 {
		t.Fatalf("l3-agents of %s: %v %v", rid, m, err)
	}
	return m
}
