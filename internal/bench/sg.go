package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// SGDefinition says what `neutrino bench sg` measures.
const SGDefinition = `Security groups in the kernel, in a fresh sandbox (network1, compute1,
compute2; one VXLAN network SG_NET), one run:

  throughput: iperf3 TCP between two instances across hosts (TP1 on
      compute1 -> TP2 on compute2), both in the default group (filtered:
      anti-spoofing, conntrack zone, stateful chains, remote group set),
      then with port security off on both ports (groups removed first),
      alternating, each for the same time; the mean of each and the
      ratio filtered / unfiltered (target >= 0.9).
  rule create -> first packet admitted: TARGET (compute1) is alone in
      group bench-rule, without ingress rules; PROBE (compute2) pings it
      every 2 ms. From the moment POST security-group-rules (ingress
      ICMP) returns until the first echo reply; the rule is deleted and
      the block awaited between runs. Also the API call's own time.
  new member -> admitted by a remote group rule: bench-rule also admits
      anything from members of bench-client. A new instance on compute2
      is booted into bench-client (port created, tap plugged, DHCP) and
      pings TARGET every 2 ms as soon as it has its lease. From the port
      create's answer until its lease, and until TARGET's first reply
      (compute1 must add the new address to the remote group set). The
      instance is removed between runs.`

// SGOptions size the security group benchmark.
type SGOptions struct {
	Runs       int           // rule create -> first packet
	MemberRuns int           // new member -> admitted
	Throughput time.Duration // iperf3 time per measurement; 0 = skip
	Rounds     int           // filtered/unfiltered alternations
	Sandbox    SandboxOptions
	Progress   io.Writer
}

// DefaultSG is the size the figures refer to.
func DefaultSG() SGOptions {
	return SGOptions{Runs: 20, MemberRuns: 10, Throughput: 5 * time.Second, Rounds: 4}
}

// sgBed is the benchmark's topology (see setup).
type sgBed struct {
	*benchBed
	o                 SGOptions
	net               string
	defaultSG         string
	ruleSG, clientSG  string
	tp1, tp2          *sandbox.Instance
	target, prober    *sandbox.Instance
	targetIP, tp2Addr netip.Addr
}

func (b *sgBed) logf(format string, args ...any) { progressf(b.o.Progress, format, args...) }

// RunSG runs the security group benchmark in a fresh sandbox. A part
// that fails leaves its error in the report and the others still run.
func RunSG(ctx context.Context, o SGOptions) (*SGReport, error) {
	d := DefaultSG()
	unsetTo(&o.Runs, d.Runs)
	unsetTo(&o.MemberRuns, d.MemberRuns)
	unsetTo(&o.Rounds, d.Rounds)
	bb, cleanup, err := upSandbox(ctx, o.Sandbox, o.Progress, 2)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	b := &sgBed{benchBed: bb, o: o}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	rep := &SGReport{}
	ps := &parts{logf: b.logf}
	rep.Throughput = b.throughput(ctx)
	if rep.Throughput.Error != "" {
		ps.fail("throughput", errors.New(rep.Throughput.Error))
	}
	if rep.RuleAPI, rep.RuleToPacket, err = b.ruleRuns(ctx); err != nil {
		rep.RuleError = ps.fail("rule create -> first packet", err)
	}
	if rep.MemberLease, rep.MemberAdmit, err = b.memberRuns(ctx); err != nil {
		rep.MemberError = ps.fail("new member -> admitted", err)
	}
	return rep, ps.err()
}

// setup: SG_NET; TP1 and TP2 (default group) for throughput; groups
// bench-rule (ingress: anything from bench-client) and bench-client;
// TARGET in bench-rule on compute1, PROBE in default on compute2.
func (b *sgBed) setup(ctx context.Context) error {
	b.logf("setting up: SG_NET, groups, instances")
	var err error
	if b.net, err = b.network(ctx, "SG_NET", "10.50.0.0/16"); err != nil {
		return err
	}
	if b.ruleSG, err = b.group(ctx, "bench-rule"); err != nil {
		return err
	}
	if b.clientSG, err = b.group(ctx, "bench-client"); err != nil {
		return err
	}
	if _, err := b.rule(ctx, b.ruleSG, map[string]any{"remote_group_id": b.clientSG}); err != nil {
		return err
	}
	boot := func(name, host string, groups []string) (*sandbox.Instance, error) {
		return b.st.Boot(ctx, sandbox.BootOptions{Name: name, Network: b.net, Host: host, SecurityGroups: groups})
	}
	if b.tp1, err = boot("TP1", "compute1", nil); err != nil {
		return err
	}
	if b.tp2, err = boot("TP2", "compute2", nil); err != nil {
		return err
	}
	if b.target, err = boot("TARGET", "compute1", []string{b.ruleSG}); err != nil {
		return err
	}
	if b.prober, err = boot("PROBE", "compute2", nil); err != nil {
		return err
	}
	var p struct {
		Port struct {
			SGs []string `json:"security_groups"`
		} `json:"port"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "/v2.0/ports/"+b.tp1.PortID, nil, &p); err != nil {
		return err
	}
	if len(p.Port.SGs) != 1 {
		return fmt.Errorf("TP1's port has groups %v, want its project's default group", p.Port.SGs)
	}
	b.defaultSG = p.Port.SGs[0]
	if b.targetIP, err = addrOf(b.target); err != nil {
		return err
	}
	if b.tp2Addr, err = addrOf(b.tp2); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := probe.PingUntil(pctx, b.tp1.Netns, b.tp2Addr, 20*time.Millisecond); err != nil {
		return fmt.Errorf("TP1 -> TP2 (both in default): %w", err)
	}
	return nil
}

// group creates a security group and returns its id.
func (b *sgBed) group(ctx context.Context, name string) (string, error) {
	g, err := b.create(ctx, "security-groups", "security_group", map[string]any{"name": name})
	if err != nil {
		return "", err
	}
	return g["id"].(string), nil
}

// rule creates an IPv4 ingress rule in group and returns its id.
func (b *sgBed) rule(ctx context.Context, group string, attrs map[string]any) (string, error) {
	body := map[string]any{"security_group_id": group, "direction": "ingress", "ethertype": "IPv4"}
	for k, v := range attrs {
		body[k] = v
	}
	r, err := b.create(ctx, "security-group-rules", "security_group_rule", body)
	if err != nil {
		return "", err
	}
	return r["id"].(string), nil
}

// setPort updates a port's attributes.
func (b *sgBed) setPort(ctx context.Context, id string, attrs map[string]any) error {
	return b.api.Do(ctx, http.MethodPut, "/v2.0/ports/"+id, map[string]any{"port": attrs}, nil)
}

// blocked waits until dst has not answered from ns for a whole second.
func blocked(ctx context.Context, ns string, dst netip.Addr, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := probe.PingUntil(pctx, ns, dst, 50*time.Millisecond)
		cancel()
		if err != nil {
			return nil // a second without a reply
		}
	}
	return fmt.Errorf("%s still answers after %s", dst, timeout)
}

// SGThroughput is the filtered/unfiltered iperf3 comparison.
type SGThroughput struct {
	Skipped    string    `json:"skipped,omitempty"`
	Error      string    `json:"error,omitempty"`
	Seconds    float64   `json:"seconds,omitempty"`
	Filtered   []float64 `json:"filtered_gbps,omitempty"`
	Unfiltered []float64 `json:"unfiltered_gbps,omitempty"`
	// Means and their ratio filtered / unfiltered.
	FilteredGbps   float64 `json:"filtered_mean_gbps,omitempty"`
	UnfilteredGbps float64 `json:"unfiltered_mean_gbps,omitempty"`
	Ratio          float64 `json:"ratio,omitempty"`
}

// throughput alternates iperf3 runs TP1 -> TP2 with port security on
// (default group) and off.
func (b *sgBed) throughput(ctx context.Context) SGThroughput {
	if b.o.Throughput <= 0 {
		return SGThroughput{Skipped: "not asked for"}
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		return SGThroughput{Skipped: "iperf3 is not installed"}
	}
	res := SGThroughput{Seconds: b.o.Throughput.Seconds()}
	ports := []string{b.tp1.PortID, b.tp2.PortID}
	filter := func(on bool) error {
		for _, id := range ports {
			var err error
			if on {
				err = b.setPort(ctx, id, map[string]any{"port_security_enabled": true, "security_groups": []string{b.defaultSG}})
			} else if err = b.setPort(ctx, id, map[string]any{"security_groups": []string{}}); err == nil {
				err = b.setPort(ctx, id, map[string]any{"port_security_enabled": false})
			}
			if err != nil {
				return err
			}
		}
		// Let both hosts apply: a short pause, then a working path.
		time.Sleep(2 * time.Second)
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		return probe.PingUntil(pctx, b.tp1.Netns, b.tp2Addr, 20*time.Millisecond)
	}
	for round := 0; round < b.o.Rounds; round++ {
		for _, on := range []bool{true, false} {
			if err := filter(on); err != nil {
				res.Error = fmt.Sprintf("port security %v: %v", on, err)
				return res
			}
			b.logf("iperf3 %s TP1 (compute1) -> TP2 (compute2), filtered %v", b.o.Throughput, on)
			g, err := iperf(ctx, b.tp2.Netns, b.tp1.Netns, b.tp2Addr, b.o.Throughput)
			if err != nil {
				res.Error = err.Error()
				return res
			}
			b.logf("  %.2f Gbit/s", g)
			if on {
				res.Filtered = append(res.Filtered, g)
			} else {
				res.Unfiltered = append(res.Unfiltered, g)
			}
		}
	}
	res.FilteredGbps, res.UnfilteredGbps = mean(res.Filtered), mean(res.Unfiltered)
	if res.UnfilteredGbps > 0 {
		res.Ratio = res.FilteredGbps / res.UnfilteredGbps
	}
	return res
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
