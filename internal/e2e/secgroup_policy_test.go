package e2e_test

// TestSecGroupScenarios: security groups and port security end to end,
// with real packets, in one sandbox (network1, compute1, compute2; a
// legacy router with ext-net's floating IPs on network1). The subtests
// run in order over shared state: each says which instances and groups
// it leaves behind.

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// sgTopo is the scenario's shared state.
type sgTopo struct {
	ext           testbed.ExternalNetwork
	net1          testbed.Network
	vm1, vm2, vm3 *sandbox.Instance // net1: compute1, compute2, compute1
	defaultSG     string            // the project's default group (vm1..vm3)
}

func TestSecGroupScenarios(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{Quiet: true})
	start := time.Now()
	d := &sgTopo{}
	d.ext = b.CreateExternalNetwork("ext-net", "203.0.113.0/24", "203.0.113.1", "203.0.113.101", "203.0.113.200")
	r := b.CreateRouter("sg-router", d.ext.ID, nil)
	d.net1 = b.CreateNetwork("net1", "192.168.1.0/24", map[string]any{"gateway_ip": "192.168.1.1"})
	b.AddRouterInterface(r.ID, d.net1.SubnetID)
	d.vm1 = b.Boot("vm1", "net1", "compute1")
	d.vm2 = b.Boot("vm2", "net1", "compute2")
	d.vm3 = b.Boot("vm3", "net1", "compute1")
	groups := b.PortGroups(d.vm1.PortID)
	if len(groups) != 1 {
		t.Fatalf("vm1's port has groups %v, want its project's default group", groups)
	}
	d.defaultSG = groups[0]

	steps := []struct {
		name string
		run  func(*testing.T, *sgTopo, *testbed.Bed)
	}{
		{"DefaultGroup", sgDefaultGroup},
		{"MovedToTCP80Group", sgMovedGroup},
		{"RemoteGroupMembership", sgRemoteGroup},
		{"OverlappingNetworks", sgOverlapping},
		{"AntiSpoofing", sgAntiSpoofing},
		{"BusyConnectionCut", sgBusyCut},
		{"AgentRestartDuringTransfer", sgAgentRestart},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			dumpOnFailure(t, b, "compute1", "compute2")
			s.run(t, d, b.With(t))
		})
	}
	t.Logf("TestSecGroupScenarios: the scenario took %s after the sandbox was up", time.Since(start).Round(time.Second))
}

// sgDefaultGroup: hosts with filtered ports have both tables and
// br_netfilter on. The default group lets nothing in from outside: the
// internet host reaches vm1's floating IP only once a rule allows it,
// and then only what the rule allows (TCP 22: SSH opens, ping stays
// blocked; then ICMP). Egress is open and the replies to vm1's own
// connections come back while its ingress is closed. Members reach each
// other on one host and across hosts. Removing the rule that admitted an
// established connection ends it. Leaves the default group as it was.
func sgDefaultGroup(t *testing.T, d *sgTopo, b *testbed.Bed) {
	b.MustPing("vm1", testbed.Addr(d.vm3)) // same host
	b.MustPing("vm3", testbed.Addr(d.vm1))
	b.MustPing("vm1", testbed.Addr(d.vm2)) // across hosts
	b.MustPing("vm2", testbed.Addr(d.vm3))
	checkHostTables(t, b, "compute1")

	fip := b.CreateFloatingIP(d.ext.ID, d.vm1.PortID, nil)
	ssh := netip.AddrPortFrom(fip.Addr, 22)
	b.ListenEcho("vm1", "0.0.0.0:22")
	// Outbound, with ingress closed: the replies come back.
	if err := b.Ping("vm1", internetIP, 20*time.Second); err != nil {
		t.Fatalf("vm1 -> internet host (egress): %v", err)
	}
	// The floating IP is applied when vm1's connections come from it
	// (the router's gateway address before).
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	testbed.Eventually(t, 20*time.Second, 100*time.Millisecond, "vm1's connections from its floating IP", func() error {
		seen, err := b.DialTCP("vm1", netip.AddrPortFrom(internetIP, srv.Addr.Port()), 2*time.Second)
		if err == nil && seen.Addr() != fip.Addr {
			err = fmt.Errorf("source %s, want %s", seen.Addr(), fip.Addr)
		}
		return err
	})
	b.MustNotPing(sandbox.NodeInternet, fip.Addr, 3*time.Second)
	b.MustNotConnect(sandbox.NodeInternet, ssh, 2*time.Second)

	sshRule := b.AddRule(d.defaultSG, "ingress", map[string]any{"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"})
	var conn *probe.EchoConn
	testbed.Eventually(t, 15*time.Second, 100*time.Millisecond, "internet -> "+ssh.String()+" after the TCP 22 rule", func() error {
		var err error
		conn, err = b.DialEcho(sandbox.NodeInternet, ssh, time.Second)
		return err
	})
	if err := conn.Exchange(2 * time.Second); err != nil {
		t.Fatalf("SSH connection through the floating IP: %v", err)
	}
	b.MustNotPing(sandbox.NodeInternet, fip.Addr, 2*time.Second) // TCP 22 only

	icmpRule := b.AddRule(d.defaultSG, "ingress", map[string]any{"protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"})
	if err := b.Ping(sandbox.NodeInternet, fip.Addr, 15*time.Second); err != nil {
		t.Errorf("internet -> %s after the ICMP rule: %v", fip.Addr, err)
	}

	// The established SSH connection ends with its rule (idle while
	// the rule goes, the client speaks next: see BusyConnectionCut);
	// ping stays.
	if err := conn.Exchange(2 * time.Second); err != nil {
		t.Fatalf("SSH connection before the rule's removal: %v", err)
	}
	removed := time.Now()
	b.DeleteRule(sshRule)
	b.WaitRefused(sandbox.NodeInternet, ssh, 15*time.Second)
	t.Logf("new SSH connections refused %s after the rule's removal", time.Since(removed).Round(time.Millisecond))
	b.MustBeCut(conn, "the established SSH connection through "+ssh.String())
	b.MustPing(sandbox.NodeInternet, fip.Addr)

	b.DeleteRule(icmpRule)
	waitBlocked(b, sandbox.NodeInternet, fip.Addr)
	b.MustPing("vm1", testbed.Addr(d.vm2)) // members still
}

// sgMovedGroup: vm3 moves from default into a group that lets in TCP 80
// only: members of default can no longer ping it (nor can vm2 across
// hosts), TCP 80 reaches it, and its own egress still works. Leaves vm3
// in that group.
func sgMovedGroup(t *testing.T, d *sgTopo, b *testbed.Bed) {
	web := b.CreateSecurityGroup("web80")
	b.AddRule(web, "ingress", map[string]any{"protocol": "tcp", "port_range_min": 80, "port_range_max": 80})
	b.ListenTCP("vm3", "0.0.0.0:80")
	b.SetPortGroups(d.vm3.PortID, []string{web})
	ip3 := testbed.Addr(d.vm3)
	waitBlocked(b, "vm1", ip3)
	b.MustNotPing("vm2", ip3, 2*time.Second)
	if _, err := b.DialTCP("vm1", netip.AddrPortFrom(ip3, 80), 5*time.Second); err != nil {
		t.Errorf("vm1 -> vm3:80 (the web group's rule): %v", err)
	}
	if _, err := b.DialTCP("vm2", netip.AddrPortFrom(ip3, 80), 5*time.Second); err != nil {
		t.Errorf("vm2 -> vm3:80 across hosts: %v", err)
	}
	b.MustPing("vm3", internetIP)                          // egress open, replies come back
	b.MustNotPing("vm3", testbed.Addr(d.vm1), time.Second) // no longer a member of vm1's group
}

// sgRemoteGroup: vm2 moves into "server", which lets in anything from
// members of "client". A new port in "client" is admitted soon after its
// creation (the time is logged; `neutrino bench sg` measures it); once
// it leaves "client" it is refused new connections and its established
// connection is cut. Leaves vm2 back in default, vm4 in default.
func sgRemoteGroup(t *testing.T, d *sgTopo, b *testbed.Bed) {
	client := b.CreateSecurityGroup("client")
	server := b.CreateSecurityGroup("server")
	b.AddRule(server, "ingress", map[string]any{"remote_group_id": client})
	b.ListenEcho("vm2", "0.0.0.0:7000")
	b.SetPortGroups(d.vm2.PortID, []string{server})
	ip2 := testbed.Addr(d.vm2)
	waitBlocked(b, "vm1", ip2)

	var created time.Time
	vm4 := b.BootWith(testbed.BootOptions{Name: "vm4", Network: "net1", Host: "compute1", SecurityGroups: []string{client},
		PortCreated: func(string) { created = time.Now() }})
	leased := time.Since(created)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := probe.PingUntil(ctx, vm4.Netns, ip2, 5*time.Millisecond); err != nil {
		t.Fatalf("new member vm4 -> vm2 (server admits client): %v", err)
	}
	t.Logf("new member of client: port created -> DHCP lease %s, -> admitted by vm2's remote group rule %s",
		leased.Round(time.Millisecond), time.Since(created).Round(time.Millisecond))
	echo := netip.AddrPortFrom(ip2, 7000)
	conn, err := b.DialEcho("vm4", echo, 5*time.Second)
	if err != nil {
		t.Fatalf("vm4 -> vm2:7000: %v", err)
	}
	if err := conn.Exchange(2 * time.Second); err != nil {
		t.Fatalf("vm4 <-> vm2:7000: %v", err)
	}
	b.MustNotConnect("vm1", echo, 2*time.Second) // not a member

	removed := time.Now()
	b.SetPortGroups(vm4.PortID, []string{d.defaultSG})
	b.WaitRefused("vm4", echo, 15*time.Second)
	t.Logf("member removed: new connections refused after %s", time.Since(removed).Round(time.Millisecond))
	b.MustBeCut(conn, "vm4's established connection to vm2")
	b.MustNotPing("vm4", ip2, time.Second)

	b.SetPortGroups(d.vm2.PortID, []string{d.defaultSG})
	b.MustPing("vm1", ip2)
}

// sgAgentRestart: a bulk TCP transfer between vm1 (compute1) and vm2
// (compute2), both filtered, goes on while each host's agent restarts;
// the restarted agent's first apply changes nothing and it changes
// nothing afterwards.
func sgAgentRestart(t *testing.T, d *sgTopo, b *testbed.Bed) {
	b.ListenEcho("vm2", "0.0.0.0:5001")
	conn, err := b.DialEcho("vm1", netip.AddrPortFrom(testbed.Addr(d.vm2), 5001), 10*time.Second)
	if err != nil {
		t.Fatalf("vm1 -> vm2:5001: %v", err)
	}
	tr := conn.StartTransfer()
	defer tr.Stop()
	wait := func(n int64) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tr.WaitEchoed(ctx, n); err != nil {
			t.Fatalf("transfer vm1 <-> vm2: %v", err)
		}
	}
	const mb = 1 << 20
	wait(10 * mb)
	for _, host := range []string{"compute1", "compute2"} {
		before := tr.Echoed()
		p := b.RestartAgent(host)
		line := b.WaitInitialApply(host, 30*time.Second)
		t.Logf("%s: agent restarted (pid %d) with %d MiB echoed so far: %s", host, p.PID, before/mb, line.Raw)
		if c, ok := line.Int("changes"); !ok || c != 0 || line.Fields["ok"] != "true" {
			t.Errorf("%s: initial apply after restart: %q, want changes=0 ok=true", host, line.Raw)
		}
		time.Sleep(time.Second)
		wait(tr.Echoed() + 20*mb) // the transfer goes on after the apply
		if log := b.AgentLog(host); strings.Contains(log, `msg="kernel change"`) {
			t.Errorf("%s: the restarted agent changed the kernel:\n%s", host, testbed.LastLines(log, 20))
		}
	}
	if err := tr.Stop(); err != nil {
		t.Errorf("transfer across the restarts: %v", err)
	}
	t.Logf("transfer across both restarts: %d MiB echoed, no error", tr.Echoed()/mb)
}

// sgBusyCut: connections from vm2 (compute2) to vm3 (compute1) that
// carry data both ways while the rule that admitted them is removed
// must end too (eight request/response connections, each exchanging as
// fast as it can). compute1's agent deletes vm3's conntrack entries,
// and with mid-stream pickup off (nf_conntrack_tcp_loose=0 on filtered
// hosts) vm3's next packet is invalid instead of re-creating the flow
// from its side, which would let the client's packets pass as replies.
func sgBusyCut(t *testing.T, d *sgTopo, b *testbed.Bed) {
	busy := b.CreateSecurityGroup("busy")
	rule := b.AddRule(busy, "ingress", map[string]any{"protocol": "tcp", "port_range_min": 9000, "port_range_max": 9000})
	b.ListenEcho("vm3", "0.0.0.0:9000")
	b.SetPortGroups(d.vm3.PortID, []string{busy})
	dst := netip.AddrPortFrom(testbed.Addr(d.vm3), 9000)
	const n = 8
	var conns []*probe.EchoConn
	testbed.Eventually(t, 15*time.Second, 100*time.Millisecond, "vm2 -> vm3:9000", func() error {
		for len(conns) < n {
			c, err := b.DialEcho("vm2", dst, time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	var exchanged [n]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c.Exchange(time.Second) == nil {
					exchanged[i].Add(1)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(500 * time.Millisecond)
	b.DeleteRule(rule)
	b.WaitRefused("vm2", dst, 15*time.Second)
	var before [n]int64
	for i := range exchanged {
		before[i] = exchanged[i].Load()
	}
	time.Sleep(3 * time.Second)
	for i := range exchanged {
		// One exchange may have been under way when new connections
		// were first refused.
		if got := exchanged[i].Load() - before[i]; got > 1 {
			t.Errorf("busy connection %d of vm2 -> vm3:9000 made %d more exchanges after its rule's removal", i, got)
		}
	}
}
