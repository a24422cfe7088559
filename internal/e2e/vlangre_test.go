package e2e_test

// End-to-end tests of VLAN and GRE networks (issue 16): the legacy L3
// walkthrough as written (VLAN 1998 external network, two GRE tenant
// networks), DVR over VLAN tenant networks, and, on a kernel without
// 802.1Q and GRE, the binding failure of their ports. The first two need
// a kernel with the 8021q and ip_gre modules (the VM tier) and skip,
// naming the missing one, elsewhere; the last needs a kernel without
// them and skips on one that has them.

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/kernelfeat"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// The walkthrough's provider physnet, and the DVR test's VLAN physnet:
// both on every host's eth1 (the external fabric).
const (
	walkthroughPhysnet = "ph-eth0"
	tenantVLANPhysnet  = "vlan"
)

// TestVLANGRELegacyWalkthrough builds legacy-l3-agent-and-floating-ips
// as written: GATEWAY_NET, VLAN 1998 on ph-eth0, 192.168.100.0/22
// (gateway 192.168.100.1: the upstream router's VLAN 1998
// sub-interface, pool 192.168.101.1-192.168.103.254); APPS_NET
// 10.241.0.0/22 (GRE 10) and DMZ_NET 10.242.0.0/22 (GRE 20) behind one
// legacy router on network1; APPS_INSTANCE on compute1, DMZ_INSTANCE on
// compute2. The instances reach each other through the router, reach
// the internet host with the gateway address as source (SNAT), and
// APPS's floating IP answers from upstream. network1's external
// interface carries the router's frames tagged 1998, its tunnel
// interface the tenant frames in GRE with key 10 and 20.
func TestVLANGRELegacyWalkthrough(t *testing.T) {
	testutil.RequireKernel(t, "vlan", "gretap")
	b := testbed.Up(t, 2, testbed.Options{Quiet: true, VLANPhysnets: []string{walkthroughPhysnet}})
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "compute1", "compute2")
	b.UpstreamVLAN(1998, netip.MustParsePrefix("192.168.100.1/22"))
	ext := b.CreateVLANExternalNetwork("GATEWAY_NET", walkthroughPhysnet, 1998, "192.168.100.0/22", "192.168.100.1", "192.168.101.1", "192.168.103.254")
	r := b.CreateRouter("NEUTRON-ROUTER", ext.ID, nil)
	if !r.GatewayIP.IsValid() || !ext.CIDR.Contains(r.GatewayIP) {
		t.Fatalf("router %s gateway address %s, want one in %s", r.ID, r.GatewayIP, ext.CIDR)
	}
	apps := b.CreateProviderNetwork("APPS_NET", "gre", "", 10, "10.241.0.0/22")
	dmz := b.CreateProviderNetwork("DMZ_NET", "gre", "", 20, "10.242.0.0/22")
	for _, n := range []testbed.Network{apps, dmz} {
		// 1500 on the underlay less GRE's 42 bytes (IPv4 20, GRE with
		// key 8, inner Ethernet 14), as upstream.
		if n.MTU != 1458 {
			t.Errorf("%s mtu %d, want 1458", n.Name, n.MTU)
		}
	}
	b.AddRouterInterface(r.ID, apps.SubnetID)
	b.AddRouterInterface(r.ID, dmz.SubnetID)
	ns := b.RouterNS(r.ID)

	// The router's gateway answers the upstream router on VLAN 1998.
	upstreamGW := netip.MustParseAddr("192.168.100.1")
	if err := b.Ping(ns, upstreamGW, 30*time.Second); err != nil {
		t.Fatalf("router namespace -> upstream 192.168.100.1 on VLAN 1998: %v", err)
	}

	appsVM := b.Boot("APPS_INSTANCE", "APPS_NET", "compute1")
	dmzVM := b.Boot("DMZ_INSTANCE", "DMZ_NET", "compute2")
	openIngress(b, appsVM.PortID) // the project's default group: DMZ's too
	appsIP, dmzIP := testbed.Addr(appsVM), testbed.Addr(dmzVM)

	tunnel := b.CaptureHost(sandbox.NodeNetwork1, sandbox.HostTunnelIf, sandbox.HostExternalIf)
	b.MustPing("APPS_INSTANCE", dmzIP)
	b.MustPing("DMZ_INSTANCE", appsIP)
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	for _, vm := range []string{"APPS_INSTANCE", "DMZ_INSTANCE"} {
		if got := sourceSeen(t, b, srv, vm, 10*time.Second); got != r.GatewayIP {
			t.Errorf("%s -> internet host: source %s, want the router's gateway address %s", vm, got, r.GatewayIP)
		}
	}
	fip := b.CreateFloatingIP(ext.ID, appsVM.PortID, nil)
	if !ext.CIDR.Contains(fip.Addr) {
		t.Errorf("floating IP %s not in GATEWAY_NET %s", fip.Addr, ext.CIDR)
	}
	if err := b.Ping(sandbox.NodeUpstream, fip.Addr, 20*time.Second); err != nil {
		t.Errorf("upstream -> APPS's floating IP %s: %v", fip.Addr, err)
	}
	b.MustPing(sandbox.NodeInternet, fip.Addr)

	frames := tunnel.Stop()
	ext1998 := testbed.Matching(frames[sandbox.HostExternalIf], "vlan 1998", "ICMP")
	gre10 := testbed.Matching(frames[sandbox.HostTunnelIf], "gre key 10:", "ICMP "+appsIP.String()+" > "+dmzIP.String())
	gre20 := testbed.Matching(frames[sandbox.HostTunnelIf], "gre key 20:", "ICMP "+appsIP.String()+" > "+dmzIP.String())
	t.Logf("network1 %s: %d ICMP frames tagged 1998; %s: %d APPS->DMZ ICMP in GRE key 10, %d in key 20",
		sandbox.HostExternalIf, ext1998, sandbox.HostTunnelIf, gre10, gre20)
	if ext1998 == 0 {
		t.Errorf("no ICMP frame tagged VLAN 1998 on network1's %s:\n%s", sandbox.HostExternalIf, probe.Summarize(frames[sandbox.HostExternalIf]))
	}
	if gre10 == 0 || gre20 == 0 {
		t.Errorf("APPS -> DMZ not seen in GRE key 10 (in: %d) and key 20 (out: %d) on network1's %s:\n%s",
			gre10, gre20, sandbox.HostTunnelIf, probe.Summarize(frames[sandbox.HostTunnelIf]))
	}
	if n := testbed.Matching(frames[sandbox.HostTunnelIf], "vxlan"); n > 0 {
		t.Errorf("%d VXLAN frames on network1's tunnel interface; the tenant networks are GRE", n)
	}
}

// TestDVRVLANTenant: a distributed router between two VLAN tenant
// networks (physnet "vlan", VLANs 2001 and 2002) with an instance on
// each of two computes and a floating IP: east-west and the floating IP
// work, and the routed frames each compute puts on the VLAN carry that
// compute's DVR MAC as source, never the gateway's (every compute has
// the gateway MAC on its own qr- device).
func TestDVRVLANTenant(t *testing.T) {
	testutil.RequireKernel(t, "vlan")
	b := testbed.Up(t, 2, testbed.Options{Quiet: true, VLANPhysnets: []string{tenantVLANPhysnet}})
	b.AddIngressRules()
	p := dvrAcross(t, b, "vlan", tenantVLANPhysnet, 2001, 2002, sandbox.HostExternalIf)
	st := pingCount(t, b, "vlan-instance1", p.ip2, 20, 50*time.Millisecond)
	if len(st.Lost) > 0 {
		t.Errorf("east-west: %s", st)
	}
	out1, out2 := p.stop()
	// compute1 routes the requests (onto VLAN 2002), compute2 the
	// replies (onto VLAN 2001).
	mac1 := routedSources(out1, 2002, p.ip1, p.ip2)
	mac2 := routedSources(out2, 2001, p.ip2, p.ip1)
	t.Logf("routed sources: compute1 on VLAN 2002 %v, compute2 on VLAN 2001 %v (gateway MACs %s, %s)", mac1, mac2, p.gw1, p.gw2)
	p.checkSources(t, mac1, mac2)
	for host, frames := range map[string][]probe.Frame{"compute1": out1, "compute2": out2} {
		for _, f := range frames {
			if !f.Outgoing || len(f.Data) < 12 {
				continue
			}
			if src := net.HardwareAddr(f.Data[6:12]).String(); src == p.gw1 || src == p.gw2 {
				t.Errorf("%s sent a frame with the gateway MAC %s as source: %s", host, src, probe.Describe(f))
			}
		}
	}

	fip := b.CreateFloatingIP(p.extID, p.vm1PortID, nil)
	if err := b.Ping(sandbox.NodeInternet, fip.Addr, 20*time.Second); err != nil {
		t.Errorf("internet -> floating IP %s of vlan-instance1: %v", fip.Addr, err)
	}
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	if got := sourceSeen(t, b, srv, "vlan-instance1", 10*time.Second); got != fip.Addr {
		t.Errorf("vlan-instance1 -> internet: source %s, want its floating IP %s", got, fip.Addr)
	}
}

// routedSources are the distinct source MACs of the ICMP frames from src
// to dst a host sent tagged with vid.
func routedSources(frames []probe.Frame, vid int, src, dst netip.Addr) []string {
	var out []string
	want := "ICMP " + src.String() + " > " + dst.String()
	for _, f := range frames {
		if v, ok := f.VLANTag(); !f.Outgoing || !ok || v != vid || !strings.Contains(probe.Describe(f), want) {
			continue
		}
		mac := net.HardwareAddr(f.Data[6:12]).String()
		if !containsStr(out, mac) {
			out = append(out, mac)
		}
	}
	return out
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// checkDVRSources wants exactly one source MAC for a host's routed
// frames: a DVR MAC (the server's dvr_base_mac fa:16:3f), not a gateway
// MAC.
func checkDVRSources(t *testing.T, host string, macs []string, gateways ...string) {
	t.Helper()
	if len(macs) != 1 {
		t.Errorf("%s: routed frames with source MACs %v, want exactly one (its DVR MAC)", host, macs)
		return
	}
	if containsStr(gateways, macs[0]) || !strings.HasPrefix(macs[0], "fa:16:3f:") {
		t.Errorf("%s: routed frames leave with source %s, want the host's DVR MAC (fa:16:3f:…), never a gateway MAC %v", host, macs[0], gateways)
	}
}

// TestVLANGREBindingFailed: on a kernel without 802.1Q and GRE, VLAN and
// GRE networks are still created by the API, and the ports a host is
// given on them fail to bind there (binding:vif_type binding_failed,
// DOWN), with one log line per missing feature in the host's agent log,
// not one per port. A centralized router's interface on the GRE network
// fails to bind on network1 the same way, while its interface on a
// VXLAN network comes up: its namespace converges (no retry with
// backoff). Needs a kernel without 8021q and ip_gre: skips on one that
// has them (the VM tier).
func TestVLANGREBindingFailed(t *testing.T) {
	testbed.RequireRoot(t)
	requireKernelWithout(t)
	b := testbed.Up(t, 1, testbed.Options{Quiet: true, VLANPhysnets: []string{tenantVLANPhysnet}})
	vlanNet := b.CreateProviderNetwork("VLAN_NET", "vlan", tenantVLANPhysnet, 2001, "192.168.1.0/24")
	greNet := b.CreateProviderNetwork("GRE_NET", "gre", "", 10, "10.241.0.0/22")
	if greNet.MTU != 1458 {
		t.Errorf("GRE_NET mtu %d, want 1458", greNet.MTU)
	}
	var ports []testbed.Port
	for i, n := range []testbed.Network{vlanNet, vlanNet, greNet, greNet} {
		ports = append(ports, b.CreateBoundPort(fmt.Sprintf("port%d", i), n.ID, "compute1"))
	}
	r := b.CreateRouter("R", "", nil)
	ports = append(ports, testbed.Port{ID: b.AddRouterInterface(r.ID, greNet.SubnetID), Name: "qr on GRE_NET"})
	vxNet := b.CreateNetwork("VX_NET", "10.242.0.0/22", nil)
	qrVX := b.AddRouterInterface(r.ID, vxNet.SubnetID)
	for _, p := range ports {
		b.WaitVIFType(p.ID, model.VIFTypeBindingFailed, 30*time.Second)
		if st := b.Port(p.ID).Status; st != "DOWN" {
			t.Errorf("port %s status %s, want DOWN", p.Name, st)
		}
	}
	b.WaitPortStatus(qrVX, "ACTIVE", 30*time.Second)
	if log := b.AgentLog("network1"); strings.Contains(log, "namespace not converged") {
		t.Errorf("network1 retries a namespace:\n%s", testbed.LastLines(log, 40))
	}
	log := b.AgentLog("compute1")
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "kernel lacks") {
			t.Logf("compute1: %s", line)
		}
	}
	for _, reason := range []string{l2.LacksVLANReason, l2.LacksGREReason} {
		if n := strings.Count(log, reason); n != 1 {
			t.Errorf("compute1's log names %q %d times, want once:\n%s", reason, n, testbed.LastLines(log, 40))
		}
	}
	// Nothing of the networks on compute1: no bridge, sub-interface or tap.
	h, err := probe.Handle(sandbox.NodeNS(b.Prefix, "compute1"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, dev := range []string{names.Bridge(vlanNet.ID), names.Bridge(greNet.ID), names.VLANSub(sandbox.HostExternalIf, 2001)} {
		if _, err := h.LinkByName(dev); err == nil {
			t.Errorf("compute1 has %s", dev)
		}
	}
}

// requireKernelWithout skips unless the kernel lacks both 802.1Q and
// GRE (probed in a throwaway namespace).
func requireKernelWithout(t *testing.T) {
	t.Helper()
	f := testutil.KernelFeatures(t)
	if !kernelfeat.Missing(f.VLAN) || !kernelfeat.Missing(f.GRE) {
		t.Skipf("kernel has %s or %s (vlan: %v, gre: %v): the binding failure needs a kernel without both",
			kernelfeat.VLANName, kernelfeat.GREName, f.VLAN, f.GRE)
	}
}

// TestDVRVLANExternal: a distributed router whose external network is
// VLAN 1998 on ph-eth0 (the upstream router's sub-interface holds
// 192.168.100.1), a VXLAN tenant network with an instance on each
// compute. compute1's instance has a floating IP, served by compute1's
// fip- namespace: upstream reaches it and its frames leave compute1's
// external interface tagged 1998. compute2's instance has none: its
// traffic leaves through the SNAT namespace on network1 with the
// router's gateway address, tagged 1998 on network1.
func TestDVRVLANExternal(t *testing.T) {
	testutil.RequireKernel(t, "vlan")
	b := testbed.Up(t, 2, testbed.Options{Quiet: true, VLANPhysnets: []string{walkthroughPhysnet}})
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "compute1", "compute2")
	b.UpstreamVLAN(1998, netip.MustParsePrefix("192.168.100.1/22"))
	ext := b.CreateVLANExternalNetwork("GATEWAY_NET", walkthroughPhysnet, 1998, "192.168.100.0/22", "192.168.100.1", "192.168.101.1", "192.168.103.254")
	r := b.CreateDistributedRouter("dvr-vlan-ext", ext.ID)
	if !r.GatewayIP.IsValid() || !ext.CIDR.Contains(r.GatewayIP) {
		t.Fatalf("router %s gateway address %s, want one in %s", r.ID, r.GatewayIP, ext.CIDR)
	}
	n := b.CreateNetwork("net1", "192.168.1.0/24", nil)
	b.AddRouterInterface(r.ID, n.SubnetID)
	vm1 := b.Boot("vm1", "net1", "compute1")
	b.Boot("vm2", "net1", "compute2")
	openIngress(b, vm1.PortID)
	fip := b.CreateFloatingIP(ext.ID, vm1.PortID, nil)

	c1 := b.CaptureHost("compute1", sandbox.HostExternalIf)
	nn := b.CaptureHost(sandbox.NodeNetwork1, sandbox.HostExternalIf)
	if err := b.Ping(sandbox.NodeUpstream, fip.Addr, 30*time.Second); err != nil {
		t.Fatalf("upstream -> vm1's floating IP %s: %v", fip.Addr, err)
	}
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	if got := sourceSeen(t, b, srv, "vm1", 10*time.Second); got != fip.Addr {
		t.Errorf("vm1 -> internet: source %s, want its floating IP %s", got, fip.Addr)
	}
	if got := sourceSeen(t, b, srv, "vm2", 10*time.Second); got != r.GatewayIP {
		t.Errorf("vm2 -> internet: source %s, want the router's gateway address %s (SNAT on network1)", got, r.GatewayIP)
	}
	f1, fn := c1.Stop()[sandbox.HostExternalIf], nn.Stop()[sandbox.HostExternalIf]
	fipFrames := testbed.Matching(f1, "vlan 1998", fip.Addr.String())
	snatFrames := testbed.Matching(fn, "vlan 1998", r.GatewayIP.String())
	t.Logf("compute1 %s: %d frames of the floating IP tagged 1998; network1: %d frames of the SNAT address tagged 1998",
		sandbox.HostExternalIf, fipFrames, snatFrames)
	if fipFrames == 0 {
		t.Errorf("no frame of the floating IP %s tagged 1998 on compute1's %s:\n%s", fip.Addr, sandbox.HostExternalIf, probe.Summarize(f1))
	}
	if snatFrames == 0 {
		t.Errorf("no frame of the SNAT address %s tagged 1998 on network1's %s:\n%s", r.GatewayIP, sandbox.HostExternalIf, probe.Summarize(fn))
	}
}

// TestDVRGRETenant: a distributed router between two GRE tenant
// networks (keys 30 and 31) with an instance on each of two computes:
// east-west works both ways, and the routed frames each compute sends
// into a GRE tunnel carry that compute's DVR MAC as inner source, never
// a gateway MAC (the rewrite covers the gre- taps as it does VXLAN).
func TestDVRGRETenant(t *testing.T) {
	testutil.RequireKernel(t, "gretap")
	b := testbed.Up(t, 2, testbed.Options{Quiet: true})
	p := dvrAcross(t, b, "gre", "", 30, 31, sandbox.HostTunnelIf)
	out1, out2 := p.stop()
	// compute1 routes the requests (into key 31), compute2 the replies
	// (into key 30).
	mac1 := greRoutedSources(out1, 31, p.ip1, p.ip2)
	mac2 := greRoutedSources(out2, 30, p.ip2, p.ip1)
	t.Logf("routed inner sources: compute1 in key 31 %v, compute2 in key 30 %v (gateway MACs %s, %s)", mac1, mac2, p.gw1, p.gw2)
	p.checkSources(t, mac1, mac2)
}

// dvrPair is a distributed router between two tenant networks of one
// type, <type>-net1 (192.168.1.0/24) and <type>-net2 (192.168.2.0/24),
// with <type>-instance1 on compute1 and <type>-instance2 on compute2,
// and captures of both computes' dev running.
type dvrPair struct {
	extID, vm1PortID string
	ip1, ip2         netip.Addr
	gw1, gw2         string // the router interfaces' (gateway) MACs
	dev              string
	c1, c2           *testbed.HostCapture
}

// dvrAcross builds a dvrPair with segmentation ids seg1 and seg2 and
// checks east-west both ways (the first ping waits for the data plane).
func dvrAcross(t *testing.T, b *testbed.Bed, kind, physnet string, seg1, seg2 int, dev string) dvrPair {
	t.Helper()
	dumpOnFailure(t, b, sandbox.NodeNetwork1, "compute1", "compute2")
	ext := b.CreateExternalNetwork("ext-net", "203.0.113.0/24", "203.0.113.1", "203.0.113.101", "203.0.113.200")
	r := b.CreateDistributedRouter("dvr-"+kind+"-router", ext.ID)
	net1 := b.CreateProviderNetwork(kind+"-net1", kind, physnet, seg1, "192.168.1.0/24")
	net2 := b.CreateProviderNetwork(kind+"-net2", kind, physnet, seg2, "192.168.2.0/24")
	if1 := b.AddRouterInterface(r.ID, net1.SubnetID)
	if2 := b.AddRouterInterface(r.ID, net2.SubnetID)
	vm1 := b.Boot(kind+"-instance1", kind+"-net1", "compute1")
	vm2 := b.Boot(kind+"-instance2", kind+"-net2", "compute2")
	openIngress(b, vm1.PortID)
	p := dvrPair{extID: ext.ID, vm1PortID: vm1.PortID, ip1: testbed.Addr(vm1), ip2: testbed.Addr(vm2),
		gw1: b.Port(if1).MAC, gw2: b.Port(if2).MAC, dev: dev,
		c1: b.CaptureHost("compute1", dev), c2: b.CaptureHost("compute2", dev)}
	if err := b.Ping(kind+"-instance1", p.ip2, 20*time.Second); err != nil {
		t.Fatalf("%s-instance1 -> %s-instance2: %v", kind, kind, err)
	}
	b.MustPing(kind+"-instance2", p.ip1)
	return p
}

// stop ends the captures and returns compute1's and compute2's frames.
func (p dvrPair) stop() (out1, out2 []probe.Frame) {
	return p.c1.Stop()[p.dev], p.c2.Stop()[p.dev]
}

// checkSources wants each compute's routed frames to carry one DVR MAC,
// its own: not a gateway MAC, not the other compute's.
func (p dvrPair) checkSources(t *testing.T, mac1, mac2 []string) {
	t.Helper()
	checkDVRSources(t, "compute1", mac1, p.gw1, p.gw2)
	checkDVRSources(t, "compute2", mac2, p.gw1, p.gw2)
	if len(mac1) == 1 && len(mac2) == 1 && mac1[0] == mac2[0] {
		t.Errorf("compute1 and compute2 route with the same source MAC %s: want each host's own DVR MAC", mac1[0])
	}
}

// greRoutedSources are the distinct inner source MACs of the ICMP
// frames from src to dst a host sent into GRE with key.
func greRoutedSources(frames []probe.Frame, key uint32, src, dst netip.Addr) []string {
	var out []string
	want := "ICMP " + src.String() + " > " + dst.String()
	for _, f := range frames {
		inner, k, hasKey, ok := f.GREInner()
		if !f.Outgoing || !ok || !hasKey || k != key || len(inner) < 14 || !strings.Contains(probe.Describe(f), want) {
			continue
		}
		if mac := net.HardwareAddr(inner[6:12]).String(); !containsStr(out, mac) {
			out = append(out, mac)
		}
	}
	return out
}
