package e2e_test

// End-to-end tests of distributed routers (DVR), after the DVR
// walkthrough (walkthroughs/ha-dvr-with-open-vswitch.txt,
// neutron-facts/l3-dataplane.md §4): network1 runs its agent in dvr_snat
// mode with the only DHCP agent, compute1..3 in dvr mode; ext-net
// 203.0.113.0/24 on the external fabric (upstream 203.0.113.1, the
// internet host 198.51.100.10 behind it); demo-router distributed with
// its gateway there and demo-net 192.168.1.0/24 attached. Every check
// sends real packets; where a flow must avoid (or cross) the network node
// the counters of network1's fabric interfaces say so.
//
// The subtests of TestDVR share one sandbox to keep the suite short;
// each builds on the previous ones' state (instances, floating IP), so
// they run in order and a failed step dumps the namespaces involved.

import (
	"fmt"
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

// quietTolerance is how many IPv4 frames a network1 fabric interface
// may carry, per interface, while a flow that must avoid the network
// node runs: background the flows themselves do not cause (a DHCP
// renewal, a broadcast ARP of the upstream router or of a fip-
// namespace that the external switch floods to every host). IPv6
// neighbour discovery and MLD of freshly made devices, IGMP and the
// underlay's own ARP are background too, and frequent in a sandbox a
// minute old (every new device solicits routers with exponential
// backoff, flooded to every VTEP of its network, network1's included as
// it serves the network's DHCP): they are not counted but logged. The
// flows measured send hundreds of packets, and a frame of the flow
// itself on network1 fails the test whatever its number.
const quietTolerance = 10

// quiet watches network1's fabric interfaces during a flow that must
// not cross the network node.
type quiet struct {
	b        *testbed.Bed
	capture  *testbed.HostCapture
	tun, ext testbed.Counters
}

func watchNetworkNode(b *testbed.Bed) *quiet {
	q := &quiet{b: b, capture: b.CaptureHost(sandbox.NodeNetwork1, sandbox.HostTunnelIf, sandbox.HostExternalIf)}
	q.tun, q.ext = b.NetworkNodeCounters()
	return q
}

// check ends the watch: no IPv4 frame mentioning any of flowAddrs
// (probe.Describe, inner frames of VXLAN included), and at most
// quietTolerance other IPv4 frames per interface. Broadcast ARP, a
// gratuitous ARP of the floating IP included, is flooded to every host
// and not counted.
func (q *quiet) check(t *testing.T, what string, flowAddrs ...netip.Addr) {
	t.Helper()
	tun1, ext1 := q.b.NetworkNodeCounters()
	frames := q.capture.Stop()
	t.Logf("network1 during %s: counters %s %s, %s %s", what, sandbox.HostTunnelIf, tun1.Sub(q.tun), sandbox.HostExternalIf, ext1.Sub(q.ext))
	for _, dev := range []string{sandbox.HostTunnelIf, sandbox.HostExternalIf} {
		fs := frames[dev]
		flow, v4 := 0, 0
		for _, f := range fs {
			desc := probe.Describe(f)
			if !isIPv4Unicast(desc) {
				continue // broadcast ARP (a GARP of the floating IP too), IPv6, IGMP
			}
			v4++
			for _, a := range flowAddrs {
				if strings.Contains(desc, a.String()+" ") || strings.Contains(desc, a.String()+":") || strings.HasSuffix(desc, a.String()) {
					flow++
					break
				}
			}
		}
		if flow > 0 || v4 > quietTolerance {
			t.Errorf("network1's %s carried %d frames of %s and %d IPv4 frames in all (tolerance %d) — it must not be on the path; frames:\n%s",
				dev, flow, what, v4, quietTolerance, probe.Summarize(fs))
		} else {
			t.Logf("network1's %s: %d frames, none of %s, %d IPv4 (tolerance %d)", dev, len(fs), what, v4, quietTolerance)
		}
	}
}

// isIPv4Unicast: an IPv4 ICMP/TCP/UDP frame (VXLAN inner frames
// included) that is not multicast.
func isIPv4Unicast(desc string) bool {
	for _, p := range []string{"ICMP ", "TCP ", "UDP "} {
		if strings.Contains(desc, p) {
			return !strings.Contains(desc, " 224.") && !strings.Contains(desc, " 255.255.255.255")
		}
	}
	return false
}

// dvrTopo is the walkthrough's topology in TestDVR's sandbox.
type dvrTopo struct {
	ext      testbed.ExternalNetwork
	r        testbed.Router
	net1     testbed.Network
	net2     testbed.Network
	if1, if2 string            // demo-router's interface ports on demo-net, demo-net2
	vm1, vm2 *sandbox.Instance // demo-net on compute1, demo-net2 on compute2
	fip      testbed.FloatingIP
}

func (d *dvrTopo) qrouter() string { return names.PrefixRouter + d.r.ID }
func (d *dvrTopo) snat() string    { return names.PrefixSNAT + d.r.ID }
func (d *dvrTopo) fipNS() string   { return names.PrefixFIP + d.ext.ID }

// dumpOnFailure logs, when t ends failed, the routing state of every
// namespace of hosts (ip rules, route tables, nftables) for whoever
// fixes the planner.
func dumpOnFailure(t *testing.T, b *testbed.Bed, hosts ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, h := range hosts {
			t.Logf("state of %s:\n%s", h, b.DumpHost(h))
		}
	})
}

// TestDVR runs the DVR acceptance scenario in one sandbox (three
// computes: compute2 stays without instances of demo-router until the
// east-west step, compute3 until the floating IP moves there).
func TestDVR(t *testing.T) {
	b := testbed.Up(t, 3, testbed.Options{Quiet: true})
	start := time.Now()
	d := &dvrTopo{}
	d.ext = b.CreateExternalNetwork("ext-net", "203.0.113.0/24", "203.0.113.1", "203.0.113.101", "203.0.113.200")
	d.r = b.CreateDistributedRouter("demo-router", d.ext.ID)
	if !d.r.GatewayIP.IsValid() {
		t.Fatalf("router %s has no gateway address", d.r.ID)
	}
	d.net1 = b.CreateNetwork("demo-net", "192.168.1.0/24", map[string]any{"gateway_ip": "192.168.1.1"})
	d.if1 = b.AddRouterInterface(d.r.ID, d.net1.SubnetID)
	b.AddIngressRules()
	t.Logf("demo-router %s (gateway %s), ext-net %s, demo-net %s", d.r.ID, d.r.GatewayIP, d.ext.ID, d.net1.ID)

	steps := []struct {
		name string
		run  func(*testing.T, *dvrTopo, *testbed.Bed)
	}{
		{"NamespacesBeforeInstances", dvrNamespacesBefore},
		{"NamespacesWithInstance", dvrNamespacesInstance},
		{"NorthSouthSNAT", dvrNorthSouthSNAT},
		{"NorthSouthFIP", dvrNorthSouthFIP},
		{"EastWest", dvrEastWest},
		{"AgentRestart", dvrAgentRestart},
		{"FIPMove", dvrFIPMove},
		{"Migration", dvrMigration},
	}
	for _, s := range steps {
		// d is shared (each step records what it made); b reports to
		// the subtest.
		t.Run(s.name, func(t *testing.T) { s.run(t, d, b.With(t)) })
	}
	t.Logf("TestDVR: the scenario took %s after the sandbox was up", time.Since(start).Round(time.Second))
}

// waitNS waits until host's namespaces hold want and none of unwanted.
func waitNS(t *testing.T, b *testbed.Bed, host string, want, unwanted []string) {
	t.Helper()
	if err := testbed.Poll(30*time.Second, 100*time.Millisecond, func() error { return b.CheckNamespaces(host, want, unwanted) }); err != nil {
		t.Error(err)
	}
}

// dvrNamespacesBefore: with the gateway set and no instance, network1
// holds snat-, qrouter- and qdhcp-; no compute holds anything of the
// router.
func dvrNamespacesBefore(t *testing.T, d *dvrTopo, b *testbed.Bed) {
	dumpOnFailure(t, b, sandbox.NodeNetwork1)
	waitNS(t, b, sandbox.NodeNetwork1, []string{d.snat(), d.qrouter(), names.PrefixDHCP + d.net1.ID}, nil)
	for _, h := range []string{"compute1", "compute2", "compute3"} {
		waitNS(t, b, h, nil, []string{d.qrouter(), d.snat(), names.PrefixDHCP + d.net1.ID})
	}
}

// dvrNamespacesInstance: demo-instance1 on compute1 brings qrouter-
// there (never snat-); compute2 and compute3 still hold nothing of the
// router.
func dvrNamespacesInstance(t *testing.T, d *dvrTopo, b *testbed.Bed) {
	dumpOnFailure(t, b, "compute1")
	d.vm1 = b.Boot("demo-instance1", "demo-net", "compute1")
	waitNS(t, b, "compute1", []string{d.qrouter()}, []string{d.snat()})
	for _, h := range []string{"compute2", "compute3"} {
		waitNS(t, b, h, nil, []string{d.qrouter()})
	}
}

// need skips t when an earlier step did not make what it builds on.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Skipf("no %s: an earlier step failed", what)
	}
}

// pingCount runs a ping stream from node to dst until n requests went
// out, every interval, and returns what it saw.
func pingCount(t *testing.T, b *testbed.Bed, from string, dst netip.Addr, n int, interval time.Duration) probe.PingStats {
	t.Helper()
	s := b.PingStream(from, dst, interval)
	err := testbed.Poll(time.Duration(n)*interval+30*time.Second, interval, func() error {
		if st := s.Stats(); st.Sent < n {
			return fmt.Errorf("%d of %d sent", st.Sent, n)
		}
		return nil
	})
	st := s.Stop(2 * time.Second)
	if err != nil {
		t.Fatalf("ping %s -> %s: %v (%s)", from, dst, err, st)
	}
	return st
}

// dvrNorthSouthSNAT: demo-instance1 (no floating IP) reaches the
// internet host, which sees the router's gateway address; the packets
// cross the network node: compute1 redirects them over the tunnel to
// network1's snat- namespace and the replies come back the same way, so
// network1's underlay interface receives at least every request and
// sends at least every reply.
func dvrNorthSouthSNAT(t *testing.T, d *dvrTopo, b *testbed.Bed) {
	need(t, d.vm1 != nil, "demo-instance1")
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "compute1")
	if err := b.Ping("demo-instance1", d.net1.Gateway, 15*time.Second); err != nil {
		t.Errorf("demo-instance1 -> its gateway %s: %v", d.net1.Gateway, err)
	}
	if err := b.Ping("demo-instance1", internetIP, 20*time.Second); err != nil {
		t.Fatalf("demo-instance1 -> internet host: %v", err)
	}
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	if got := sourceSeen(t, b, srv, "demo-instance1", 10*time.Second); got != d.r.GatewayIP {
		t.Errorf("demo-instance1 -> internet host: source %s, want the router's gateway address %s", got, d.r.GatewayIP)
	}
	tun0, _ := b.NetworkNodeCounters()
	const n = 200
	st := pingCount(t, b, "demo-instance1", internetIP, n, 10*time.Millisecond)
	tun := b.HostCounters(sandbox.NodeNetwork1, sandbox.HostTunnelIf).Sub(tun0)
	t.Logf("demo-instance1 -> internet: %s; network1 %s: %s", st, sandbox.HostTunnelIf, tun)
	if len(st.Lost) > 0 || st.Duplicates > 0 {
		t.Errorf("ping demo-instance1 -> internet host: %s, want no loss and no duplicates", st)
	}
	if tun.RX < uint64(st.Sent) || tun.TX < uint64(st.Received) {
		t.Errorf("network1's underlay %s carried %s for %d requests and %d replies: the SNAT path does not cross the network node",
			sandbox.HostTunnelIf, tun, st.Sent, st.Received)
	}
}

// dvrNorthSouthFIP: with a floating IP, compute1 gets fip-<ext-net>;
// ICMP and TCP from the internet host reach demo-instance1 at its
// floating IP, its outbound connections come from the floating IP, and
// network1's fabric interfaces carry none of it (quiet).
func dvrNorthSouthFIP(t *testing.T, d *dvrTopo, b *testbed.Bed) {
	need(t, d.vm1 != nil, "demo-instance1")
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "compute1")
	d.fip = b.CreateFloatingIP(d.ext.ID, d.vm1.PortID, nil)
	t.Logf("floating IP %s -> demo-instance1 %s", d.fip.Addr, d.vm1.IP)
	waitNS(t, b, "compute1", []string{d.fipNS(), d.qrouter()}, []string{d.snat()})
	waitFIP(t, b, d.fip.Addr)

	vmTCP := b.ListenTCP("demo-instance1", "0.0.0.0:2222")
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	// Warm up (ARP on both sides) before the counters are read.
	if got := sourceSeen(t, b, srv, "demo-instance1", 10*time.Second); got != d.fip.Addr {
		t.Errorf("demo-instance1 -> internet host: source %s, want its floating IP %s", got, d.fip.Addr)
	}
	q := watchNetworkNode(b)
	const n = 200
	st := pingCount(t, b, sandbox.NodeInternet, d.fip.Addr, n, 10*time.Millisecond)
	if len(st.Lost) > 0 || st.Duplicates > 0 {
		t.Errorf("ping internet -> %s: %s, want no loss and no duplicates", d.fip.Addr, st)
	}
	fipTCP := netip.AddrPortFrom(d.fip.Addr, 2222)
	const conns = 20
	for i := range conns {
		if seen, err := b.DialTCP(sandbox.NodeInternet, fipTCP, 5*time.Second); err != nil {
			t.Fatalf("internet -> %s (connection %d): %v", fipTCP, i, err)
		} else if seen.Addr() != internetIP {
			t.Errorf("internet -> %s: demo-instance1 saw %s, want %s", fipTCP, seen, internetIP)
		}
		if got := sourceSeen(t, b, srv, "demo-instance1", 5*time.Second); got != d.fip.Addr {
			t.Errorf("demo-instance1 -> internet host: source %s, want %s", got, d.fip.Addr)
		}
	}
	if got := len(vmTCP.Peers()); got != conns {
		t.Errorf("demo-instance1 accepted %d connections on :2222, want %d", got, conns)
	}
	q.check(t, fmt.Sprintf("%d pings and %d+%d TCP connections through %s", n, conns, conns, d.fip.Addr), d.fip.Addr, internetIP)
	testbed.Eventually(t, 10*time.Second, 100*time.Millisecond, "floating IP ACTIVE", func() error {
		var out struct {
			FIP struct {
				Status string `json:"status"`
			} `json:"floatingip"`
		}
		if err := b.Try(http.MethodGet, "/v2.0/floatingips/"+d.fip.ID, nil, &out); err != nil {
			return err
		}
		if out.FIP.Status != "ACTIVE" {
			return fmt.Errorf("status %s", out.FIP.Status)
		}
		return nil
	})
}
