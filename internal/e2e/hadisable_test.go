package e2e_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed"
)

// haDisableActive disables the active node's L3 agent under the ping
// stream: the router moves to the other node through the same fence as
// a failure (the old active drops the addresses and says so with its
// next heartbeat before the other gets them, docs/ha.md); the gap is
// logged and the ARP answers are judged by runHA. The agent is enabled
// again and comes back as standby.
func haDisableActive(t *testing.T, b *testbed.Bed, d *haTopo, active, standby string) {
	id := l3AgentOf(t, b, active)
	s := b.PingStream(d.from, d.target, haInterval)
	defer s.Stop(time.Second)
	waitReplies(t, s, 10)
	seq := s.Stats().Sent
	t0 := time.Now()
	b.Do("PUT", "/v2.0/agents/"+id, map[string]any{"agent": map[string]any{"admin_state_up": false}}, nil)
	apiAt, gap, st := takeover(t, b, d, s, standby, t0, seq)
	t.Logf("DISABLE ACTIVE %s: %s's agent disabled, gap %s, API reported %s active after %s; %s",
		b.Prefix, active, gap, standby, apiAt.Round(10*time.Millisecond), st)
	b.Do("PUT", "/v2.0/agents/"+id, map[string]any{"agent": map[string]any{"admin_state_up": true}}, nil)
	testbed.Eventually(t, 30*time.Second, 100*time.Millisecond, active+" back as standby", func() error {
		m, err := b.HAStates(d.r.ID)
		if err == nil && m[active] == "standby" && m[standby] == "active" {
			return nil
		}
		return fmt.Errorf("l3-agents %v (%v)", m, err)
	})
	time.Sleep(time.Second)
}

// l3AgentOf is the id of host's L3 agent.
func l3AgentOf(t *testing.T, b *testbed.Bed, host string) string {
	var out struct {
		Agents []struct {
			ID string `json:"id"`
		} `json:"agents"`
	}
	b.Do("GET", "/v2.0/agents?agent_type="+url.QueryEscape("L3 agent")+"&host="+url.QueryEscape(host), nil, &out)
	if len(out.Agents) != 1 {
		t.Fatalf("L3 agents of %s: %v", host, out.Agents)
	}
	return out.Agents[0].ID
}
