package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed/probe"
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

// waitComplete waits for the first complete reconcile after since that
// leaves host with every namespace of names again (a cold start's: the
// ones deleted) and nothing applied after it, and returns when it ended.
// The first complete reconcile is not always that: while the agent was
// down the server may have moved its DHCP networks off the node (it
// missed its heartbeats; upstream's DHCP failover does the same) and
// gives them back once it reports again, a few revisions later. A cold
// start counted complete without them left them to the next start,
// whose "no-op" restart then applied 14 changes (docs/performance.md).
func (b *netNodeBed) waitComplete(ctx context.Context, since time.Time, host string, names []string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		last, err := b.waitSynced(ctx, since, time.Until(deadline))
		if err != nil {
			return last, err
		}
		missing := missingNames(names, b.st.HostNamespaces(host))
		if len(missing) == 0 {
			changed, err := lastKernelChange(b.st.AgentLog(host), host)
			if err != nil || !changed.After(last) {
				return last, err
			}
		} else if time.Now().After(deadline) {
			return last, fmt.Errorf("%s: %d namespaces not back after the cold start (first %s)", host, len(missing), missing[0])
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// missingNames lists the names of want that have is lacks (both sorted).
func missingNames(want, have []string) []string {
	var out []string
	for _, n := range want {
		if _, ok := slices.BinarySearch(have, n); !ok {
			out = append(out, n)
		}
	}
	return out
}

// lastKernelChange is the time of the last kernel change host's agent
// logged since its start (zero if none).
func lastKernelChange(path, host string) (time.Time, error) {
	s, err := probe.AgentLogSinceStart(path, host)
	if err != nil {
		return time.Time{}, err
	}
	i := strings.LastIndex(s, `msg="kernel change"`)
	if i < 0 {
		return time.Time{}, nil
	}
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		end = len(s) - i
	}
	l, ok := probe.ParseLogLine(s[start : i+end])
	if !ok || l.Time.IsZero() {
		return time.Time{}, fmt.Errorf("%s: unreadable log line %q", path, s[start:i+end])
	}
	return l.Time, nil
}
