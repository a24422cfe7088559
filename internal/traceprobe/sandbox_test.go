package traceprobe_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/topology"
	"github.com/neutrino-net/neutrino/internal/trace"
	"github.com/neutrino-net/neutrino/internal/traceprobe"
	"github.com/neutrino-net/neutrino/internal/traceworld"
)

// The sandbox's server and agents are this test binary run again.
func TestMain(m *testing.M) { testbed.Main(m) }

// probeCase is one packet: where it starts, and what the trace's fate
// must say.
type probeCase struct {
	name, from string
	p          trace.Packet
	fate       []string
}

// runCases traces each case through the plans of the sandbox's hosts
// (fetched as neutrino trace does) and sends it for real: the fate must
// name what the case expects and the probe must agree. A probe that
// disagrees is retried for a while: the agents may still be applying.
func runCases(t *testing.T, st *sandbox.State, cases []probeCase) {
	ctx := context.Background()
	rc, err := st.OpenRC("admin")
	if err != nil {
		t.Fatal(err)
	}
	client, err := topology.NetworkClient(ctx, topology.Credentials(rc))
	if err != nil {
		t.Fatal(err)
	}
	w, err := traceworld.Fetch(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		res, port, err := traceworld.Run(w, c.from, c.p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("# %s\n%s", c.name, res)
		for _, want := range c.fate {
			if !strings.Contains(res.Fate, want) {
				t.Errorf("%s: fate %q lacks %q", c.name, res.Fate, want)
			}
		}
		p := c.p
		if !p.Src.IsValid() {
			if port != nil {
				p.Src = port.Addr.Addr()
			} else {
				p.Src = netip.MustParseAddr(c.from)
			}
		}
		var rep traceprobe.Report
		for end := time.Now().Add(20 * time.Second); ; {
			if rep, err = traceprobe.Check(st, port, p, res); err != nil {
				t.Fatalf("%s: probe: %v", c.name, err)
			}
			if rep.Agrees || time.Now().After(end) {
				break
			}
		}
		t.Logf("%s", rep.Text)
		if !rep.Agrees {
			t.Errorf("%s: the probe disagrees with the trace:\n%s%s", c.name, res, rep.Text)
		}
	}
}

// fipOf is the floating IP address of the instance at fixed address ip.
func fipOf(t *testing.T, c *sandbox.Client, ip string) string {
	var r struct {
		FloatingIPs []struct {
			Floating string `json:"floating_ip_address"`
			Fixed    string `json:"fixed_ip_address"`
		} `json:"floatingips"`
	}
	if err := c.Do(context.Background(), "GET", "/v2.0/floatingips", nil, &r); err != nil {
		t.Fatal(err)
	}
	for _, f := range r.FloatingIPs {
		if f.Fixed == ip {
			return f.Floating
		}
	}
	t.Fatalf("no floating IP for %s", ip)
	return ""
}

func instanceIP(t *testing.T, st *sandbox.State, name string) string {
	is, err := st.Instances()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range is {
		if in.Name == name {
			return netip.MustParsePrefix(in.IP).Addr().String()
		}
	}
	t.Fatalf("no instance %s", name)
	return ""
}

// TestTraceProbeDVR runs the DVR walkthrough, then traces and probes:
// east-west across hosts and on one host (demo-instance3 on demo-net2
// on compute1), floating IP out and in, SNAT, a packet the
// security group drops, a spoofed source, and (on a router without a
// gateway) a destination with no route.
func TestTraceProbeDVR(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{Quiet: true})
	st := b.State
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := st.DemoDVR(ctx, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	noRouteInstance(t, ctx, b)
	if _, err := st.Boot(ctx, sandbox.BootOptions{Name: "demo-instance3", Network: "demo-net2", Host: "compute1"}); err != nil {
		t.Fatal(err)
	}
	vm1, vm2, vm3 := instanceIP(t, st, "demo-instance1"), instanceIP(t, st, "demo-instance2"), instanceIP(t, st, "demo-instance3")
	fip := netip.MustParseAddr(fipOf(t, b.API, vm1))
	a := netip.MustParseAddr
	runCases(t, st, []probeCase{
		{"east-west across hosts", vm1, trace.Packet{Dst: a(vm2), Proto: "icmp"}, []string{"delivered to port", "on host compute2"}},
		{"east-west on one host, routed by the local DVR router", vm1, trace.Packet{Dst: a(vm3), Proto: "icmp"}, []string{"delivered to port demo-instance3", "on host compute1"}},
		{"floating IP out", vm1, trace.Packet{Dst: a("198.51.100.10"), Proto: "icmp"}, []string{"leaves the cloud", "on host compute1", "source " + fip.String()}},
		{"SNAT", vm2, trace.Packet{Dst: a("198.51.100.10"), Proto: "tcp", Port: 80}, []string{"leaves the cloud", "on host network1"}},
		{"floating IP in", "198.51.100.10", trace.Packet{Dst: fip, Proto: "icmp"}, []string{"delivered to port", "on host compute1"}},
		{"dropped by the security group", "198.51.100.10", trace.Packet{Dst: fip, Proto: "tcp", Port: 23},
			[]string{"dropped at", `"drop" in chain in-`, "a rule that would: ingress tcp port 23 from 198.51.100.10/32"}},
		{"spoofed source", vm1, trace.Packet{Src: a("192.168.1.250"), Dst: a(vm2), Proto: "icmp"}, []string{"spoofed or not IP", "anti-spoofing"}},
		{"no route", instanceIP(t, st, "nr-instance"), trace.Packet{Dst: a("198.51.100.10"), Proto: "icmp"}, []string{"no route to 198.51.100.10"}},
	})
}

// noRouteInstance adds a network behind a router without a gateway and
// an instance on it (on compute1).
func noRouteInstance(t *testing.T, ctx context.Context, b *testbed.Bed) {
	var nw, sn, rt struct {
		Network, Subnet, Router struct {
			ID string `json:"id"`
		}
	}
	c := b.API
	must := func(err error) {
		if err != nil {
			t.Helper()
			t.Fatal(err)
		}
	}
	must(c.Do(ctx, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "nr-net"}}, &nw))
	must(c.Do(ctx, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": nw.Network.ID, "ip_version": 4, "cidr": "10.50.0.0/24", "name": "nr-subnet"}}, &sn))
	must(c.Do(ctx, "POST", "/v2.0/routers", map[string]any{"router": map[string]any{"name": "nr-router"}}, &rt))
	must(c.Do(ctx, "PUT", "/v2.0/routers/"+rt.Router.ID+"/add_router_interface", map[string]any{"subnet_id": sn.Subnet.ID}, nil))
	if _, err := b.State.Boot(ctx, sandbox.BootOptions{Name: "nr-instance", Network: "nr-net", Host: "compute1"}); err != nil {
		t.Fatal(err)
	}
}

// TestTraceProbeLegacy runs the legacy walkthrough (the floating IP ends
// on DMZ_INSTANCE) and adds a second instance on APPS_NET on compute1,
// then traces and probes: east-west on one host and across hosts
// through the centralized router, floating IP in and out, SNAT, and a
// security-group drop.
func TestTraceProbeLegacy(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{Quiet: true})
	st := b.State
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := st.DemoLegacy(ctx, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	var nets struct {
		Networks []struct {
			ID, Name string
		} `json:"networks"`
	}
	if err := b.API.Do(ctx, "GET", "/v2.0/networks?name=APPS_NET", nil, &nets); err != nil || len(nets.Networks) != 1 {
		t.Fatalf("APPS_NET: %v %v", nets, err)
	}
	if _, err := st.Boot(ctx, sandbox.BootOptions{Name: "APPS_INSTANCE2", Network: nets.Networks[0].ID, Host: "compute1"}); err != nil {
		t.Fatal(err)
	}
	apps, apps2, dmz := instanceIP(t, st, "APPS_INSTANCE"), instanceIP(t, st, "APPS_INSTANCE2"), instanceIP(t, st, "DMZ_INSTANCE")
	fip := netip.MustParseAddr(fipOf(t, b.API, dmz))
	a := netip.MustParseAddr
	runCases(t, st, []probeCase{
		{"east-west on one host", apps, trace.Packet{Dst: a(apps2), Proto: "icmp"}, []string{"delivered to port", "on host compute1"}},
		{"east-west across hosts", apps, trace.Packet{Dst: a(dmz), Proto: "icmp"}, []string{"delivered to port", "on host compute2"}},
		{"floating IP out", dmz, trace.Packet{Dst: a("198.51.100.10"), Proto: "icmp"}, []string{"leaves the cloud", "on host network1", "source " + fip.String()}},
		{"SNAT", apps, trace.Packet{Dst: a("198.51.100.10"), Proto: "udp", Port: 53}, []string{"leaves the cloud", "on host network1"}},
		{"floating IP in", "198.51.100.10", trace.Packet{Dst: fip, Proto: "icmp"}, []string{"delivered to port", "on host compute2"}},
		{"dropped by the security group", "198.51.100.10", trace.Packet{Dst: fip, Proto: "tcp", Port: 23},
			[]string{"dropped at", "a rule that would: ingress tcp port 23 from 198.51.100.10/32"}},
	})
}
