package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/neutrino-net/neutrino/internal/agent/plan/l3"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// pair is a throwaway "router" namespace (r0: 10.0.0.1/24) and a
// "client" namespace (c0: 10.0.0.5/24 and 10.0.0.6/24) joined by a veth.
type pair struct {
	routerName, clientName string
	router, client         netns.Handle
	rh                     *netlink.Handle
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{routerName: testutil.NewNetNS(t, "mdr"), clientName: testutil.NewNetNS(t, "mdc")}
	var err error
	if p.router, err = netns.Open(p.routerName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.router.Close() })
	if p.client, err = netns.Open(p.clientName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.client.Close() })
	if p.rh, err = netlink.NewHandleAt(p.router); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.rh.Close)
	ch, err := netlink.NewHandleAt(p.client)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "r0"}, PeerName: "c0", PeerNamespace: netlink.NsFd(int(p.client))}
	if err := p.rh.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	setup := func(h *netlink.Handle, dev string, addrs ...string) {
		for _, name := range []string{"lo", dev} {
			l, err := h.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if name == dev {
				for _, a := range addrs {
					ad, _ := netlink.ParseAddr(a)
					if err := h.AddrAdd(l, ad); err != nil {
						t.Fatalf("addr %s on %s: %v", a, dev, err)
					}
				}
			}
			if err := h.LinkSetUp(l); err != nil {
				t.Fatal(err)
			}
		}
	}
	setup(p.rh, "r0", "10.0.0.1/24")
	setup(ch, "c0", "10.0.0.5/24", "10.0.0.6/24")
	// Isolated-network style metadata address, reached via the "router".
	if err := ch.RouteAdd(&netlink.Route{Dst: &net.IPNet{IP: net.IPv4(169, 254, 169, 254), Mask: net.CIDRMask(32, 32)},
		Gw: net.IPv4(10, 0, 0, 1)}); err != nil {
		t.Fatalf("route: %v", err)
	}
	return p
}

// clientFrom returns an HTTP client whose connections are opened inside
// the client namespace from source address src.
func (p *pair) clientFrom(src string) *http.Client {
	d := &net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := netns.RunIn(p.client, func() error {
				var err error
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

func get(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func startBackend(t *testing.T, secret string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "md.sock")
	be := NewBackend(secret, func(id string) (string, bool) { return "vm " + id, true })
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go be.Serve(l)
	t.Cleanup(func() { be.Close() })
	return sock
}

// TestRouterNamespace: an instance (10.0.0.5) behind a "router" fetches
// its own instance id from the proxy serving 0.0.0.0:9697 inside the
// router namespace; an address with no port gets 404; a request forged
// directly to the backend is refused.
func TestRouterNamespace(t *testing.T) {
	p := newPair(t)
	const secret = "s3cret"
	sock := startBackend(t, secret)
	proxy, err := NewProxy("unix://"+sock, secret, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.StopAll()

	s := testSnapshot() // vm-1 has 10.0.0.5 on net1
	if err := proxy.Serve(p.router, "qrouter-test", "0.0.0.0:9697", ResolverFor(s, []string{"net1"})); err != nil {
		t.Fatal(err)
	}
	vm := p.clientFrom("10.0.0.5")
	code, body, err := get(t, vm, "http://10.0.0.1:9697/latest/meta-data/instance-id")
	if err != nil || code != 200 || body != "vm-1" {
		t.Fatalf("instance-id: %d %q %v", code, body, err)
	}
	// Forged identity headers from the instance do not matter.
	req, _ := http.NewRequest("GET", "http://10.0.0.1:9697/openstack/latest/meta_data.json", nil)
	req.Header.Set(HeaderInstanceID, "vm-2")
	req.Header.Set(HeaderSignature, Sign(secret, "vm-2"))
	req.Header.Set(HeaderTenantID, "proj-2")
	resp, err := vm.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if resp.StatusCode != 200 || md["uuid"] != "vm-1" || md["project_id"] != "proj-1" || md["name"] != "vm vm-1" {
		t.Fatalf("meta_data.json: %d %v", resp.StatusCode, md)
	}

	// No port has 10.0.0.6.
	if code, body, err := get(t, p.clientFrom("10.0.0.6"), "http://10.0.0.1:9697/latest/meta-data/instance-id"); err != nil || code != 404 {
		t.Fatalf("unknown caller: %d %q %v", code, body, err)
	}

	// Straight to the backend with a forged signature.
	direct := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, sig := range []string{"", Sign("guess", "vm-1"), strings.Repeat("0", 64)} {
		req, _ := http.NewRequest("GET", "http://metadata/latest/meta-data/instance-id", nil)
		req.Header.Set(HeaderInstanceID, "vm-1")
		if sig != "" {
			req.Header.Set(HeaderSignature, sig)
		}
		resp, err := direct.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("forged signature %q: %d", sig, resp.StatusCode)
		}
	}

	// Serving again swaps the resolver on the same listener.
	if err := proxy.Serve(p.router, "qrouter-test", "0.0.0.0:9697", func(netip.Addr, netip.Addr) (Instance, bool) {
		return Instance{ID: "vm-x"}, true
	}); err != nil {
		t.Fatal(err)
	}
	if code, body, err := get(t, p.clientFrom("10.0.0.6"), "http://10.0.0.1:9697/latest/meta-data/instance-id"); err != nil || code != 200 || body != "vm-x" {
		t.Fatalf("after resolver swap: %d %q %v", code, body, err)
	}

	// The listener lives in the router namespace only.
	if l, err := net.Listen("tcp4", "0.0.0.0:9697"); err == nil {
		l.Close()
	} else {
		t.Logf("host :9697 busy (not ours): %v", err)
	}

	proxy.Stop("qrouter-test")
	if _, _, err := get(t, vm, "http://10.0.0.1:9697/latest/meta-data/instance-id"); err == nil {
		t.Fatal("still served after Stop")
	}
}

// TestIsolatedAddress serves 169.254.169.254:80 before the address is
// configured (as in a DHCP namespace), then reaches it from the client.
func TestIsolatedAddress(t *testing.T) {
	p := newPair(t)
	sock := startBackend(t, "k")
	proxy, err := NewProxy("unix://"+sock, "k", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.StopAll()
	if err := proxy.Serve(p.router, "qdhcp-net1", "169.254.169.254:80", ResolverFor(testSnapshot(), []string{"net1"})); err != nil {
		t.Fatal(err)
	}
	l, err := p.rh.LinkByName("r0")
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := netlink.ParseAddr("169.254.169.254/32")
	if err := p.rh.AddrAdd(l, ad); err != nil {
		t.Fatal(err)
	}
	code, body, err := get(t, p.clientFrom("10.0.0.5"), "http://169.254.169.254/latest/meta-data/instance-id")
	if err != nil || code != 200 || body != "vm-1" {
		t.Fatalf("instance-id: %d %q %v", code, body, err)
	}
}

// TestSync follows a changing set of router namespaces by name: serves
// those that exist, stops those that went away or were dropped, leaves
// other groups alone, and reopens a recreated namespace.
func TestSync(t *testing.T) {
	testutil.RequireRoot(t)
	sock := startBackend(t, "k")
	proxy, err := NewProxy("unix://"+sock, "k", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.StopAll()
	p := newPair(t)
	other := testutil.NewNetNS(t, "mdo")
	s := testSnapshot()
	routers := map[string][]string{
		p.routerName: {"net1"},
		other:        {"net1"},
		"qrouter-missing-" + fmt.Sprint(time.Now().UnixNano()): {"net1"},
	}
	onlyA := map[string][]string{p.routerName: {"net1"}}
	// Something else served directly (group "") must survive Sync.
	if err := proxy.Serve(p.client, "qdhcp-x", "169.254.169.254:80", ResolverFor(s, nil)); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Sync(GroupRouters, RouterTargets(s, routers)); err != nil {
		t.Fatal(err)
	}
	want := []string{p.routerName, other, "qdhcp-x"}
	slices.Sort(want)
	if got := proxy.Keys(); !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	if code, body, err := get(t, p.clientFrom("10.0.0.5"), "http://10.0.0.1:9697/latest/meta-data/instance-id"); err != nil || code != 200 || body != "vm-1" {
		t.Fatalf("instance-id: %d %q %v", code, body, err)
	}

	// Router b dropped, and a's namespace recreated under the same name:
	// Sync stops b and reopens a in the new namespace.
	proxy.mu.Lock()
	oldID := proxy.bound[p.routerName].nsID
	proxy.mu.Unlock()
	if err := netns.Delete(p.routerName); err != nil {
		t.Fatal(err)
	}
	if err := netns.Create(p.routerName); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Sync(GroupRouters, RouterTargets(s, onlyA)); err != nil {
		t.Fatal(err)
	}
	want = []string{p.routerName, "qdhcp-x"}
	slices.Sort(want)
	if got := proxy.Keys(); !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	proxy.mu.Lock()
	newID := proxy.bound[p.routerName].nsID
	proxy.mu.Unlock()
	if newID == oldID {
		t.Fatal("listener not reopened in the recreated namespace")
	}

	// Namespace gone: its listener goes too.
	if err := netns.Delete(p.routerName); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Sync(GroupRouters, RouterTargets(s, onlyA)); err != nil {
		t.Fatal(err)
	}
	if got := proxy.Keys(); !slices.Equal(got, []string{"qdhcp-x"}) {
		t.Fatalf("keys = %v", got)
	}
}

// TestRedirect puts the router's metadata redirect (169.254.169.254:80 →
// :9697, as l3 plans it on qr-*) in front of the proxy with the nft
// command, when there is one: the redirect keeps the instance's source.
func TestRedirect(t *testing.T) {
	testutil.RequireRoot(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("no nft command")
	}
	p := newPair(t)
	rules := fmt.Sprintf(`table ip mdtest {
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		iifname "r0" ip daddr 169.254.169.254 tcp dport 80 redirect to :%d
	}
}
`, l3.MetadataPort)
	if err := netns.RunIn(p.router, func() error {
		cmd := exec.Command(nft, "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}); err != nil {
		t.Skipf("nft in namespace: %v", err)
	}
	sock := startBackend(t, "k")
	proxy, err := NewProxy("unix://"+sock, "k", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.StopAll()
	if err := proxy.Sync(GroupRouters, RouterTargets(testSnapshot(), map[string][]string{
		p.routerName: {"net1"},
	})); err != nil {
		t.Fatal(err)
	}
	code, body, err := get(t, p.clientFrom("10.0.0.5"), "http://169.254.169.254/latest/meta-data/instance-id")
	if err != nil || code != 200 || body != "vm-1" {
		t.Fatalf("instance-id via redirect: %d %q %v", code, body, err)
	}
	if code, _, err := get(t, p.clientFrom("10.0.0.6"), "http://169.254.169.254/latest/meta-data/instance-id"); err != nil || code != 404 {
		t.Fatalf("unknown caller via redirect: %d %v", code, err)
	}
}
