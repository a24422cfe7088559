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

// TestAgentKilledMidApply kills compute1's agent with SIGKILL as soon as
// a new instance's tap appears on compute1 (while the agent is plugging
// it, before the port is ACTIVE), starts it again, and checks that it
// converges: the instance gets its DHCP lease, its port turns ACTIVE
// and it reaches vm2 on compute2 both ways.
func TestAgentKilledMidApply(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{})
	b.CreateNetwork("net1", "192.168.1.0/24", nil)
	vm2 := b.Boot("vm2", "net1", "compute2")
	compute1 := b.NS("compute1")
	taps := func() map[string]bool {
		h, err := probe.Handle(compute1)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		ls, err := h.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, l := range ls {
			if strings.HasPrefix(l.Attrs().Name, "tap") {
				out[l.Attrs().Name] = true
			}
		}
		return out
	}
	old := taps()

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
	var tap string
	err := testbed.Poll(20*time.Second, time.Millisecond, func() error {
		for name := range taps() {
			if !old[name] {
				tap = name
				return nil
			}
		}
		return fmt.Errorf("no new tap on compute1")
	})
	if err != nil {
		t.Fatal(err)
	}
	b.StopAgent("compute1", syscall.SIGKILL)
	log := b.AgentLog("compute1")
	t.Logf("killed compute1's agent when %s appeared; it had logged %d kernel changes for it", tap, strings.Count(log, tap))

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
	if l, found, err := probe.Link(compute1, tap); err != nil || !found || l.Attrs().MasterIndex == 0 {
		t.Errorf("%s on compute1: found %v, in a bridge %v (%v)", tap, found, found && l.Attrs().MasterIndex != 0, err)
	}
}
