package testbed

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// HAStates returns the router's l3-agents as host → ha_state.
func (b *Bed) HAStates(routerID string) (map[string]string, error) {
	var out struct {
		Agents []struct {
			Host    string  `json:"host"`
			HAState *string `json:"ha_state"`
		} `json:"agents"`
	}
	if err := b.Try(http.MethodGet, "/v2.0/routers/"+routerID+"/l3-agents", nil, &out); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, a := range out.Agents {
		st := ""
		if a.HAState != nil {
			st = *a.HAState
		}
		m[a.Host] = st
	}
	return m, nil
}

// ActiveHost waits until the HA router has n agents, one active, and
// returns the active host and the others.
func (b *Bed) ActiveHost(routerID string, n int) (string, []string) {
	b.T.Helper()
	var active string
	var standby []string
	Eventually(b.T, 30*time.Second, 100*time.Millisecond, "HA router scheduled", func() error {
		m, err := b.HAStates(routerID)
		if err != nil {
			return err
		}
		active, standby = "", nil
		for h, st := range m {
			switch st {
			case "active":
				active = h
			case "standby":
				standby = append(standby, h)
			}
		}
		if active == "" || len(m) != n || len(standby) != n-1 {
			return fmt.Errorf("l3-agents %v, want %d with one active", m, n)
		}
		return nil
	})
	return active, standby
}

// Fail is `neutrino sandbox fail host`.
func (b *Bed) Fail(host string) {
	b.T.Helper()
	if err := b.State.Fail(host); err != nil {
		b.T.Fatalf("fail %s: %v", host, err)
	}
}

// Heal is `neutrino sandbox heal host`.
func (b *Bed) Heal(host string) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := b.State.Heal(ctx, host); err != nil {
		b.T.Fatalf("heal %s: %v", host, err)
	}
}

// Partition is `neutrino sandbox partition host`.
func (b *Bed) Partition(host string) {
	b.T.Helper()
	if err := b.State.Partition(host); err != nil {
		b.T.Fatalf("partition %s: %v", host, err)
	}
}

// LongestGap is the longest run of consecutive lost requests in lost
// (sorted sequence numbers) times the interval: the outage a ping
// stream saw.
func LongestGap(lost []int, interval time.Duration) time.Duration {
	best, run := 0, 0
	for i, s := range lost {
		if i > 0 && s == lost[i-1]+1 {
			run++
		} else {
			run = 1
		}
		best = max(best, run)
	}
	return time.Duration(best) * interval
}

// LostAfter counts the requests of st after sequence number seq that
// got no answer.
func LostAfter(st probe.PingStats, seq int) int {
	n := 0
	for _, s := range st.Lost {
		if s > seq {
			n++
		}
	}
	return n
}
