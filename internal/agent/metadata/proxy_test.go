package metadata

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/model"
)

var quiet = slog.New(slog.DiscardHandler)

func TestSignVerify(t *testing.T) {
	// Python: hmac.new(b"secret", b"i-1", hashlib.sha256).hexdigest()
	const want = "d0eb6bf7ee2f44ba139cba554da58398da170e9d2f8f3621162c9a07fc576524"
	if got := Sign("secret", "i-1"); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !Verify("secret", "i-1", want) || !Verify("secret", "i-1", strings.ToUpper(want)) {
		t.Fatal("Verify rejects a good signature")
	}
	for _, bad := range []string{"", "zz", want[:62], Sign("other", "i-1"), Sign("secret", "i-2")} {
		if Verify("secret", "i-1", bad) {
			t.Errorf("Verify accepts %q", bad)
		}
	}
}

func TestParseBackend(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8775", "https://nova.example:8775/prefix", "unix:///run/md.sock"} {
		if _, _, err := parseBackend(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ftp://x", "http://", "unix://", "unix://rel/path.sock", "127.0.0.1:8775"} {
		if _, _, err := parseBackend(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// request builds a request as the proxy's listener would hand it over.
func request(method, target, remote, local string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	ctx := context.WithValue(r.Context(), http.LocalAddrContextKey, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(local)))
	return r.WithContext(ctx)
}

func fixedResolver(ip string, inst Instance) Resolver {
	want := netip.MustParseAddr(ip)
	return func(remote, _ netip.Addr) (Instance, bool) {
		if remote == want {
			return inst, true
		}
		return Instance{}, false
	}
}

func testBinding(resolve Resolver) *binding {
	b := &binding{key: "test"}
	b.resolve.Store(&resolve)
	return b
}

func TestProxyHeaders(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		mu.Unlock()
		w.Header().Set("X-From", "backend")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "body")
	}))
	defer backend.Close()
	p, err := NewProxy(backend.URL, "s3cret", quiet)
	if err != nil {
		t.Fatal(err)
	}
	h := p.handler(testBinding(fixedResolver("10.0.0.5", Instance{ID: "vm-1", ProjectID: "proj-1", PortID: "port-1"})))

	r := request("GET", "http://169.254.169.254/latest/meta-data/instance-id?x=1", "10.0.0.5:40000", "10.0.0.1:9697")
	// Everything a client might forge.
	r.Header.Set("X-Instance-ID", "vm-evil")
	r.Header.Add("X-Instance-ID", "vm-evil2")
	r.Header.Set("X-Tenant-ID", "proj-evil")
	r.Header.Set("X-Forwarded-For", "10.9.9.9")
	r.Header.Set("X-Instance-ID-Signature", Sign("s3cret", "vm-evil"))
	r.Header.Set("X-Neutron-Network-ID", "net-evil")
	r.Header.Set("X-Neutron-Router-ID", "router-evil")
	r.Header.Set("Forwarded", "for=10.9.9.9")
	r.Header.Set("User-Agent", "cloud-init")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	if w.Code != http.StatusTeapot || w.Body.String() != "body" || w.Header().Get("X-From") != "backend" {
		t.Fatalf("response not passed through: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	mu.Lock()
	defer mu.Unlock()
	if got == nil {
		t.Fatal("backend not called")
	}
	if got.URL.Path != "/latest/meta-data/instance-id" || got.URL.RawQuery != "x=1" {
		t.Errorf("backend got %s", got.URL)
	}
	want := map[string]string{
		"X-Instance-Id":           "vm-1",
		"X-Tenant-Id":             "proj-1",
		"X-Forwarded-For":         "10.0.0.5",
		"X-Instance-Id-Signature": Sign("s3cret", "vm-1"),
		"User-Agent":              "cloud-init",
	}
	for k, v := range want {
		if vs := got.Header.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("backend header %s = %q, want [%q]", k, vs, v)
		}
	}
	for k := range got.Header {
		if strings.HasPrefix(k, "X-Neutron-") || k == "Forwarded" {
			t.Errorf("backend got client header %s: %q", k, got.Header[k])
		}
	}
}

func TestProxyUnknownCaller(t *testing.T) {
	called := false
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	defer backend.Close()
	p, err := NewProxy(backend.URL, "s", quiet)
	if err != nil {
		t.Fatal(err)
	}
	h := p.handler(testBinding(fixedResolver("10.0.0.5", Instance{ID: "vm-1"})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("GET", "/latest/meta-data/instance-id", "10.0.0.6:1234", "10.0.0.1:9697"))
	if w.Code != http.StatusNotFound || called {
		t.Fatalf("unknown caller: %d, backend called %v", w.Code, called)
	}
}

func TestProxyBackendDown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	p, err := NewProxy("unix://"+sock, "s", quiet)
	if err != nil {
		t.Fatal(err)
	}
	h := p.handler(testBinding(fixedResolver("10.0.0.5", Instance{ID: "vm-1"})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("GET", "/latest/meta-data/instance-id", "10.0.0.5:1234", "10.0.0.1:9697"))
	if w.Code != http.StatusBadGateway || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("backend down: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// TestProxyToBackendUnix runs the proxy handler against Backend on a UNIX
// socket: the signed request is answered, the same secret on both sides.
func TestProxyToBackendUnix(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "md.sock")
	be := NewBackend("s3cret", func(id string) (string, bool) { return "Web Server 1", id == "vm-1" })
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go be.Serve(l)
	defer be.Close()

	p, err := NewProxy("unix://"+sock, "s3cret", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer p.StopAll()
	h := p.handler(testBinding(fixedResolver("10.0.0.5", Instance{ID: "vm-1", ProjectID: "proj-1"})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("GET", "/latest/meta-data/instance-id", "10.0.0.5:1234", "10.0.0.1:9697"))
	if w.Code != 200 || w.Body.String() != "vm-1" {
		t.Fatalf("instance-id: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, request("GET", "/openstack/latest/meta_data.json", "10.0.0.5:1234", "10.0.0.1:9697"))
	var md map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &md); err != nil || w.Code != 200 {
		t.Fatalf("meta_data.json: %d %q %v", w.Code, w.Body.String(), err)
	}
	if md["uuid"] != "vm-1" || md["name"] != "Web Server 1" || md["project_id"] != "proj-1" || md["hostname"] != "web-server-1" {
		t.Fatalf("meta_data.json = %v", md)
	}

	// A proxy with the wrong secret is refused by the backend.
	bad, _ := NewProxy("unix://"+sock, "wrong", quiet)
	w = httptest.NewRecorder()
	bad.handler(testBinding(fixedResolver("10.0.0.5", Instance{ID: "vm-1"}))).ServeHTTP(w,
		request("GET", "/latest/meta-data/instance-id", "10.0.0.5:1234", "10.0.0.1:9697"))
	if w.Code != http.StatusForbidden {
		t.Fatalf("wrong secret: %d %q", w.Code, w.Body.String())
	}
}

func TestBackend(t *testing.T) {
	be := NewBackend("s3cret", func(id string) (string, bool) {
		switch id {
		case "vm-1":
			return "My VM!", true
		case "vm-2":
			return "", true
		}
		return "", false
	})
	do := func(method, path, id, sig string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if id != "" {
			r.Header.Set(HeaderInstanceID, id)
		}
		if sig != "" {
			r.Header.Set(HeaderSignature, sig)
		}
		r.Header.Set(HeaderTenantID, "proj-1")
		r.Header.Set(HeaderForwarded, "10.0.0.5")
		w := httptest.NewRecorder()
		be.ServeHTTP(w, r)
		return w
	}
	good := Sign("s3cret", "vm-1")
	cases := []struct {
		method, path, id, sig string
		code                  int
		body                  string
	}{
		{"GET", "/latest/meta-data/instance-id", "vm-1", good, 200, "vm-1"},
		{"HEAD", "/latest/meta-data/instance-id", "vm-1", good, 200, "vm-1"}, // the recorder keeps HEAD bodies; a server drops them
		{"GET", "/2009-04-04/meta-data/instance-id", "vm-1", good, 200, "vm-1"},
		{"GET", "/latest/meta-data/", "vm-1", good, 200, "hostname\ninstance-id\nlocal-ipv4\n"},
		{"GET", "/latest/meta-data", "vm-1", good, 200, "hostname\ninstance-id\nlocal-ipv4\n"},
		{"GET", "/latest/meta-data/hostname", "vm-1", good, 200, "my-vm"},
		{"GET", "/latest/meta-data/hostname", "vm-2", Sign("s3cret", "vm-2"), 200, "host-vm-2"},
		{"GET", "/latest/meta-data/local-ipv4", "vm-1", good, 200, "10.0.0.5"},
		{"GET", "/latest/meta-data/public-keys", "vm-1", good, 404, ""},
		{"GET", "/latest/user-data", "vm-1", good, 404, ""},
		{"GET", "/notaversion/meta-data/instance-id", "vm-1", good, 404, ""},
		{"GET", "/", "vm-1", good, 404, ""},
		{"POST", "/latest/meta-data/instance-id", "vm-1", good, 405, ""},
		{"GET", "/latest/meta-data/instance-id", "", good, 400, ""},
		{"GET", "/latest/meta-data/instance-id", "vm-1", "", 403, ""},
		{"GET", "/latest/meta-data/instance-id", "vm-1", Sign("forged", "vm-1"), 403, ""},
		{"GET", "/latest/meta-data/instance-id", "vm-1", Sign("s3cret", "vm-2"), 403, ""},
		{"GET", "/latest/meta-data/instance-id", "vm-9", Sign("s3cret", "vm-9"), 404, ""},
	}
	for _, c := range cases {
		w := do(c.method, c.path, c.id, c.sig)
		if w.Code != c.code || (c.code == 200 && w.Body.String() != c.body) {
			t.Errorf("%s %s (id %q): %d %q, want %d %q", c.method, c.path, c.id, w.Code, w.Body.String(), c.code, c.body)
		}
	}
	w := do("GET", "/openstack/2013-10-17/meta_data.json", "vm-1", good)
	var md map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &md); err != nil || w.Code != 200 {
		t.Fatalf("meta_data.json: %d %q %v", w.Code, w.Body.String(), err)
	}
	want := map[string]any{"uuid": "vm-1", "name": "My VM!", "project_id": "proj-1", "hostname": "my-vm"}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("meta_data.json %s = %v, want %v", k, md[k], v)
		}
	}
	// Without a lookup every signed id exists.
	w = httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/latest/meta-data/instance-id", nil)
	r.Header.Set(HeaderInstanceID, "anything")
	r.Header.Set(HeaderSignature, Sign("k", "anything"))
	NewBackend("k", nil).ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "anything" {
		t.Errorf("nil lookup: %d %q", w.Code, w.Body.String())
	}
}

func TestHostname(t *testing.T) {
	for name, want := range map[string]string{
		"web":                   "web",
		"Web Server_1":          "web-server-1",
		"--x--":                 "x",
		"":                      "host-id",
		"!!!":                   "host-id",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := hostname(name, "id"); got != want {
			t.Errorf("hostname(%q) = %q, want %q", name, got, want)
		}
	}
}

func port(id, net, owner, device, project string, ips ...string) *model.Port {
	p := &model.Port{NetworkID: net, DeviceOwner: owner, DeviceID: device}
	p.ID, p.ProjectID = id, project
	for _, ip := range ips {
		sub, addr, _ := strings.Cut(ip, "/")
		p.FixedIPs = append(p.FixedIPs, model.FixedIP{SubnetID: sub, IPAddress: addr})
	}
	return p
}

func subnet(id, net, cidr string) *model.Subnet {
	s := &model.Subnet{NetworkID: net, CIDR: cidr}
	s.ID = id
	return s
}

func testSnapshot() *hostmodel.Snapshot {
	s := hostmodel.NewSnapshot("h1")
	for _, sub := range []*model.Subnet{
		subnet("s1", "net1", "10.0.0.0/24"), subnet("s1b", "net1", "10.1.0.0/24"),
		subnet("s2", "net2", "10.0.0.0/24"), subnet("s3", "net3", "10.0.0.0/16"),
	} {
		s.Subnets[sub.ID] = sub
	}
	for _, p := range []*model.Port{
		port("p-vm1", "net1", "compute:nova", "vm-1", "proj-1", "s1/10.0.0.5", "s1b/10.1.0.5"),
		port("p-rtr", "net1", model.OwnerRouterInterface, "r1", "proj-1", "s1/10.0.0.1"),
		port("p-dhcp", "net1", model.OwnerDHCP, "dhcp", "proj-1", "s1/10.0.0.2"),
		port("p-unbound", "net1", "", "", "proj-1", "s1/10.0.0.7"),
		port("p-vm2", "net2", "compute:nova", "vm-2", "proj-2", "s2/10.0.0.6"),
		port("p-vm3", "net3", "compute:nova", "vm-3", "proj-3", "s3/10.0.0.5"),
	} {
		s.Ports[p.ID] = p
	}
	return s
}

func TestResolverFor(t *testing.T) {
	s := testSnapshot()
	a := netip.MustParseAddr
	r := ResolverFor(s, []string{"net1"})
	vm1 := Instance{ID: "vm-1", ProjectID: "proj-1", PortID: "p-vm1"}
	for _, c := range []struct {
		remote, local string
		want          Instance
		ok            bool
	}{
		{"10.0.0.5", "10.0.0.1", vm1, true},
		{"10.1.0.5", "10.1.0.1", vm1, true},
		{"::ffff:10.0.0.5", "10.0.0.1", vm1, true},
		{"10.0.0.1", "10.0.0.1", Instance{}, false}, // router's own port
		{"10.0.0.2", "10.0.0.1", Instance{}, false}, // DHCP port
		{"10.0.0.7", "10.0.0.1", Instance{}, false}, // no device
		{"10.0.0.6", "10.0.0.1", Instance{}, false}, // on a network not attached
		{"10.0.0.9", "10.0.0.1", Instance{}, false},
	} {
		got, ok := r(a(c.remote), a(c.local))
		if got != c.want || ok != c.ok {
			t.Errorf("resolve %s: %+v %v, want %+v %v", c.remote, got, ok, c.want, c.ok)
		}
	}
	// 10.0.0.5 is on net1 (10.0.0.0/24) and net3 (10.0.0.0/16): the local
	// address decides; if both subnets hold it, nobody wins.
	r = ResolverFor(s, []string{"net1", "net3"})
	if got, ok := r(a("10.0.0.5"), a("10.0.200.1")); !ok || got.ID != "vm-3" {
		t.Errorf("overlap via net3: %+v %v", got, ok)
	}
	if got, ok := r(a("10.0.0.5"), a("10.0.0.1")); ok {
		t.Errorf("ambiguous overlap resolved to %+v", got)
	}
	if got, ok := r(a("10.0.0.5"), netip.Addr{}); ok {
		t.Errorf("overlap without local resolved to %+v", got)
	}
}

func TestRouterTargets(t *testing.T) {
	s := testSnapshot()
	routers := map[string][]string{
		"qrouter-r1": {"net1", "net1"},
		"qrouter-r2": nil, // gateway only
	}
	got := RouterTargets(s, routers)
	if len(got) != 1 {
		t.Fatalf("targets = %v", got)
	}
	tg, ok := got["qrouter-r1"]
	if !ok || tg.Namespace != "qrouter-r1" || tg.Listen != "0.0.0.0:9697" {
		t.Fatalf("target = %+v", tg)
	}
	if inst, ok := tg.Resolve(netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.1")); !ok || inst.ID != "vm-1" {
		t.Errorf("resolve = %+v %v", inst, ok)
	}
	if _, ok := tg.Resolve(netip.MustParseAddr("10.0.0.6"), netip.MustParseAddr("10.0.0.1")); ok {
		t.Error("resolved a port of a network the router is not attached to")
	}
}
