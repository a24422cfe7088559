package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// LegacyDefinition says what `neutrino bench legacy` measures.
const LegacyDefinition = `Legacy (centralized) router data plane, in a fresh sandbox (network1 hosts
the router; instances on compute1 and compute2):

  interface add -> first routed packet: from just before PUT
      add_router_interface until an instance on that subnet (booted before
      the interface existed) gets an answer from an instance on another,
      already attached subnet; it pings every 2 ms. The interface is
      removed again between runs (and the instance's neighbour entry for
      its gateway flushed).
  floating IP associate -> first packet: from just before PUT floatingip
      (port_id) until a TCP connection from the internet host to the
      floating IP reaches the instance (a new connection every 1 ms, each a
      new conntrack entry); the floating IP is disassociated between runs.
      Measured with 1, 1,000 and 5,000 other floating IPs already
      associated on the same router (from a second subnet of EXT_NET,
      100.64.0.0/16, to ports of a /16 tenant subnet).
  throughput: iperf3 TCP from the internet host to the floating IP of an
      instance running iperf3 -s (upstream, external bridge, router with
      DNAT/SNAT, VXLAN to compute1: APPS), next to iperf3 between two namespaces
      joined by one veth pair, same run.`

// LegacyOptions size the legacy router benchmark.
type LegacyOptions struct {
	Runs       int           // interface adds, and associations per scale
	Scales     []int         // floating IPs already associated
	Throughput time.Duration // iperf3 time per path; 0 = skip
	Chunk      int           // ports per bulk create while populating
	Sandbox    SandboxOptions
	Progress   io.Writer
}

// DefaultLegacy is the size the figures refer to.
func DefaultLegacy() LegacyOptions {
	return LegacyOptions{Runs: 10, Scales: []int{1, 1000, 5000}, Throughput: 5 * time.Second, Chunk: 40}
}

// FIPScale is the associate latency with Existing floating IPs in place.
type FIPScale struct {
	Existing int  `json:"existing_fips"`
	Dist     Dist `json:"associate_to_first_packet"`
	// Ratio is this p50 over the first scale's p50.
	Ratio float64 `json:"ratio_to_first"`
}

// Throughput is the iperf3 comparison.
type Throughput struct {
	Skipped    string  `json:"skipped,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
	DirectGbps float64 `json:"direct_veth_gbps,omitempty"`
	RouterGbps float64 `json:"router_nat_gbps,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
}

// LegacyReport is the outcome of RunLegacy.
type LegacyReport struct {
	InterfaceAdd Dist `json:"interface_add_to_first_routed_packet"`
	// InterfaceAddARP probes with raw ARP requests for the gateway first
	// (every 2 ms, leaving the instance's neighbour table alone), then
	// pings: without the instance's own ARP retransmission timer (1 s).
	// (InterfaceAdd no longer waits for that timer either: the compute
	// host's bridge announces its new answer for the gateway, which
	// resolves the instance's pending request.)
	InterfaceAddARP Dist       `json:"interface_add_to_first_routed_packet_arp_probe"`
	FIP             []FIPScale `json:"floating_ip_associate"`
	Throughput      Throughput `json:"throughput"`
}

// legacyBed is the benchmark's topology.
type legacyBed struct {
	*benchBed
	o                         LegacyOptions
	ext, extSub, bigExtSub    string
	router                    string
	appsSub, dmzNet, dmzSub   string
	bigNet, bigSub            string
	apps, dmz                 *sandbox.Instance
	appsIP, dmzIP, dmzGateway netip.Addr
	projectID                 string
}

func (b *legacyBed) logf(format string, args ...any) { progressf(b.o.Progress, format, args...) }

// RunLegacy runs the legacy router benchmark in a fresh sandbox.
func RunLegacy(ctx context.Context, o LegacyOptions) (*LegacyReport, error) {
	d := DefaultLegacy()
	unsetTo(&o.Runs, d.Runs)
	if len(o.Scales) == 0 {
		o.Scales = d.Scales
	}
	unsetTo(&o.Chunk, d.Chunk)
	if err := checkScales(o.Scales); err != nil {
		return nil, err
	}
	bb, cleanup, err := upSandbox(ctx, o.Sandbox, o.Progress, 2)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	b := &legacyBed{benchBed: bb, o: o}
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	rep := &LegacyReport{}
	if rep.InterfaceAdd, err = b.interfaceAdd(ctx, false); err != nil {
		return nil, err
	}
	if rep.InterfaceAddARP, err = b.interfaceAdd(ctx, true); err != nil {
		return nil, err
	}
	if rep.FIP, err = b.fipScales(ctx); err != nil {
		return nil, err
	}
	rep.Throughput = b.throughput(ctx)
	return rep, nil
}

// setup: EXT_NET (203.0.113.0/24, then 100.64.0.0/16 for the extra
// floating IPs), a router with its gateway on the first subnet, APPS
// attached with an instance on compute1, DMZ unattached with an
// instance on compute2, and a big /16 tenant subnet attached.
func (b *legacyBed) setup(ctx context.Context) error {
	b.logf("setting up: external network, router, APPS (attached), DMZ (not attached), instances")
	n, err := b.create(ctx, "networks", "network", map[string]any{"name": "EXT_NET", "router:external": true,
		"provider:network_type": "flat", "provider:physical_network": sandbox.Physnet})
	if err != nil {
		return err
	}
	b.ext = n["id"].(string)
	b.projectID, _ = n["project_id"].(string)
	s, err := b.create(ctx, "subnets", "subnet", map[string]any{"name": "EXT_SUBNET", "network_id": b.ext, "ip_version": 4,
		"cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1", "enable_dhcp": false,
		"allocation_pools": []map[string]string{{"start": "203.0.113.100", "end": "203.0.113.199"}}})
	if err != nil {
		return err
	}
	b.extSub = s["id"].(string)
	if b.projectID != "" {
		q := map[string]any{"quota": map[string]any{"port": -1, "floatingip": -1, "network": -1, "subnet": -1, "router": -1}}
		if err := b.api.Do(ctx, http.MethodPut, "/v2.0/quotas/"+b.projectID, q, nil); err != nil {
			return fmt.Errorf("quotas: %w", err)
		}
	}
	r, err := b.create(ctx, "routers", "router", map[string]any{"name": "NEUTRON-ROUTER", "distributed": false})
	if err != nil {
		return err
	}
	b.router = r["id"].(string)
	if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+b.router, map[string]any{"router": map[string]any{
		"external_gateway_info": map[string]any{"network_id": b.ext, "external_fixed_ips": []map[string]string{{"subnet_id": b.extSub}}}}}, nil); err != nil {
		return fmt.Errorf("router gateway: %w", err)
	}
	// The second external subnet, after the gateway took its address.
	s, err = b.create(ctx, "subnets", "subnet", map[string]any{"name": "EXT_SCALE", "network_id": b.ext, "ip_version": 4,
		"cidr": "100.64.0.0/16", "gateway_ip": nil, "enable_dhcp": false})
	if err != nil {
		return err
	}
	b.bigExtSub = s["id"].(string)
	subnet := func(name, cidr string, dhcp bool) (string, string, error) {
		n, err := b.create(ctx, "networks", "network", map[string]any{"name": name})
		if err != nil {
			return "", "", err
		}
		s, err := b.create(ctx, "subnets", "subnet", map[string]any{"name": name + "-v4", "network_id": n["id"], "ip_version": 4, "cidr": cidr, "enable_dhcp": dhcp})
		if err != nil {
			return "", "", err
		}
		return n["id"].(string), s["id"].(string), nil
	}
	var appsNet string
	if appsNet, b.appsSub, err = subnet("APPS_NET", "10.241.0.0/22", true); err != nil {
		return err
	}
	if b.dmzNet, b.dmzSub, err = subnet("DMZ_NET", "10.242.0.0/22", true); err != nil {
		return err
	}
	if b.bigNet, b.bigSub, err = subnet("BIG_NET", "10.100.0.0/16", false); err != nil {
		return err
	}
	for _, sub := range []string{b.appsSub, b.bigSub} {
		if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+b.router+"/add_router_interface", map[string]any{"subnet_id": sub}, nil); err != nil {
			return err
		}
	}
	if b.apps, err = b.st.Boot(ctx, sandbox.BootOptions{Name: "APPS_INSTANCE", Network: appsNet, Host: "compute1"}); err != nil {
		return err
	}
	if b.dmz, err = b.st.Boot(ctx, sandbox.BootOptions{Name: "DMZ_INSTANCE", Network: b.dmzNet, Host: "compute2"}); err != nil {
		return err
	}
	if err := b.openIngress(ctx); err != nil {
		return err
	}
	if b.appsIP, err = addrOf(b.apps); err != nil {
		return err
	}
	if b.dmzIP, err = addrOf(b.dmz); err != nil {
		return err
	}
	b.dmzGateway = netip.MustParseAddr("10.242.0.1")
	// APPS answers through the router before anything is measured.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitFor(wctx, 30*time.Second, func() error {
		h, err := probe.Handle(b.routerNS())
		if err == nil {
			h.Close()
		}
		return err
	}); err != nil {
		return err
	}
	if err := probe.PingUntil(wctx, b.routerNS(), b.appsIP, 100*time.Millisecond); err != nil {
		return fmt.Errorf("router -> APPS: %w", err)
	}
	return nil
}

func (b *legacyBed) routerNS() string {
	return "qrouter-" + b.router + sandbox.AgentSuffix(b.st.Prefix, sandbox.NodeNetwork1)
}

// interfaceAdd measures router add subnet -> first routed packet. With
// arpFirst the instance's gateway is first resolved by raw ARP requests
// (see LegacyReport.InterfaceAddARP).
func (b *legacyBed) interfaceAdd(ctx context.Context, arpFirst bool) (Dist, error) {
	dmzNS := b.dmz.Netns
	var lat []time.Duration
	for i := range b.o.Runs {
		// The instance's neighbour entry for its gateway would name the
		// previous run's router port.
		if err := probe.FlushNeighbour(dmzNS, "eth0", b.dmzGateway); err != nil {
			return Dist{}, err
		}
		start := time.Now()
		var out struct {
			PortID string `json:"port_id"`
		}
		if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+b.router+"/add_router_interface", map[string]any{"subnet_id": b.dmzSub}, &out); err != nil {
			return Dist{}, err
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var err error
		if arpFirst {
			_, err = probe.ARPRequest(pctx, dmzNS, "eth0", b.dmzGateway, 2*time.Millisecond)
		}
		if err == nil {
			err = probe.PingUntil(pctx, dmzNS, b.appsIP, 2*time.Millisecond)
		}
		cancel()
		if err != nil {
			return Dist{}, fmt.Errorf("run %d: DMZ -> APPS after add_router_interface: %w", i, err)
		}
		d := time.Since(start)
		lat = append(lat, d)
		b.logf("interface add %d (arp probe first: %v): first routed packet after %s", i+1, arpFirst, d.Round(100*time.Microsecond))
		if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+b.router+"/remove_router_interface", map[string]any{"subnet_id": b.dmzSub}, nil); err != nil {
			return Dist{}, err
		}
		// Wait until the router's port for DMZ is gone from its namespace.
		if err := waitFor(ctx, 30*time.Second, func() error {
			_, found, err := probe.Link(b.routerNS(), "qr-"+out.PortID[:11])
			if err == nil && found {
				err = errors.New("qr- device still there")
			}
			return err
		}); err != nil {
			return Dist{}, fmt.Errorf("run %d: remove interface: %w", i, err)
		}
	}
	return distOf(lat), nil
}

func waitFor(ctx context.Context, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WriteTable prints the report.
func (r *LegacyReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%-48s %5s %9s %9s %9s %9s\n", "measure", "n", "min ms", "p50 ms", "p90 ms", "max ms")
	row := func(name string, d Dist) {
		fmt.Fprintf(w, "%-48s %5d %9.1f %9.1f %9.1f %9.1f\n", name, d.N, d.MinMs, d.P50Ms, d.P90Ms, d.MaxMs)
	}
	row("router interface add -> first routed packet", r.InterfaceAdd)
	row("  same, gateway resolved by ARP probes first", r.InterfaceAddARP)
	for _, s := range r.FIP {
		row(fmt.Sprintf("FIP associate -> first packet (%d FIPs)", s.Existing), s.Dist)
	}
	if len(r.FIP) > 1 {
		var parts []string
		for _, s := range r.FIP[1:] {
			parts = append(parts, fmt.Sprintf("%d:%d = %.2f", s.Existing, r.FIP[0].Existing, s.Ratio))
		}
		fmt.Fprintf(w, "p50 ratios: %s\n", strings.Join(parts, ", "))
	}
	t := r.Throughput
	if t.Skipped != "" {
		fmt.Fprintf(w, "throughput: skipped (%s)\n", t.Skipped)
	} else {
		fmt.Fprintf(w, "throughput (iperf3 TCP, %gs each): direct veth %.2f Gbit/s, through the router with NAT %.2f Gbit/s, ratio %.2f\n",
			t.Seconds, t.DirectGbps, t.RouterGbps, t.Ratio)
	}
}

// WriteJSON prints the report as JSON.
func (r *LegacyReport) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}
