// Package testbed is the end-to-end harness: it runs a whole sandbox
// (internal/sandbox: simulated hosts as namespaces, the real server and
// agents, fake instances that get their address by DHCP) for one test,
// removes it when the test ends whatever happened, dumps the server's
// and agents' logs when the test failed, and offers the checks the
// tests are made of: API calls, reachability (Ping, MustPing,
// MustNotPing, a continuous PingStream), TCP banner connections that
// report the source address the server saw, agent restarts and crashes,
// and agent logs.
//
// A test binary that uses it must call Main from TestMain: the sandbox
// re-executes its program as "<exe> sandbox serve|agent", and in tests
// that program is the test binary itself.
//
// Kernel-facing helpers that need no *testing.T (sockets inside a
// namespace, FDB and counter reads) live in the probe subpackage, which
// the benchmarks share.
package testbed

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/cli"
	"github.com/neutrino-net/neutrino/internal/freeport"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// selfEnv marks a re-executed test binary that is to act as the
// neutrino command.
const selfEnv = "NEUTRINO_TESTBED_SELF"

// Main is TestMain's body: in a re-executed child it runs the neutrino
// command (the sandbox's server or an agent), else the tests.
func Main(m *testing.M) {
	if os.Getenv(selfEnv) == "1" {
		os.Exit(cli.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// Env is the environment a re-executed test binary needs to act as the
// neutrino command (for sandbox.Options.Env).
func Env() []string { return []string{selfEnv + "=1"} }

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, netlink and /run/netns (run the e2e tests with sudo)")
	}
}

// UniquePrefix is a sandbox prefix no other run uses ("t" + 6 letters).
func UniquePrefix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "t" + string(b)
}

// FreePort returns a TCP port free on 127.0.0.1 just now, outside the
// ephemeral range (see package freeport).
func FreePort() (int, error) { return freeport.Loopback() }

// Options configure Up.
type Options struct {
	NoAgents bool // fabric and server only
	// NetworkNodes are the dvr_snat hosts network1..N (default 1).
	NetworkNodes int
	// LogLines is how many last lines of each log a failed test shows
	// (default 60).
	LogLines int
	// Quiet drops the sandbox's progress lines from the test log.
	Quiet bool
	// VLANPhysnets: see sandbox.Options.VLANPhysnets.
	VLANPhysnets []string
}

// Bed is one running sandbox owned by a test.
type Bed struct {
	*sandbox.State
	T   testing.TB
	API *sandbox.Client
}

// Up starts a sandbox with network1 and compute1..computes for the test
// (unique prefix, temporary directory, free port). When the test ends it
// is torn down, after dumping the server's and agents' logs if the test
// failed.
func Up(t testing.TB, computes int, o Options) *Bed {
	t.Helper()
	RequireRoot(t)
	if o.LogLines == 0 {
		o.LogLines = 60
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	so := sandbox.Options{
		Dir:          t.TempDir(),
		Prefix:       UniquePrefix(),
		Computes:     computes,
		NetworkNodes: o.NetworkNodes,
		Port:         port,
		NoAgents:     o.NoAgents,
		Exe:          exe,
		Env:          Env(),
		ReadyTimeout: 60 * time.Second,
		VLANPhysnets: o.VLANPhysnets,
	}
	if !o.Quiet {
		so.Out = logWriter{t}
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, so.Dir, o.LogLines)
		}
		if err := sandbox.Down(sandbox.DownOptions{Dir: so.Dir, Prefix: so.Prefix, Purge: true}); err != nil {
			t.Errorf("cleanup: sandbox down: %v", err)
		}
	})
	st, err := sandbox.Up(context.Background(), so)
	if err != nil {
		t.Fatalf("sandbox up: %v", err)
	}
	b := &Bed{State: st, T: t}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b.API, err = st.AdminClient(ctx); err != nil {
		t.Fatalf("admin client: %v", err)
	}
	return b
}

func dumpLogs(t testing.TB, dir string, n int) {
	es, _ := os.ReadDir(filepath.Join(dir, "logs"))
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, "logs", e.Name()))
		if err == nil {
			t.Logf("--- %s (last %d lines):\n%s", e.Name(), n, LastLines(string(b), n))
		}
	}
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// LastLines returns the last n lines of s.
func LastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// Eventually polls check every interval until it returns nil, and fails
// the test with check's last error once timeout has passed.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, check func() error) {
	t.Helper()
	if err := Poll(timeout, interval, check); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Poll calls check every interval until it returns nil or timeout has
// passed (then it returns check's last error).
func Poll(timeout, interval time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// ctx returns a context bounded by d.
func ctx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// Try sends an API request (see sandbox.Client.Do).
func (b *Bed) Try(method, path string, body, out any) error {
	c, cancel := ctx(30 * time.Second)
	defer cancel()
	return b.API.Do(c, method, path, body, out)
}

// Do sends an API request and fails the test on error.
func (b *Bed) Do(method, path string, body, out any) {
	b.T.Helper()
	if err := b.Try(method, path, body, out); err != nil {
		b.T.Fatalf("%s %s: %v", method, path, err)
	}
}

// NS resolves a node or instance name to its namespace.
func (b *Bed) NS(node string) string {
	b.T.Helper()
	ns, err := b.Resolve(node)
	if err != nil {
		b.T.Fatal(err)
	}
	return ns
}

// Network is a network with one IPv4 subnet.
type Network struct {
	ID, Name, SubnetID string
	VNI, MTU           int
	CIDR               netip.Prefix
	Gateway            netip.Addr // invalid if none
}

// VXLAN is the network's VXLAN device name on a host.
func (n Network) VXLAN() string { return fmt.Sprintf("vxlan-%d", n.VNI) }

// Bridge is the network's bridge name on a host.
func (n Network) Bridge() string {
	id := n.ID
	if len(id) > 11 {
		id = id[:11]
	}
	return "brq" + id
}

// CreateNetwork creates a network and an IPv4 subnet (cidr); subnet
// holds extra subnet attributes (gateway_ip, host_routes, ...).
func (b *Bed) CreateNetwork(name, cidr string, subnet map[string]any) Network {
	b.T.Helper()
	var nw struct {
		Network struct {
			ID    string `json:"id"`
			MTU   int    `json:"mtu"`
			SegID *int   `json:"provider:segmentation_id"`
			Type  string `json:"provider:network_type"`
		} `json:"network"`
	}
	b.Do(http.MethodPost, "/v2.0/networks", map[string]any{"network": map[string]any{"name": name}}, &nw)
	body := map[string]any{"network_id": nw.Network.ID, "ip_version": 4, "cidr": cidr, "name": name + "-v4"}
	for k, v := range subnet {
		body[k] = v
	}
	var sn struct {
		Subnet struct {
			ID        string  `json:"id"`
			GatewayIP *string `json:"gateway_ip"`
		} `json:"subnet"`
	}
	b.Do(http.MethodPost, "/v2.0/subnets", map[string]any{"subnet": body}, &sn)
	n := Network{ID: nw.Network.ID, Name: name, SubnetID: sn.Subnet.ID, MTU: nw.Network.MTU, CIDR: netip.MustParsePrefix(cidr)}
	if nw.Network.SegID != nil {
		n.VNI = *nw.Network.SegID
	}
	if nw.Network.Type != "vxlan" {
		b.T.Fatalf("network %s is %q, want vxlan", name, nw.Network.Type)
	}
	if sn.Subnet.GatewayIP != nil {
		n.Gateway = netip.MustParseAddr(*sn.Subnet.GatewayIP)
	}
	return n
}

// Boot boots a fake instance on host (see sandbox.State.Boot) and fails
// the test if it gets no DHCP lease.
func (b *Bed) Boot(name, network, host string) *sandbox.Instance {
	b.T.Helper()
	c, cancel := ctx(60 * time.Second)
	defer cancel()
	in, err := b.State.Boot(c, sandbox.BootOptions{Name: name, Network: network, Host: host})
	if err != nil {
		b.T.Fatalf("boot %s on %s: %v", name, host, err)
	}
	return in
}

// Remove deletes an instance (port and namespace).
func (b *Bed) Remove(name string) {
	b.T.Helper()
	c, cancel := ctx(30 * time.Second)
	defer cancel()
	if err := b.State.Remove(c, name); err != nil {
		b.T.Fatalf("remove %s: %v", name, err)
	}
}

// Addr is the address an instance got by DHCP.
func Addr(in *sandbox.Instance) netip.Addr {
	p, err := netip.ParsePrefix(in.IP)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}

// Ping pings dst from node (a node, an instance or an agent's namespace)
// every 100 ms until a reply, or fails after timeout. An agent namespace
// that is not there yet (the agent is still applying) counts as no reply
// yet: a slow host, such as the full-kernel tier's emulated VM, may
// create a router's namespace well after the API call that asked for it.
func (b *Bed) Ping(from string, dst netip.Addr, timeout time.Duration) error {
	c, cancel := ctx(timeout)
	defer cancel()
	for {
		ns, err := b.Resolve(from)
		if err == nil {
			return probe.PingUntil(c, ns, dst, 100*time.Millisecond)
		}
		if !sandbox.Owned(b.Prefix, from) {
			return err
		}
		select {
		case <-c.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// MustPing fails the test unless dst answers from node within 10 s.
func (b *Bed) MustPing(from string, dst netip.Addr) {
	b.T.Helper()
	if err := b.Ping(from, dst, 10*time.Second); err != nil {
		b.T.Errorf("%s -> %s: %v", from, dst, err)
	}
}

// MustNotPing fails the test if dst answers from node within window
// (a negative reachability check needs some window; keep it short).
func (b *Bed) MustNotPing(from string, dst netip.Addr, window time.Duration) {
	b.T.Helper()
	if err := b.Ping(from, dst, window); err == nil {
		b.T.Errorf("%s -> %s: answered, want no reply", from, dst)
	}
}

// PingStream starts a continuous pinger in namespace ns (see
// probe.PingStream); it is stopped when the test ends.
func (b *Bed) PingStream(from string, dst netip.Addr, interval time.Duration) *probe.Stream {
	b.T.Helper()
	s, err := PingStream(context.Background(), b.NS(from), dst, interval)
	if err != nil {
		b.T.Fatal(err)
	}
	b.T.Cleanup(func() { s.Stop(0) })
	return s
}

// PingStream sends an ICMP echo request to dst from namespace ns every
// interval and records sent, received and lost sequence numbers.
func PingStream(ctx context.Context, ns string, dst netip.Addr, interval time.Duration) (*probe.Stream, error) {
	return probe.PingStream(ctx, ns, dst, interval)
}

// ListenTCP starts a banner server in node's namespace (see
// probe.ListenTCP), closed when the test ends.
func (b *Bed) ListenTCP(node, addr string) *probe.TCPServer {
	b.T.Helper()
	s, err := probe.ListenTCP(b.NS(node), addr)
	if err != nil {
		b.T.Fatal(err)
	}
	b.T.Cleanup(func() { s.Close() })
	return s
}

// DialTCP connects from node to addr and returns the source address the
// banner server saw.
func (b *Bed) DialTCP(node string, addr netip.AddrPort, timeout time.Duration) (netip.AddrPort, error) {
	ns, err := b.Resolve(node)
	if err != nil {
		return netip.AddrPort{}, err
	}
	c, cancel := ctx(timeout)
	defer cancel()
	seen, _, err := probe.DialTCP(c, ns, addr)
	return seen, err
}

// Port is a port as the API shows it.
type Port struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	NetworkID   string `json:"network_id"`
	MAC         string `json:"mac_address"`
	HostID      string `json:"binding:host_id"`
	DeviceOwner string `json:"device_owner"`
	DeviceID    string `json:"device_id"`
	Status      string `json:"status"`
	FixedIPs    []struct {
		SubnetID  string `json:"subnet_id"`
		IPAddress string `json:"ip_address"`
	} `json:"fixed_ips"`
}

// IPv4 returns the port's first IPv4 fixed address.
func (p Port) IPv4() netip.Addr {
	for _, f := range p.FixedIPs {
		if a, err := netip.ParseAddr(f.IPAddress); err == nil && a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// Port reads one port.
func (b *Bed) Port(id string) Port {
	b.T.Helper()
	var out struct {
		Port Port `json:"port"`
	}
	b.Do(http.MethodGet, "/v2.0/ports/"+id, nil, &out)
	return out.Port
}

// Ports lists ports; query is a URL query ("network_id=...") or "".
func (b *Bed) Ports(query string) []Port {
	b.T.Helper()
	var out struct {
		Ports []Port `json:"ports"`
	}
	path := "/v2.0/ports"
	if query != "" {
		path += "?" + query
	}
	b.Do(http.MethodGet, path, nil, &out)
	return out.Ports
}

// WaitPortStatus waits until the port's status is want.
func (b *Bed) WaitPortStatus(id, want string, timeout time.Duration) {
	b.T.Helper()
	Eventually(b.T, timeout, 100*time.Millisecond, "port "+id+" status", func() error {
		var out struct {
			Port Port `json:"port"`
		}
		if err := b.Try(http.MethodGet, "/v2.0/ports/"+id, nil, &out); err != nil {
			return err
		}
		if out.Port.Status != want {
			return fmt.Errorf("status %s, want %s", out.Port.Status, want)
		}
		return nil
	})
}

// TunnelIP is the VTEP address of a host.
func (b *Bed) TunnelIP(host string) netip.Addr {
	b.T.Helper()
	h, ok := b.Host(host)
	if !ok {
		b.T.Fatalf("unknown host %s", host)
	}
	return h.TunnelIP
}
