// Package metadata is the instance metadata service as seen from inside
// the agent's namespaces: one in-process Proxy per agent serves a TCP
// listener opened inside each router (and, for isolated networks, DHCP)
// namespace, identifies the calling instance by its source address and
// forwards the request to the metadata backend (Nova's metadata API, or
// the sandbox's Backend) with the headers Nova expects:
//
//	X-Instance-ID            the port's device_id
//	X-Tenant-ID              the port's project
//	X-Forwarded-For          the instance's fixed IP
//	X-Instance-ID-Signature  hex(HMAC-SHA256(shared secret, instance id))
//
// Upstream runs a haproxy per router that relays to neutron-metadata-agent
// over a UNIX socket, which resolves the port and relays to Nova
// (neutron-facts/l3-dataplane.md §3.3); here both hops are one handler in
// the agent process. Listeners are opened once inside their namespace on
// a locked thread (netns.RunIn) and then served from ordinary
// goroutines: a socket keeps the namespace it was made in (STYLE.md §3).
// Requests to the backend are dialled from the agent's own namespace.
package metadata

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/neutrino-net/neutrino/internal/netns"
)

// Header names exchanged with the backend.
const (
	HeaderInstanceID = "X-Instance-ID"
	HeaderTenantID   = "X-Tenant-ID"
	HeaderForwarded  = "X-Forwarded-For"
	HeaderSignature  = "X-Instance-ID-Signature"
)

// Instance is the caller of a metadata request, as resolved from its
// address.
type Instance struct {
	ID        string // the port's device_id (the Nova server id)
	ProjectID string // the port's project
	PortID    string
}

// Resolver maps a request's source address (the instance's fixed IP; the
// redirect keeps it) and the local address it arrived on to the instance
// that sent it. It must be safe for concurrent use.
type Resolver func(remote, local netip.Addr) (Instance, bool)

// Sign returns the X-Instance-ID-Signature for an instance id:
// hex(HMAC-SHA256(secret, instanceID)).
func Sign(secret, instanceID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(instanceID))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is the signature of instanceID under secret,
// comparing in constant time.
func Verify(secret, instanceID, sig string) bool {
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(instanceID))
	return hmac.Equal(got, m.Sum(nil))
}

// Proxy serves metadata in many namespaces at once; one per agent. Use
// NewProxy.
type Proxy struct {
	secret string
	log    *slog.Logger
	rp     *httputil.ReverseProxy
	tr     *http.Transport

	mu    sync.Mutex
	bound map[string]*binding // by key
}

type binding struct {
	key, group, listen string
	nsID               string // device:inode of the listener's namespace
	resolve            atomic.Pointer[Resolver]
	srv                *http.Server
	done               chan struct{}
}

// NewProxy returns a proxy that forwards to backend, which is
// http://host:port[/prefix], https://host:port[/prefix] or
// unix:///path/to.sock, signing instance ids with secret. A nil log means
// slog.Default().
func NewProxy(backend, secret string, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.Default()
	}
	target, dial, err := parseBackend(backend)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if dial == nil {
		dial = d.DialContext
	}
	p := &Proxy{secret: secret, log: log.With("component", "metadata-proxy"), bound: map[string]*binding{}}
	p.tr = &http.Transport{
		// No environment proxy: the backend is reached directly.
		Proxy:                 nil,
		DialContext:           dial,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	p.rp = &httputil.ReverseProxy{
		Transport: p.tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Rewrite runs after ReverseProxy removed hop-by-hop and
			// X-Forwarded-* headers from Out; the identity headers were
			// set by the handler on In (after clearing the client's).
			pr.SetURL(target)
			for _, h := range []string{HeaderInstanceID, HeaderTenantID, HeaderForwarded, HeaderSignature} {
				pr.Out.Header[http.CanonicalHeaderKey(h)] = pr.In.Header[http.CanonicalHeaderKey(h)]
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				p.log.Warn("metadata backend unreachable", "backend", backend, "err", err)
			}
			http.Error(w, "metadata backend unavailable", http.StatusBadGateway)
		},
	}
	return p, nil
}

// parseBackend returns the URL requests are rewritten to and, for a UNIX
// socket, the dialer that reaches it.
func parseBackend(raw string) (*url.URL, func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata backend %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, nil, fmt.Errorf("metadata backend %q: no host", raw)
		}
		return u, nil, nil
	case "unix":
		path := u.Path
		if u.Host != "" { // unix://relative/path is not supported; be explicit
			return nil, nil, fmt.Errorf("metadata backend %q: want unix:///absolute/path.sock", raw)
		}
		if path == "" {
			return nil, nil, fmt.Errorf("metadata backend %q: no socket path", raw)
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		}
		return &url.URL{Scheme: "http", Host: "metadata"}, dial, nil
	default:
		return nil, nil, fmt.Errorf("metadata backend %q: must be http://, https:// or unix://", raw)
	}
}

// Serve opens a TCP listener on listenAddr inside namespace ns and serves
// metadata on it under key, resolving callers with resolve. Routers use
// "0.0.0.0:9697" (their nft rule redirects 169.254.169.254:80 there);
// DHCP namespaces of isolated networks use "169.254.169.254:80". A
// specific address may be bound before it is configured (IP_FREEBIND).
//
// Serve is idempotent: if key is already served on the same address in
// the same namespace it only swaps the resolver; if the namespace was
// recreated or the address changed, the old listener is closed and a new
// one opened.
func (p *Proxy) Serve(ns netns.Handle, key, listenAddr string, resolve Resolver) error {
	return p.serve(ns, key, "", listenAddr, resolve)
}

func (p *Proxy) serve(ns netns.Handle, key, group, listenAddr string, resolve Resolver) error {
	if resolve == nil {
		return errors.New("metadata: Serve with nil resolver")
	}
	ap, err := netip.ParseAddrPort(listenAddr)
	if err != nil {
		return fmt.Errorf("metadata: listen address %q: %w", listenAddr, err)
	}
	nsID := ns.UniqueId()

	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.bound[key]; b != nil {
		if b.nsID == nsID && b.listen == listenAddr {
			b.group = group
			b.resolve.Store(&resolve)
			return nil
		}
		p.stopLocked(b)
	}

	network := "tcp4"
	if !ap.Addr().Unmap().Is4() {
		network = "tcp6"
	}
	lc := net.ListenConfig{}
	if !ap.Addr().IsUnspecified() && ap.Addr().Unmap().Is4() {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	var l net.Listener
	if err := netns.RunIn(ns, func() error {
		var err error
		l, err = lc.Listen(context.Background(), network, ap.String())
		return err
	}); err != nil {
		return fmt.Errorf("metadata: listen on %s in %s: %w", listenAddr, key, err)
	}

	b := &binding{key: key, group: group, listen: listenAddr, nsID: nsID, done: make(chan struct{})}
	b.resolve.Store(&resolve)
	b.srv = &http.Server{
		Handler:           p.handler(b),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(b.done)
		if err := b.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Warn("metadata listener stopped", "key", key, "err", err)
		}
	}()
	p.bound[key] = b
	p.log.Info("metadata proxy serving", "key", key, "listen", listenAddr)
	return nil
}

// Stop closes the listener served under key (and its connections); an
// unknown key is fine.
func (p *Proxy) Stop(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.bound[key]; b != nil {
		p.stopLocked(b)
	}
}

// StopAll closes every listener.
func (p *Proxy) StopAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.bound {
		p.stopLocked(b)
	}
	p.tr.CloseIdleConnections()
}

func (p *Proxy) stopLocked(b *binding) {
	b.srv.Close()
	<-b.done
	delete(p.bound, b.key)
	p.log.Info("metadata proxy stopped", "key", b.key)
}

// Keys returns the keys being served, sorted.
func (p *Proxy) Keys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.bound))
	for k := range p.bound {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Target is one listener Sync should keep: in the named namespace, on
// Listen, resolving callers with Resolve.
type Target struct {
	Namespace string
	Listen    string
	Resolve   Resolver
}

// Sync makes the listeners of group exactly want (by key): it serves
// every target whose namespace exists (idempotently, see Serve), and
// stops the group's listeners that are not wanted or whose namespace is
// gone. Listeners of other groups (and those started by Serve, group "")
// are left alone. It returns the errors of the targets it could not
// serve; the others are served regardless.
func (p *Proxy) Sync(group string, want map[string]Target) error {
	err := p.Update(group, want, nil)
	p.mu.Lock()
	for key, b := range p.bound {
		if _, ok := want[key]; !ok && b.group == group {
			p.stopLocked(b)
		}
	}
	p.mu.Unlock()
	return err
}

// Update is Sync for some of the group's listeners: it serves the
// targets of want (as Sync does) and stops the listeners of gone, and
// leaves the group's other listeners alone. An agent updates only what
// changed since its last Sync: opening every router's namespace on
// every reconcile took a network node with a thousand routers 9 ms.
func (p *Proxy) Update(group string, want map[string]Target, gone []string) error {
	var errs []error
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		t := want[key]
		ns, err := netns.Open(t.Namespace)
		if err != nil {
			p.Stop(key)
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("metadata: open netns %s: %w", t.Namespace, err))
			}
			continue
		}
		err = p.serve(ns, key, group, t.Listen, t.Resolve)
		ns.Close()
		if err != nil {
			errs = append(errs, err)
		}
	}
	p.mu.Lock()
	for _, key := range gone {
		if b := p.bound[key]; b != nil && b.group == group {
			p.stopLocked(b)
		}
	}
	p.mu.Unlock()
	return errors.Join(errs...)
}

// handler identifies the caller, replaces any identity headers it sent
// and forwards the request.
func (p *Proxy) handler(b *binding) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remote, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			http.Error(w, "bad remote address", http.StatusBadRequest)
			return
		}
		var local netip.Addr
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(la.String()); err == nil {
				local = ap.Addr().Unmap()
			}
		}
		caller := remote.Addr().Unmap()
		inst, ok := (*b.resolve.Load())(caller, local)
		if !ok || inst.ID == "" {
			p.log.Debug("metadata request from unknown address", "key", b.key, "remote", caller, "path", r.URL.Path)
			http.Error(w, "no instance with this address", http.StatusNotFound)
			return
		}
		r = r.Clone(r.Context())
		setIdentity(r.Header, p.secret, inst, caller)
		p.log.Debug("metadata request", "key", b.key, "instance", inst.ID, "remote", caller, "path", r.URL.Path)
		p.rp.ServeHTTP(w, r)
	})
}

// setIdentity removes every identity header the client sent (and any
// X-Neutron-*) and sets the caller's.
func setIdentity(h http.Header, secret string, inst Instance, caller netip.Addr) {
	for k := range h {
		if strings.HasPrefix(k, "X-Neutron-") {
			delete(h, k)
		}
	}
	for _, k := range []string{HeaderInstanceID, HeaderTenantID, HeaderForwarded, HeaderSignature} {
		h.Del(k)
	}
	h.Set(HeaderInstanceID, inst.ID)
	h.Set(HeaderTenantID, inst.ProjectID)
	h.Set(HeaderForwarded, caller.String())
	h.Set(HeaderSignature, Sign(secret, inst.ID))
}
