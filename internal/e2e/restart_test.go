package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// TestAgentRestartHitless restarts compute1's and then compute2's agent
// while vm1 (compute1) pings vm2 (compute2) every 10 ms: no request may
// go unanswered, and each restarted agent finds the kernel as desired
// (initial apply with changes=0) and changes nothing afterwards.
func TestAgentRestartHitless(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{})
	b.CreateNetwork("net1", "192.168.1.0/24", nil)
	vm1 := b.Boot("vm1", "net1", "compute1")
	vm2 := b.Boot("vm2", "net1", "compute2")
	b.MustPing("vm1", testbed.Addr(vm2))
	for _, id := range []string{vm1.PortID, vm2.PortID} {
		b.WaitPortStatus(id, "ACTIVE", 10*time.Second)
	}

	s := b.PingStream("vm1", testbed.Addr(vm2), 10*time.Millisecond)
	waitReplies := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.WaitReplies(ctx, n); err != nil {
			t.Fatalf("ping stream: %v (%s)", err, s.Stats())
		}
	}
	waitReplies(50)
	for _, host := range []string{"compute1", "compute2"} {
		before := s.Stats().Received
		start := time.Now()
		p := b.RestartAgent(host)
		line := b.WaitInitialApply(host, 30*time.Second)
		t.Logf("%s: agent restarted (pid %d); initial apply after %s: %s", host, p.PID, time.Since(start).Round(time.Millisecond), line.Raw)
		if c, ok := line.Int("changes"); !ok || c != 0 || line.Fields["ok"] != "true" {
			t.Errorf("%s: initial apply after restart: %q, want changes=0 ok=true", host, line.Raw)
		}
		// Keep pinging for a second after the apply (100 more replies).
		waitReplies(before + 100)
		if log := b.AgentLog(host); strings.Contains(log, `msg="kernel change"`) {
			t.Errorf("%s: the restarted agent changed the kernel:\n%s", host, testbed.LastLines(log, 20))
		}
	}
	for _, in := range []*sandbox.Instance{vm1, vm2} {
		if p := b.Port(in.PortID); p.Status != "ACTIVE" {
			t.Errorf("%s's port is %s after the restarts, want ACTIVE", in.Name, p.Status)
		}
	}
	st := s.Stop(2 * time.Second)
	t.Logf("ping vm1 -> vm2 every 10 ms: %s", st)
	if len(st.Lost) > 0 || st.SendErrors > 0 || st.Duplicates > 0 || st.Sent < 200 {
		t.Errorf("ping stream across the restarts: %s; want nothing lost", st)
	}
}

// TestAgentKilledMidApply kills compute1's agent with SIGKILL in the
// middle of its first apply for a new instance (as soon as the network's
// bridge appears on compute1, the first thing the apply creates; the
// instance's port is not ACTIVE yet), starts it again, and checks that
// it converges: the instance gets its DHCP lease, its port turns ACTIVE
// and it reaches vm2 on compute2 both ways.
func TestAgentKilledMidApply(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{})
	n := b.CreateNetwork("net1", "192.168.1.0/24", nil)
	b.ScheduleDHCP(n.ID, "network1")
	vm2 := b.Boot("vm2", "net1", "compute2")
	compute1 := b.NS("compute1")
	if _, found, _ := probe.Link(compute1, n.Bridge()); found {
		t.Fatalf("compute1 has %s before any port of net1 is there", n.Bridge())
	}

	type result struct {
		in  *sandbox.Instance
		err error
	}
	booted := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		in, err := b.State.Boot(ctx, sandbox.BootOptions{Name: "vm1", Network: "net1", Host: "compute1", DHCPTimeout: 45 * time.Second})
		booted <- result{in, err}
	}()
	err := testbed.Poll(20*time.Second, time.Millisecond, func() error {
		if _, found, err := probe.Link(compute1, n.Bridge()); err != nil || found {
			return err
		}
		return fmt.Errorf("no %s on compute1", n.Bridge())
	})
	if err != nil {
		t.Fatal(err)
	}
	b.StopAgent("compute1", syscall.SIGKILL)
	_, vx, _ := probe.Link(compute1, n.VXLAN())
	fdb, _ := probe.FDB(compute1, n.VXLAN())
	t.Logf("killed compute1's agent when %s appeared: %s there %v with %d FDB entries", n.Bridge(), n.VXLAN(), vx, len(fdb))

	p := b.StartAgent("compute1")
	line := b.WaitInitialApply("compute1", 30*time.Second)
	t.Logf("compute1: agent started again (pid %d): %s", p.PID, line.Raw)
	if line.Fields["ok"] != "true" {
		t.Errorf("initial apply after the crash: %q, want ok=true", line.Raw)
	}
	r := <-booted
	if r.err != nil {
		t.Fatalf("boot of vm1 across the agent crash: %v", r.err)
	}
	b.WaitPortStatus(r.in.PortID, "ACTIVE", 20*time.Second)
	b.MustPing("vm1", testbed.Addr(vm2))
	b.MustPing("vm2", testbed.Addr(r.in))
	testbed.Eventually(t, 10*time.Second, 100*time.Millisecond, "FDB after the crash", func() error { return checkFDB(b, n) })
}
