package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// BootOptions configure RunBoot.
type BootOptions struct {
	Boots    int
	Sandbox  SandboxOptions
	Progress io.Writer
}

// DefaultBoot is `neutrino bench boot`'s default.
func DefaultBoot() BootOptions { return BootOptions{Boots: 20} }

// BootDefinition says what RunBoot measures.
const BootDefinition = `A fresh sandbox with one compute host (agents on network1 and compute1),
one VXLAN network (DHCP served on network1) and a probe instance already
running on compute1. Each boot is timed from just before its port is
created (POST /v2.0/ports bound to compute1; then the instance namespace
with eth0 and its tap in compute1: exactly neutrino sandbox boot) to
  lease:     the instance holds its address from a real DHCP exchange and
             has announced it (the client restarts an unanswered exchange
             after 25 ms, doubling: the first DISCOVER may leave before the
             agent has plugged the tap, so figures are quantized by 25 ms);
  reachable: the probe instance, pinging it every 10 ms from the moment of
             the lease, gets its first echo reply (ready = this);
  ACTIVE:    the API shows the port ACTIVE (polled every 10 ms, in parallel).
Each instance is removed after its measurement (port deleted, namespace
and tap gone), so every boot finds the host with just the probe instance.`

// BootSample is one boot.
type BootSample struct {
	Lease, Reachable, Active time.Duration
}

// BootReport is RunBoot's result.
type BootReport struct {
	Boots      int          `json:"boots"`
	Definition string       `json:"definition"`
	Lease      Dist         `json:"lease"`
	Reachable  Dist         `json:"reachable"`
	Active     Dist         `json:"active"`
	Samples    []BootSample `json:"-"`
}

// RunBoot measures instance boots in a fresh sandbox (see
// BootDefinition).
func RunBoot(ctx context.Context, o BootOptions) (*BootReport, error) {
	if o.Boots < 1 {
		return nil, fmt.Errorf("--boots %d: want at least 1", o.Boots)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	b, cleanup, err := upSandbox(ctx, o.Sandbox, o.Progress, 1)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	netID, err := b.network(ctx, "bench", "10.90.0.0/24")
	if err != nil {
		return nil, err
	}
	if err := b.scheduleDHCP(ctx, netID, sandbox.NodeNetwork1); err != nil {
		return nil, err
	}
	nw, err := b.getNetwork(ctx, netID)
	if err != nil {
		return nil, err
	}
	probeVM, err := b.st.Boot(ctx, sandbox.BootOptions{Name: "probe", Network: netID, Host: "compute1"})
	if err != nil {
		return nil, fmt.Errorf("boot the probe instance: %w", err)
	}
	if err := b.openIngress(ctx); err != nil {
		return nil, err
	}
	rep := &BootReport{Boots: o.Boots, Definition: BootDefinition}
	var lease, reach, active []time.Duration
	for i := 1; i <= o.Boots; i++ {
		s, err := b.bootOnce(ctx, nw, fmt.Sprintf("boot%d", i), probeVM.Netns)
		if err != nil {
			return nil, err
		}
		rep.Samples = append(rep.Samples, *s)
		lease, reach, active = append(lease, s.Lease), append(reach, s.Reachable), append(active, s.Active)
		fmt.Fprintf(o.Progress, "boot %d/%d: lease %s, reachable %s, ACTIVE %s\n", i, o.Boots,
			s.Lease.Round(time.Millisecond), s.Reachable.Round(time.Millisecond), s.Active.Round(time.Millisecond))
	}
	rep.Lease, rep.Reachable, rep.Active = distOf(lease), distOf(reach), distOf(active)
	return rep, nil
}

// bootOnce boots one instance the way sandbox Boot does (port bound to
// compute1, namespace with eth0 carrying the port's MAC, tap left in
// compute1 for the agent to plug) but with a DHCP client that retries
// fast, times it, and removes it again.
func (b *benchBed) bootOnce(ctx context.Context, nw *network, name, probeNS string) (*BootSample, error) {
	const host = "compute1"
	start := time.Now()
	activeAt := make(chan time.Duration, 1)
	pctx, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	go func() {
		defer close(activeAt)
		for pctx.Err() == nil {
			var out struct {
				Ports []struct {
					Status string `json:"status"`
				} `json:"ports"`
			}
			err := b.api.Do(pctx, http.MethodGet, "/v2.0/ports?fields=status&name="+url.QueryEscape(name), nil, &out)
			if err == nil && len(out.Ports) == 1 && out.Ports[0].Status == "ACTIVE" {
				activeAt <- time.Since(start)
				return
			}
			select {
			case <-pctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	in, err := b.st.Boot(ctx, sandbox.BootOptions{Name: name, Network: nw.ID, Host: host})
	if err != nil {
		return nil, err
	}
	defer b.st.Remove(context.Background(), name)
	addr := netip.MustParsePrefix(in.IP).Addr()
	s := &BootSample{Lease: time.Since(start)}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = probe.PingUntil(rctx, probeNS, addr, 10*time.Millisecond)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.Reachable = time.Since(start)
	d, ok := <-activeAt
	if !ok {
		return nil, fmt.Errorf("%s: port not ACTIVE within 60s", name)
	}
	s.Active = d
	return s, nil
}

// WriteTable prints the report.
func (r *BootReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%s\n\n", r.Definition)
	fmt.Fprintf(w, "%-22s %6s %10s %10s %10s %10s\n", "boot -> (ms)", "n", "min", "p50", "p90", "max")
	for _, row := range []struct {
		name string
		d    Dist
	}{{"DHCP lease", r.Lease}, {"reachable (ready)", r.Reachable}, {"port ACTIVE (API)", r.Active}} {
		fmt.Fprintf(w, "%-22s %6d %10.1f %10.1f %10.1f %10.1f\n", row.name, row.d.N, row.d.MinMs, row.d.P50Ms, row.d.P90Ms, row.d.MaxMs)
	}
}

// WriteJSON prints the report as JSON.
func (r *BootReport) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}
