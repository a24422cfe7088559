package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// DVRDefinition says what `neutrino bench dvr` measures.
const DVRDefinition = `Distributed (DVR) router data plane, in a fresh sandbox (network1 in
dvr_snat mode, compute1 and compute2 in dvr mode), one run:

  throughput: iperf3 TCP, same run, each path for the same time:
      VXLAN        two instances of one network, compute1 -> compute2
                   (the same-network path every ratio is relative to);
      legacy E-W   a legacy router on network1 between two networks,
                   compute1 -> network1 -> compute2;
      legacy FIP   internet host -> floating IP of an instance on
                   compute1 through the legacy router (network1 NAT);
      DVR E-W      two networks of a distributed router, compute1 ->
                   compute2 (routed on compute1, then VXLAN);
      DVR FIP      internet host -> floating IP of an instance on
                   compute1 (fip- and qrouter- namespaces of compute1).
      Each DVR path is printed as a ratio to VXLAN and to its legacy
      counterpart (E-W to legacy E-W, FIP to legacy FIP).
  interface add -> first routed packet on every host with an instance:
      DMZ has an instance on compute1 and one on compute2 and is not
      attached; from just before PUT add_router_interface until each of
      them gets an answer (ping every 2 ms) from the instance on APPS
      (attached, on compute1); per host and for the last of the two.
      The interface is removed again between runs (and the instances'
      neighbour entries for the gateway flushed). Measured twice: as is
      (the instance's first ARP request for its gateway may go out
      before the gateway exists, and its retransmission timer is 1 s),
      and with raw ARP requests for the gateway every 2 ms before the
      pings (the router's own delay).
  floating IP associate -> first packet on a compute: from just before
      PUT floatingip (port_id, a port on compute1) until a TCP
      connection from the internet host to the floating IP reaches the
      instance (a new connection every 1 ms); the floating IP is
      disassociated between runs. Measured with 1, 1,000 and 5,000
      other floating IPs already served by compute1: ports bound to
      compute1 (binding:host_id, no taps) on a /16 subnet of the router,
      floating IPs from a second subnet of EXT_NET (100.64.0.0/16); the
      count is checked in compute1's qrouter- fip_dnat map before each
      scale is measured.`

// DVROptions size the DVR benchmark.
type DVROptions struct {
	IfaceRuns  int           // interface adds
	FIPRuns    int           // associations per scale
	Scales     []int         // floating IPs already on the compute
	Throughput time.Duration // iperf3 time per path; 0 = skip
	Rounds     int           // iperf3 runs per path (the median is reported)
	Chunk      int           // ports per bulk create while populating
	Sandbox    SandboxOptions
	Progress   io.Writer
}

// DefaultDVR is the size the figures refer to.
func DefaultDVR() DVROptions {
	return DVROptions{IfaceRuns: 20, FIPRuns: 10, Scales: []int{1, 1000, 5000}, Throughput: 5 * time.Second, Rounds: 3, Chunk: 40}
}

// dvrBed is the benchmark's topology (see setup).
type dvrBed struct {
	*benchBed
	o                   DVROptions
	ext, extSub, bigExt string
	dvr, legacy         string // router ids
	dmzSub, bigNet      string
	// Instances: APPS (DVR) on both computes, WEB (DVR) and DMZ (DVR,
	// attached only while measured) on compute2 and both, LA and LB
	// (legacy router) on compute1 and compute2.
	apps1, apps1b, apps2, web2, dmz1, dmz2, la1, lb2 *sandbox.Instance
	dmzGateway                                       netip.Addr
	// APPS1's floating IP from EXT_SUBNET (throughput, then associate).
	appsFIP   netip.Addr
	appsFIPID string
}

func (b *dvrBed) logf(format string, args ...any) { progressf(b.o.Progress, format, args...) }

// RunDVR runs the DVR benchmark in a fresh sandbox. A part that fails
// leaves its error in the report and the others still run; the error
// returned then joins them (the report is returned too).
func RunDVR(ctx context.Context, o DVROptions) (*DVRReport, error) {
	d := DefaultDVR()
	unsetTo(&o.IfaceRuns, d.IfaceRuns)
	unsetTo(&o.FIPRuns, d.FIPRuns)
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
	b := &dvrBed{benchBed: bb, o: o}
	if err := b.setup(ctx); err != nil {
		b.diagnose("setup")
		return nil, err
	}
	rep := &DVRReport{}
	ps := &parts{logf: b.logf, diagnose: b.diagnose}
	rep.Throughput = b.throughput(ctx)
	for _, p := range rep.Throughput.Paths {
		if p.Error != "" {
			ps.fail("throughput "+p.Name, errors.New(p.Error))
		}
	}
	if rep.InterfaceAdd, err = b.interfaceAdd(ctx, false); err != nil {
		rep.InterfaceAddError = ps.fail("interface add", err)
	} else if rep.InterfaceAddARP, err = b.interfaceAdd(ctx, true); err != nil {
		rep.InterfaceAddError = ps.fail("interface add (ARP probes first)", err)
	}
	if rep.FIP, err = b.fipScales(ctx); err != nil {
		rep.FIPError = ps.fail("floating IP associate", err)
	}
	rep.ratios()
	return rep, ps.err()
}

// setup: EXT_NET (203.0.113.0/24, then 100.64.0.0/16), a distributed
// router and a legacy one, both with a gateway; APPS, WEB and BIG
// attached to the distributed router, DMZ not; LA and LB attached to the
// legacy router; the instances; then it waits until every path answers.
func (b *dvrBed) setup(ctx context.Context) error {
	b.logf("setting up: external network, a distributed and a legacy router, networks, instances")
	if err := b.external(ctx); err != nil {
		return err
	}
	var err error
	if b.dvr, err = b.router(ctx, "DVR-ROUTER", true); err != nil {
		return err
	}
	if b.legacy, err = b.router(ctx, "LEGACY-ROUTER", false); err != nil {
		return err
	}
	// The second external subnet, after the gateways took their addresses.
	s, err := b.create(ctx, "subnets", "subnet", map[string]any{"name": "EXT_SCALE", "network_id": b.ext, "ip_version": 4,
		"cidr": "100.64.0.0/16", "gateway_ip": nil, "enable_dhcp": false})
	if err != nil {
		return err
	}
	b.bigExt = s["id"].(string)
	type nw struct {
		name, cidr, router string
		dhcp               bool
		id, sub            *string
	}
	var apps, web, dmz, la, lb, bigSub string
	for _, n := range []nw{
		{"APPS_NET", "10.241.0.0/22", b.dvr, true, &apps, nil},
		{"WEB_NET", "10.243.0.0/24", b.dvr, true, &web, nil},
		{"DMZ_NET", "10.242.0.0/22", "", true, &dmz, &b.dmzSub},
		{"BIG_NET", "10.100.0.0/16", b.dvr, false, &b.bigNet, &bigSub},
		{"LA_NET", "10.231.0.0/24", b.legacy, true, &la, nil},
		{"LB_NET", "10.232.0.0/24", b.legacy, true, &lb, nil},
	} {
		id, sub, err := b.subnet(ctx, n.name, n.cidr, n.dhcp)
		if err != nil {
			return err
		}
		*n.id = id
		if n.sub != nil {
			*n.sub = sub
		}
		if n.router != "" {
			if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+n.router+"/add_router_interface", map[string]any{"subnet_id": sub}, nil); err != nil {
				return fmt.Errorf("attach %s: %w", n.name, err)
			}
		}
	}
	b.dmzGateway = netip.MustParseAddr("10.242.0.1")
	for _, in := range []struct {
		name, net, host string
		to              **sandbox.Instance
	}{
		{"APPS1", apps, "compute1", &b.apps1}, {"APPS1B", apps, "compute1", &b.apps1b}, {"APPS2", apps, "compute2", &b.apps2},
		{"WEB2", web, "compute2", &b.web2},
		{"DMZ1", dmz, "compute1", &b.dmz1}, {"DMZ2", dmz, "compute2", &b.dmz2},
		{"LA1", la, "compute1", &b.la1}, {"LB2", lb, "compute2", &b.lb2},
	} {
		if *in.to, err = b.st.Boot(ctx, sandbox.BootOptions{Name: in.name, Network: in.net, Host: in.host}); err != nil {
			return err
		}
	}
	if err := b.openIngress(ctx); err != nil {
		return err
	}
	return b.ready(ctx)
}

// external creates EXT_NET and its first subnet and lifts the quotas.
func (b *dvrBed) external(ctx context.Context) error {
	n, err := b.create(ctx, "networks", "network", map[string]any{"name": "EXT_NET", "router:external": true,
		"provider:network_type": "flat", "provider:physical_network": sandbox.Physnet})
	if err != nil {
		return err
	}
	b.ext = n["id"].(string)
	s, err := b.create(ctx, "subnets", "subnet", map[string]any{"name": "EXT_SUBNET", "network_id": b.ext, "ip_version": 4,
		"cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1", "enable_dhcp": false,
		"allocation_pools": []map[string]string{{"start": "203.0.113.100", "end": "203.0.113.199"}}})
	if err != nil {
		return err
	}
	b.extSub = s["id"].(string)
	if project, _ := n["project_id"].(string); project != "" {
		q := map[string]any{"quota": map[string]any{"port": -1, "floatingip": -1, "network": -1, "subnet": -1, "router": -1}}
		if err := b.api.Do(ctx, http.MethodPut, "/v2.0/quotas/"+project, q, nil); err != nil {
			return fmt.Errorf("quotas: %w", err)
		}
	}
	return nil
}

// router creates a router (distributed or legacy, as admin) with its
// gateway on EXT_SUBNET.
func (b *dvrBed) router(ctx context.Context, name string, distributed bool) (string, error) {
	r, err := b.create(ctx, "routers", "router", map[string]any{"name": name, "distributed": distributed,
		"external_gateway_info": map[string]any{"network_id": b.ext, "external_fixed_ips": []map[string]string{{"subnet_id": b.extSub}}}})
	if err != nil {
		return "", err
	}
	if got, _ := r["distributed"].(bool); got != distributed {
		return "", fmt.Errorf("router %s: distributed is %v, want %v", name, r["distributed"], distributed)
	}
	return r["id"].(string), nil
}

// subnet creates a network with one IPv4 subnet.
func (b *dvrBed) subnet(ctx context.Context, name, cidr string, dhcp bool) (netID, subID string, err error) {
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

// ready waits until the east-west paths answer (the north-south ones
// are waited for where they are used).
func (b *dvrBed) ready(ctx context.Context) error {
	for _, p := range []struct {
		what     string
		from, to *sandbox.Instance
	}{
		{"same network APPS1 -> APPS2", b.apps1, b.apps2},
		{"same network and host APPS1 -> APPS1B", b.apps1, b.apps1b},
		{"legacy router LA1 -> LB2", b.la1, b.lb2},
		{"distributed router APPS1 -> WEB2", b.apps1, b.web2},
	} {
		if err := b.pingInstance(ctx, p.from, p.to, 30*time.Second); err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	return nil
}

// pingInstance pings to's address from from until an answer.
func (b *dvrBed) pingInstance(ctx context.Context, from, to *sandbox.Instance, timeout time.Duration) error {
	dst, err := addrOf(to)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := probe.PingUntil(pctx, from.Netns, dst, 20*time.Millisecond); err != nil {
		return fmt.Errorf("%s (%s) -> %s (%s): %w", from.Name, from.Host, dst, to.Host, err)
	}
	return nil
}

// hostNS is the namespace an agent of the sandbox names name on host.
func (b *dvrBed) hostNS(name, host string) string {
	return name + sandbox.AgentSuffix(b.st.Prefix, host)
}

func nsExists(ns string) bool {
	_, err := os.Stat(probe.Path(ns))
	return err == nil
}

// qrouterNS is the distributed router's qrouter- namespace on host.
func (b *dvrBed) qrouterNS(host string) string { return b.hostNS("qrouter-"+b.dvr, host) }

// fipNS is the external network's fip- namespace on host.
func (b *dvrBed) fipNS(host string) string { return b.hostNS("fip-"+b.ext, host) }
