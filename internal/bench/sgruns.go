package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// probeInterval is how often the probes ping: the resolution of the
// figures.
const probeInterval = 2 * time.Millisecond

// ruleRuns measures rule create -> first packet admitted (see
// SGDefinition); api is the create call's own time.
func (b *sgBed) ruleRuns(ctx context.Context) (api, admitted Dist, err error) {
	b.logf("rule create -> first packet: %d runs", b.o.Runs)
	if err := blocked(ctx, b.prober.Netns, b.targetIP, 15*time.Second); err != nil {
		return api, admitted, fmt.Errorf("PROBE -> TARGET before any rule: %w", err)
	}
	var apis, ds []time.Duration
	for i := 0; i < b.o.Runs; i++ {
		start := time.Now()
		id, err := b.rule(ctx, b.ruleSG, map[string]any{"protocol": "icmp"})
		if err != nil {
			return api, admitted, err
		}
		created := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = probe.PingUntil(pctx, b.prober.Netns, b.targetIP, probeInterval)
		cancel()
		if err != nil {
			return api, admitted, fmt.Errorf("run %d: PROBE -> TARGET after the rule: %w", i, err)
		}
		apis, ds = append(apis, created.Sub(start)), append(ds, time.Since(created))
		if err := b.api.Do(ctx, http.MethodDelete, "/v2.0/security-group-rules/"+id, nil, nil); err != nil {
			return api, admitted, err
		}
		if err := blocked(ctx, b.prober.Netns, b.targetIP, 15*time.Second); err != nil {
			return api, admitted, fmt.Errorf("run %d: after the rule's deletion: %w", i, err)
		}
	}
	api, admitted = distOf(apis), distOf(ds)
	b.logf("  rule create -> first packet: p50 %.1f ms, p99 %.1f ms (API call p50 %.1f ms)", admitted.P50Ms, admitted.P99Ms, api.P50Ms)
	return api, admitted, nil
}

// memberRuns measures new member -> admitted (see SGDefinition).
func (b *sgBed) memberRuns(ctx context.Context) (lease, admitted Dist, err error) {
	b.logf("new member -> admitted: %d runs", b.o.MemberRuns)
	var leases, ds []time.Duration
	for i := 0; i < b.o.MemberRuns; i++ {
		name := fmt.Sprintf("MEMBER%d", i)
		var created time.Time
		in, err := b.st.Boot(ctx, sandbox.BootOptions{Name: name, Network: b.net, Host: "compute2", SecurityGroups: []string{b.clientSG},
			PortCreated: func(string) { created = time.Now() }})
		if err != nil {
			return lease, admitted, err
		}
		leased := time.Since(created)
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = probe.PingUntil(pctx, in.Netns, b.targetIP, probeInterval)
		cancel()
		if err != nil {
			return lease, admitted, fmt.Errorf("run %d: %s -> TARGET: %w", i, name, err)
		}
		leases, ds = append(leases, leased), append(ds, time.Since(created))
		if err := b.st.Remove(ctx, name); err != nil {
			return lease, admitted, err
		}
	}
	lease, admitted = distOf(leases), distOf(ds)
	b.logf("  new member -> admitted: p50 %.1f ms, p99 %.1f ms (DHCP lease p50 %.1f ms)", admitted.P50Ms, admitted.P99Ms, lease.P50Ms)
	return lease, admitted, nil
}
