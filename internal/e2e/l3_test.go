package e2e_test

// End-to-end tests of legacy (centralized) routers on network1, after the
// reference walkthrough (neutron-facts/l3-dataplane.md §3): EXT_NET
// 203.0.113.0/24 on the external fabric (upstream 203.0.113.1, the
// internet host 198.51.100.10 behind it), a router with its gateway
// there, APPS 10.241.0.0/22 and DMZ 10.242.0.0/22 attached, an instance
// on each (compute1, compute2). Every check sends real packets.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/metadata"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
)

var internetIP = sandbox.InternetIP

// legacyTopo is the walkthrough's topology in one test's sandbox.
type legacyTopo struct {
	b             *testbed.Bed
	ext           testbed.ExternalNetwork
	r             testbed.Router
	ns            string // the router's namespace on network1
	apps, dmz     testbed.Network
	appsIf, dmzIf string // router interface port ids
	appsVM, dmzVM *sandbox.Instance
	appsIP, dmzIP netip.Addr
}

// upLegacy builds the walkthrough: external network, router with
// gateway, both tenant subnets attached, instances booted (APPS on
// compute1, DMZ on compute2 unless dmz is false).
func upLegacy(t *testing.T, dmz bool) *legacyTopo {
	t.Helper()
	b := testbed.Up(t, 2, testbed.Options{Quiet: true})
	l := &legacyTopo{b: b}
	l.ext = b.CreateExternalNetwork("EXT_NET", "203.0.113.0/24", "203.0.113.1", "203.0.113.100", "203.0.113.199")
	l.r = b.CreateRouter("NEUTRON-ROUTER", l.ext.ID, nil)
	if !l.r.GatewayIP.IsValid() {
		t.Fatalf("router %s has no gateway address", l.r.ID)
	}
	l.ns = b.RouterNS(l.r.ID)
	l.apps = b.CreateNetwork("APPS_NET", "10.241.0.0/22", nil)
	l.dmz = b.CreateNetwork("DMZ_NET", "10.242.0.0/22", nil)
	l.appsIf = b.AddRouterInterface(l.r.ID, l.apps.SubnetID)
	l.dmzIf = b.AddRouterInterface(l.r.ID, l.dmz.SubnetID)
	l.appsVM = b.Boot("APPS_INSTANCE", "APPS_NET", "compute1")
	l.appsIP = testbed.Addr(l.appsVM)
	openIngress(b, l.appsVM.PortID) // the default group, DMZ's too
	if dmz {
		l.dmzVM = b.Boot("DMZ_INSTANCE", "DMZ_NET", "compute2")
		l.dmzIP = testbed.Addr(l.dmzVM)
	}
	return l
}

// sourceSeen connects from node to a banner server on the internet host
// (retrying until timeout) and returns the source address it saw.
func sourceSeen(t *testing.T, b *testbed.Bed, srv *probe.TCPServer, node string, timeout time.Duration) netip.Addr {
	t.Helper()
	var seen netip.AddrPort
	err := testbed.Poll(timeout, 100*time.Millisecond, func() error {
		var err error
		seen, err = b.DialTCP(node, netip.AddrPortFrom(internetIP, srv.Addr.Port()), 2*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("%s -> internet host: %v", node, err)
	}
	return seen.Addr()
}

// waitFIP waits until the internet host gets an answer from the
// floating IP.
func waitFIP(t *testing.T, b *testbed.Bed, fip netip.Addr) {
	t.Helper()
	if err := b.Ping(sandbox.NodeInternet, fip, 20*time.Second); err != nil {
		t.Fatalf("internet -> floating IP: %v", err)
	}
}

// TestL3LegacyRouter: the router namespace holds qg- with the gateway
// address and one qr- per subnet with its gateway address; the
// instances reach each other through it; the gateway address answers
// from the external network; instances without a floating IP reach the
// internet host, which sees the gateway address; metadata goes through
// the router and the backend refuses a forged signature.
func TestL3LegacyRouter(t *testing.T) {
	l := upLegacy(t, true)
	b := l.b

	// Layout of qrouter-<id> on network1.
	want := map[string]string{
		"qg-" + l.r.GatewayPortID[:11]: netip.PrefixFrom(l.r.GatewayIP, 24).String(),
		"qr-" + l.appsIf[:11]:          "10.241.0.1/22",
		"qr-" + l.dmzIf[:11]:           "10.242.0.1/22",
	}
	var links map[string][]netip.Prefix
	testbed.Eventually(t, 30*time.Second, 100*time.Millisecond, "router namespace layout", func() error {
		var err error
		if links, err = testbed.RouterLinks(l.ns); err != nil {
			return err
		}
		var qr, qg int
		for dev := range links {
			switch {
			case strings.HasPrefix(dev, "qr-"):
				qr++
			case strings.HasPrefix(dev, "qg-"):
				qg++
			}
		}
		if qr != 2 || qg != 1 {
			return fmt.Errorf("%d qr- and %d qg- devices, want 2 and 1: %s", qr, qg, testbed.FormatLinks(links))
		}
		for dev, addr := range want {
			if !slices.Contains(links[dev], netip.MustParsePrefix(addr)) {
				return fmt.Errorf("%s lacks %s: %s", dev, addr, testbed.FormatLinks(links))
			}
		}
		return nil
	})
	t.Logf("%s: %s", l.ns, testbed.FormatLinks(links))

	// Routed east-west, both ways.
	b.MustPing("APPS_INSTANCE", l.dmzIP)
	b.MustPing("DMZ_INSTANCE", l.appsIP)
	// The gateway address answers from the external network and beyond.
	b.MustPing(sandbox.NodeUpstream, l.r.GatewayIP)
	b.MustPing(sandbox.NodeInternet, l.r.GatewayIP)

	// SNAT: the internet host sees the gateway address.
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	for _, vm := range []string{"APPS_INSTANCE", "DMZ_INSTANCE"} {
		if got := sourceSeen(t, b, srv, vm, 10*time.Second); got != l.r.GatewayIP {
			t.Errorf("%s -> internet host: source %s, want the router's gateway address %s", vm, got, l.r.GatewayIP)
		}
	}
	// East-west is not translated: DMZ sees APPS's own address.
	dmzSrv := b.ListenTCP("DMZ_INSTANCE", "0.0.0.0:0")
	if seen, err := b.DialTCP("APPS_INSTANCE", netip.AddrPortFrom(l.dmzIP, dmzSrv.Addr.Port()), 5*time.Second); err != nil {
		t.Errorf("APPS -> DMZ over TCP: %v", err)
	} else if seen.Addr() != l.appsIP {
		t.Errorf("APPS -> DMZ: DMZ saw %s, want %s (east-west must not be translated)", seen.Addr(), l.appsIP)
	}

	// Metadata through the router: the instance gets its own id.
	deviceID := b.Port(l.appsVM.PortID).DeviceID
	if deviceID == "" {
		t.Fatal("APPS_INSTANCE's port has no device_id")
	}
	testbed.Eventually(t, 15*time.Second, 200*time.Millisecond, "metadata instance-id", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		code, body, err := b.State.HTTPGet(ctx, "APPS_INSTANCE", "http://169.254.169.254/latest/meta-data/instance-id")
		if err != nil {
			return err
		}
		if code != http.StatusOK || strings.TrimSpace(body) != deviceID {
			return fmt.Errorf("HTTP %d %q, want 200 %s", code, body, deviceID)
		}
		return nil
	})
	// The backend: a forged signature is refused, a real one accepted.
	secret, err := os.ReadFile(filepath.Join(b.Dir, "metadata-secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sig  string
		want int
	}{
		{strings.Repeat("0", 64), http.StatusForbidden},
		{metadata.Sign(string(secret), deviceID+"x"), http.StatusForbidden}, // signed for another id
		{metadata.Sign(string(secret), deviceID), http.StatusOK},
	} {
		code, body, err := metadataDirect(filepath.Join(b.Dir, "metadata.sock"), deviceID, c.sig)
		if err != nil {
			t.Fatalf("direct metadata request: %v", err)
		}
		if code != c.want {
			t.Errorf("direct metadata request with signature %.12s…: HTTP %d %q, want %d", c.sig, code, body, c.want)
		}
	}
}

// metadataDirect sends GET /latest/meta-data/instance-id to the
// sandbox's metadata backend on its Unix socket with the given headers.
func metadataDirect(sock, instanceID, sig string) (int, string, error) {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	req, err := http.NewRequest(http.MethodGet, "http://metadata/latest/meta-data/instance-id", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set(metadata.HeaderInstanceID, instanceID)
	req.Header.Set(metadata.HeaderSignature, sig)
	req.Header.Set(metadata.HeaderForwarded, "10.241.0.99")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// TestL3FloatingIP: the internet host reaches the instance at its
// floating IP (ICMP, TCP), the instance's outbound connections come
// from the floating IP, the router namespace itself reaches it, and a
// re-association moves traffic, an ongoing UDP flow included, leaving no
// conntrack entry that points at the old instance.
func TestL3FloatingIP(t *testing.T) {
	l := upLegacy(t, true)
	b := l.b
	fip := b.CreateFloatingIP(l.ext.ID, l.appsVM.PortID, nil)
	t.Logf("floating IP %s -> APPS %s; DMZ %s; gateway %s", fip.Addr, l.appsIP, l.dmzIP, l.r.GatewayIP)
	waitFIP(t, b, fip.Addr)

	// TCP in: the instance sees the internet host's own address.
	appsTCP := b.ListenTCP("APPS_INSTANCE", "0.0.0.0:2222")
	dmzTCP := b.ListenTCP("DMZ_INSTANCE", "0.0.0.0:2222")
	fipTCP := netip.AddrPortFrom(fip.Addr, 2222)
	if seen, err := b.DialTCP(sandbox.NodeInternet, fipTCP, 5*time.Second); err != nil {
		t.Fatalf("internet -> %s: %v", fipTCP, err)
	} else if seen.Addr() != internetIP || len(appsTCP.Peers()) != 1 {
		t.Errorf("internet -> %s: APPS saw %s (%d connections), want %s", fipTCP, seen, len(appsTCP.Peers()), internetIP)
	}
	// Out: from the floating IP; DMZ (no floating IP) still from the gateway.
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	if got := sourceSeen(t, b, srv, "APPS_INSTANCE", 10*time.Second); got != fip.Addr {
		t.Errorf("APPS -> internet: source %s, want its floating IP %s", got, fip.Addr)
	}
	if got := sourceSeen(t, b, srv, "DMZ_INSTANCE", 10*time.Second); got != l.r.GatewayIP {
		t.Errorf("DMZ -> internet: source %s, want the gateway address %s", got, l.r.GatewayIP)
	}
	// From inside the router namespace (locally generated, nat output).
	if err := b.Ping(l.ns, fip.Addr, 5*time.Second); err != nil {
		t.Errorf("router namespace -> floating IP: %v", err)
	}
	before := len(appsTCP.Peers())
	if _, err := b.DialTCP(l.ns, fipTCP, 5*time.Second); err != nil {
		t.Errorf("router namespace -> %s over TCP: %v", fipTCP, err)
	} else if len(appsTCP.Peers()) != before+1 {
		t.Errorf("router namespace -> %s: APPS got no connection", fipTCP)
	}
	// Hairpin: DMZ reaches APPS's floating IP.
	if err := b.Ping("DMZ_INSTANCE", fip.Addr, 5*time.Second); err != nil {
		t.Errorf("DMZ -> APPS's floating IP (hairpin): %v", err)
	}
	// Over TCP too, with APPS seeing the gateway address (hairpin SNAT):
	// the replies come back to the gateway address and conntrack
	// translates them to the floating IP for DMZ.
	if seen, err := b.DialTCP("DMZ_INSTANCE", fipTCP, 5*time.Second); err != nil {
		t.Errorf("DMZ -> %s over TCP (hairpin): %v", fipTCP, err)
	} else if seen.Addr() != l.r.GatewayIP {
		t.Errorf("DMZ -> %s (hairpin): APPS saw %s, want the gateway address %s", fipTCP, seen, l.r.GatewayIP)
	}

	// An ongoing UDP flow from the internet host to the floating IP.
	appsUDP, err := probe.ListenUDP(b.NS("APPS_INSTANCE"), "0.0.0.0:5000", "apps")
	if err != nil {
		t.Fatal(err)
	}
	defer appsUDP.Close()
	dmzUDP, err := probe.ListenUDP(b.NS("DMZ_INSTANCE"), "0.0.0.0:5000", "dmz")
	if err != nil {
		t.Fatal(err)
	}
	defer dmzUDP.Close()
	flow, err := probe.DialUDP(b.NS(sandbox.NodeInternet), netip.AddrPortFrom(fip.Addr, 5000))
	if err != nil {
		t.Fatal(err)
	}
	defer flow.Close()
	for i := range 5 {
		r, err := flow.Exchange(2 * time.Second)
		if err != nil || r.Name != "apps" || r.Seen != flow.Local {
			t.Fatalf("UDP exchange %d before the move: %+v, %v (want apps, seen %s)", i, r, err, flow.Local)
		}
	}
	ct, err := probe.Conntrack(l.ns)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ct, func(f probe.CTFlow) bool { return towards(f, fip.Addr, 5000, l.appsIP) }) {
		t.Fatalf("no conntrack entry for the UDP flow to %s -> %s before the move: %v", fip.Addr, l.appsIP, ct)
	}

	// Move the floating IP to DMZ while the flow keeps sending every 2 ms.
	start := time.Now()
	b.AssociateFloatingIP(fip.ID, l.dmzVM.PortID)
	api := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	r, err := flow.ProbeUntil(ctx, 2*time.Millisecond, func(r probe.UDPReply) bool { return r.Name == "dmz" })
	cancel()
	if err != nil {
		t.Fatalf("the ongoing UDP flow never reached DMZ after the move: %v (APPS got %d datagrams)", err, appsUDP.Received())
	}
	t.Logf("floating IP moved: the ongoing UDP flow reached DMZ %s after the API call (the call itself took %s)",
		r.At.Sub(start).Round(time.Millisecond), api.Round(time.Millisecond))
	// From now on nothing of the flow may reach APPS.
	appsAfter := appsUDP.Received()
	for i := range 20 {
		r, err := flow.Exchange(2 * time.Second)
		if err != nil || r.Name != "dmz" {
			t.Fatalf("UDP exchange %d after the move: %+v, %v (want dmz)", i, r, err)
		}
	}
	if n := appsUDP.Received(); n != appsAfter {
		t.Errorf("APPS still got %d datagrams of the flow after it moved to DMZ", n-appsAfter)
	}
	ct, err = probe.Conntrack(l.ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ct {
		if f.OrigDst == fip.Addr && f.ReplySrc == l.appsIP {
			t.Errorf("stale conntrack entry for the floating IP towards the old instance: %s", f)
		}
	}
	if !slices.ContainsFunc(ct, func(f probe.CTFlow) bool { return towards(f, fip.Addr, 5000, l.dmzIP) }) {
		t.Errorf("no conntrack entry for the flow to %s -> %s after the move: %v", fip.Addr, l.dmzIP, ct)
	}
	// New TCP connections reach DMZ; APPS's outbound is back on the gateway.
	appsBefore, dmzBefore := len(appsTCP.Peers()), len(dmzTCP.Peers())
	if _, err := b.DialTCP(sandbox.NodeInternet, fipTCP, 5*time.Second); err != nil {
		t.Errorf("internet -> %s after the move: %v", fipTCP, err)
	} else if len(dmzTCP.Peers()) != dmzBefore+1 || len(appsTCP.Peers()) != appsBefore {
		t.Errorf("internet -> %s after the move: reached APPS, not DMZ", fipTCP)
	}
	if got := sourceSeen(t, b, srv, "DMZ_INSTANCE", 10*time.Second); got != fip.Addr {
		t.Errorf("DMZ -> internet after the move: source %s, want %s", got, fip.Addr)
	}
	if got := sourceSeen(t, b, srv, "APPS_INSTANCE", 10*time.Second); got != l.r.GatewayIP {
		t.Errorf("APPS -> internet after the move: source %s, want the gateway address %s", got, l.r.GatewayIP)
	}
}

// towards reports whether a conntrack entry is a flow to fip:port that
// was translated to fixed.
func towards(f probe.CTFlow, fip netip.Addr, port uint16, fixed netip.Addr) bool {
	return f.OrigDst == fip && f.OrigDport == port && f.ReplySrc == fixed
}

// TestL3OverlappingTenantCIDRs: two routers on network1, each with its
// own 10.241.0.0/22 network and a gateway on EXT_NET, an instance behind
// each (both on compute1): both reach the internet host, each from its
// own router's gateway address.
func TestL3OverlappingTenantCIDRs(t *testing.T) {
	b := testbed.Up(t, 1, testbed.Options{Quiet: true})
	ext := b.CreateExternalNetwork("EXT_NET", "203.0.113.0/24", "203.0.113.1", "203.0.113.100", "203.0.113.199")
	type side struct {
		r  testbed.Router
		vm *sandbox.Instance
	}
	var sides [2]side
	for i := range sides {
		name := fmt.Sprintf("T%d", i+1)
		sides[i].r = b.CreateRouter("R"+name, ext.ID, nil)
		n := b.CreateNetwork(name+"_NET", "10.241.0.0/22", nil)
		b.AddRouterInterface(sides[i].r.ID, n.SubnetID)
		sides[i].vm = b.Boot(name+"_INSTANCE", name+"_NET", "compute1")
	}
	if sides[0].r.GatewayIP == sides[1].r.GatewayIP {
		t.Fatalf("both routers have gateway %s", sides[0].r.GatewayIP)
	}
	srv := b.ListenTCP(sandbox.NodeInternet, "0.0.0.0:0")
	for _, s := range sides {
		t.Logf("%s %s behind router %s (gateway %s)", s.vm.Name, s.vm.IP, s.r.ID, s.r.GatewayIP)
		b.MustPing(s.vm.Name, netip.MustParseAddr("10.241.0.1"))
		b.MustPing(s.vm.Name, internetIP)
		if got := sourceSeen(t, b, srv, s.vm.Name, 10*time.Second); got != s.r.GatewayIP {
			t.Errorf("%s -> internet host: source %s, want its router's gateway %s", s.vm.Name, got, s.r.GatewayIP)
		}
	}
	// Both at once, interleaved, to be sure neither steals the other's replies.
	for range 3 {
		for _, s := range sides {
			if got := sourceSeen(t, b, srv, s.vm.Name, 5*time.Second); got != s.r.GatewayIP {
				t.Errorf("%s -> internet host: source %s, want %s", s.vm.Name, got, s.r.GatewayIP)
			}
		}
	}
}

// TestL3AgentRestartHitless restarts network1's agent while the internet
// host pings the floating IP every 10 ms: no request may go unanswered,
// and the restarted agent's first apply changes nothing.
func TestL3AgentRestartHitless(t *testing.T) {
	l := upLegacy(t, false)
	b := l.b
	fip := b.CreateFloatingIP(l.ext.ID, l.appsVM.PortID, nil)
	waitFIP(t, b, fip.Addr)
	// Let the agent settle (FIP status reported, metadata proxy up).
	testbed.Eventually(t, 10*time.Second, 100*time.Millisecond, "floating IP ACTIVE", func() error {
		var out struct {
			FIP struct {
				Status string `json:"status"`
			} `json:"floatingip"`
		}
		if err := b.Try(http.MethodGet, "/v2.0/floatingips/"+fip.ID, nil, &out); err != nil {
			return err
		}
		if out.FIP.Status != "ACTIVE" {
			return fmt.Errorf("status %s", out.FIP.Status)
		}
		return nil
	})

	s := b.PingStream(sandbox.NodeInternet, fip.Addr, 10*time.Millisecond)
	wait := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.WaitReplies(ctx, n); err != nil {
			t.Fatalf("ping stream: %v (%s)", err, s.Stats())
		}
	}
	wait(50)
	before := s.Stats().Received
	start := time.Now()
	p := b.RestartAgent(sandbox.NodeNetwork1)
	line := b.WaitInitialApply(sandbox.NodeNetwork1, 30*time.Second)
	t.Logf("network1: agent restarted (pid %d); initial apply after %s: %s", p.PID, time.Since(start).Round(time.Millisecond), line.Raw)
	if c, ok := line.Int("changes"); !ok || c != 0 || line.Fields["ok"] != "true" {
		t.Errorf("initial apply after the restart: %q, want changes=0 ok=true", line.Raw)
	}
	wait(before + 100)
	if log := b.AgentLog(sandbox.NodeNetwork1); strings.Contains(log, `msg="kernel change"`) {
		t.Errorf("the restarted agent changed the kernel:\n%s", testbed.LastLines(log, 30))
	}
	st := s.Stop(2 * time.Second)
	t.Logf("ping internet -> %s every 10 ms: %s", fip.Addr, st)
	if len(st.Lost) > 0 || st.SendErrors > 0 || st.Sent < 150 {
		t.Errorf("ping stream across the restart: %s; want nothing lost", st)
	}
}

// nsGone reports whether a named namespace is absent.
func nsGone(ns string) error {
	if _, err := os.Stat(probe.Path(ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("namespace %s still exists", ns)
}

// TestL3RouterLifecycle: extra routes appear in the router namespace and
// go away; admin_state_up false tears the namespace down and true builds
// it again; interfaces, gateway and the router itself leave nothing
// behind on network1 when removed.
func TestL3RouterLifecycle(t *testing.T) {
	l := upLegacy(t, true)
	b := l.b
	fip := b.CreateFloatingIP(l.ext.ID, l.appsVM.PortID, nil)
	waitFIP(t, b, fip.Addr)

	// Extra route: 192.0.2.0/24 via DMZ, which holds 192.0.2.1.
	dst := netip.MustParseAddr("192.0.2.1")
	h, err := probe.Handle(b.NS("DMZ_INSTANCE"))
	if err != nil {
		t.Fatal(err)
	}
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: dst.AsSlice(), Mask: net.CIDRMask(32, 32)}})
	}
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	// DMZ answers from 192.0.2.1: port security lets it only as an
	// allowed address pair (as upstream).
	b.Do(http.MethodPut, "/v2.0/ports/"+l.dmzVM.PortID, map[string]any{"port": map[string]any{
		"allowed_address_pairs": []map[string]string{{"ip_address": "192.0.2.0/24"}}}}, nil)
	wantRoute := fmt.Sprintf("192.0.2.0/24 via %s dev qr-%s", l.dmzIP, l.dmzIf[:11])
	b.UpdateRouter(l.r.ID, map[string]any{"routes": []map[string]string{{"destination": "192.0.2.0/24", "nexthop": l.dmzIP.String()}}})
	testbed.Eventually(t, 10*time.Second, 100*time.Millisecond, "extra route in "+l.ns, func() error {
		rs, err := testbed.RouteStrings(l.ns)
		if err != nil {
			return err
		}
		if !slices.Contains(rs, wantRoute) {
			return fmt.Errorf("no %q in %q", wantRoute, rs)
		}
		return nil
	})
	b.MustPing("APPS_INSTANCE", dst) // through the router and the extra route
	b.UpdateRouter(l.r.ID, map[string]any{"routes": []any{}})
	testbed.Eventually(t, 10*time.Second, 100*time.Millisecond, "extra route removed from "+l.ns, func() error {
		rs, err := testbed.RouteStrings(l.ns)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if strings.HasPrefix(r, "192.0.2.0/24") {
				return fmt.Errorf("still %q", r)
			}
		}
		return nil
	})
	b.MustNotPing("APPS_INSTANCE", dst, time.Second)

	// Administratively down: the namespace goes, the floating IP is dead.
	b.UpdateRouter(l.r.ID, map[string]any{"admin_state_up": false})
	testbed.Eventually(t, 20*time.Second, 100*time.Millisecond, "router namespace torn down", func() error { return nsGone(l.ns) })
	b.MustNotPing(sandbox.NodeInternet, fip.Addr, 2*time.Second)
	b.UpdateRouter(l.r.ID, map[string]any{"admin_state_up": true})
	start := time.Now()
	waitFIP(t, b, fip.Addr)
	t.Logf("admin_state_up true: floating IP answers again after %s", time.Since(start).Round(time.Millisecond))
	b.MustPing("APPS_INSTANCE", l.dmzIP)

	// Take the router apart piece by piece, then delete it.
	ports := b.Ports("device_id=" + l.r.ID)
	if len(ports) != 3 {
		t.Fatalf("router has %d ports, want 3 (gateway and two interfaces)", len(ports))
	}
	b.Do(http.MethodDelete, "/v2.0/floatingips/"+fip.ID, nil, nil)
	b.RemoveRouterInterface(l.r.ID, l.apps.SubnetID)
	b.RemoveRouterInterface(l.r.ID, l.dmz.SubnetID)
	testbed.Eventually(t, 20*time.Second, 100*time.Millisecond, "interfaces and the floating IP removed from "+l.ns, func() error {
		links, err := testbed.RouterLinks(l.ns)
		if err != nil {
			return err
		}
		for dev, addrs := range links {
			if strings.HasPrefix(dev, "qr-") {
				return fmt.Errorf("%s still there: %s", dev, testbed.FormatLinks(links))
			}
			if strings.HasPrefix(dev, "qg-") && slices.Contains(addrs, netip.PrefixFrom(fip.Addr, 32)) {
				return fmt.Errorf("floating IP still on %s", dev)
			}
		}
		return nil
	})
	b.MustNotPing("APPS_INSTANCE", l.dmzIP, time.Second)
	b.UpdateRouter(l.r.ID, map[string]any{"external_gateway_info": map[string]any{}})
	testbed.Eventually(t, 20*time.Second, 100*time.Millisecond, "gateway removed from "+l.ns, func() error {
		links, err := testbed.RouterLinks(l.ns)
		if err != nil {
			return err
		}
		for dev := range links {
			if strings.HasPrefix(dev, "qg-") {
				return fmt.Errorf("%s still there", dev)
			}
		}
		return nil
	})
	b.Do(http.MethodDelete, "/v2.0/routers/"+l.r.ID, nil, nil)
	network1 := b.NS(sandbox.NodeNetwork1)
	testbed.Eventually(t, 20*time.Second, 100*time.Millisecond, "nothing of the router left on network1", func() error {
		if err := nsGone(l.ns); err != nil {
			return err
		}
		for _, p := range ports {
			if _, found, err := probe.Link(network1, sandbox.TapName(p.ID)); err != nil || found {
				return fmt.Errorf("%s (port %s, %s) still on network1 (%v)", sandbox.TapName(p.ID), p.ID, p.DeviceOwner, err)
			}
		}
		// A network's bridge may stay only for another port bound here.
		for _, netID := range []string{l.ext.ID, l.apps.ID, l.dmz.ID} {
			br := testbed.Network{ID: netID}.Bridge()
			_, found, err := probe.Link(network1, br)
			if err != nil {
				return err
			}
			if found && len(b.Ports("network_id="+netID+"&binding:host_id=network1")) == 0 {
				return fmt.Errorf("bridge %s of network %s still on network1 with no port bound there", br, netID)
			}
		}
		return nil
	})
}
