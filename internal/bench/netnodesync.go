package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// agentGauges reads gauges from the metrics listener of an agent of the
// sandbox (a loopback address of the root namespace).
func agentGauges(ctx context.Context, addr string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		for _, n := range names {
			if f[0] == n {
				v, err := strconv.ParseFloat(f[1], 64)
				if err != nil {
					return nil, err
				}
				out[n] = v
			}
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("%s: no %s", addr, n)
		}
	}
	return out, sc.Err()
}

// waitSynced waits until network1's agent has reconciled completely
// (every namespace converged, metric neutrino_agent_last_sync_age_seconds)
// after since, with nothing newer from the server to apply
// (neutrino_agent_revision_lag 0), and returns when that reconcile
// ended. A quiet log is no such proof: the agent logs an apply's
// changes only once the apply is done.
func (b *netNodeBed) waitSynced(ctx context.Context, since time.Time, timeout time.Duration) (time.Time, error) {
	addr := b.st.Metrics["agent-network1"]
	if addr == "" {
		return time.Time{}, fmt.Errorf("the sandbox has no metrics listener for network1's agent")
	}
	const age, lag = "neutrino_agent_last_sync_age_seconds", "neutrino_agent_revision_lag"
	var at time.Time
	err := waitFor(ctx, timeout, func() error {
		g, err := agentGauges(ctx, addr, age, lag)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return err
		}
		now := time.Now()
		at = now.Add(-time.Duration(g[age] * float64(time.Second)))
		if g[lag] != 0 || !at.After(since) {
			time.Sleep(100 * time.Millisecond)
			return fmt.Errorf("network1's agent: last complete reconcile %.1f s ago, %v revisions behind", g[age], g[lag])
		}
		return nil
	})
	return at, err
}
