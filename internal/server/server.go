// Package server assembles neutrino-server: the store (embedded or
// external etcd), identity, and the Neutron API on one HTTP listener.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/neutrino-net/neutrino/internal/api"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/identity"
	"github.com/neutrino-net/neutrino/internal/metrics"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Options are the command-line settings of neutrino-server.
type Options struct {
	Config        config.Server
	DataDir       string   // embedded etcd data and the openrc files
	EtcdEndpoints []string // external etcd; empty = embedded
	EtcdPrefix    string   // default "/neutrino/"
	// UnixSocket, if set, is a path where the same API is also served
	// (for clients in other network namespaces, e.g. sandbox agents).
	UnixSocket string
	Log        *slog.Logger
	// EtcdTimeout bounds each etcd request made for an API request;
	// beyond it the request answers 503 (default store.DefaultTimeout).
	EtcdTimeout time.Duration
	// StoreOptions are added to the store's (tests inject etcd faults).
	StoreOptions []store.Option
	// Registry receives the server's metrics (default: a new private
	// one); they are served on [DEFAULT] metrics_bind when it is set.
	Registry *prometheus.Registry
}

// Server is a running neutrino-server.
type Server struct {
	URL      string // the network endpoint, e.g. http://127.0.0.1:9696
	Store    *store.Store
	Keystone *identity.Keystone // nil unless the built-in Keystone serves
	// AgentCredentials is the agents' service user (built-in Keystone only).
	AgentCredentials identity.UserCredentials
	// Metrics is the listener of /metrics, /healthz and /readyz (nil
	// unless metrics_bind is set); Registry holds the metrics.
	Metrics         *metrics.Listener
	Registry        *prometheus.Registry
	stopBookkeeping func()
	http            *http.Server
	listener        net.Listener
	embedded        *store.Embedded
	client          *clientv3.Client
	done            chan error
}

// kv adapts the store's plain keys to identity.KV.
type kv struct{ s *store.Store }

func (k kv) Get(ctx context.Context, key string) ([]byte, bool, error) {
	return k.s.GetValue(ctx, key)
}
func (k kv) Create(ctx context.Context, key string, val []byte) ([]byte, error) {
	return k.s.CreateValue(ctx, key, val)
}

// Delete removes a plain key (plaintext secrets of older versions) and
// waits until the cache has seen it.
func (k kv) Delete(ctx context.Context, key string) error {
	resp, err := k.s.Client().Delete(ctx, k.s.Prefix()+"k/"+key)
	if err != nil {
		return err
	}
	return k.s.WaitRev(ctx, resp.Header.Revision)
}

// identityAdminSerial serializes the built-in Keystone's admin writes:
// each plan reads several records (a name index, the user a role goes
// to), so two of them racing must not both commit.
const identityAdminSerial = "identity/admin-serial"

// Update runs an identity admin write as one store transaction.
func (k kv) Update(ctx context.Context, plan func(tx identity.KVTxn) error) error {
	_, err := k.s.Update(ctx, func(v *store.View, t *store.Txn) error {
		t.Serialize(identityAdminSerial)
		return plan(kvTxn{v: v, t: t})
	})
	return err
}

// Read runs fn on a consistent view of the plain keys.
func (k kv) Read(ctx context.Context, fn func(tx identity.KVTxn) error) error {
	_, err := k.s.Update(ctx, func(v *store.View, _ *store.Txn) error {
		return fn(kvTxn{v: v})
	})
	return err
}

// kvTxn is identity's view of a store transaction (t nil: read-only).
type kvTxn struct {
	v *store.View
	t *store.Txn
}

func (x kvTxn) Get(key string) ([]byte, bool) { return x.v.Value(key) }
func (x kvTxn) Scan(prefix string, fn func(string, []byte)) {
	x.v.Values(prefix, fn)
}
func (x kvTxn) Put(key string, val []byte) {
	if x.t != nil {
		x.t.PutValue(key, val, false)
	}
}
func (x kvTxn) Create(key string, val []byte) {
	if x.t != nil {
		x.t.PutValue(key, val, true)
	}
}
func (x kvTxn) Delete(key string) {
	if x.t != nil {
		x.t.DeleteValue(key)
	}
}

// OnCreate feeds identity the plain keys under prefix as the store's
// watch applies them (token revocations made by other servers).
func (k kv) OnCreate(prefix string, fn func(key string, val []byte)) {
	k.s.OnValue(prefix, fn)
}

// Start opens the store, bootstraps identity and starts serving. It
// returns once the API accepts requests.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.EtcdPrefix == "" {
		o.EtcdPrefix = "/neutrino/"
	}
	cfg := o.Config
	s := &Server{done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			s.closeStore()
		}
	}()
	endpoints := o.EtcdEndpoints
	if len(endpoints) == 0 {
		endpoints = cfg.EtcdEndpoints
	}
	cli, err := s.connect(ctx, o, endpoints)
	if err != nil {
		return nil, err
	}
	opts := append(hostview.Indexes(), store.WithTimeout(o.EtcdTimeout), store.WithPrepare(api.Prepare))
	if s.embedded != nil {
		// The embedded etcd is a cluster of one member in this process:
		// its own revision is what Sync's quorum read would learn.
		opts = append(opts, store.WithLocalRevision(s.embedded.Revision))
	}
	st, err := store.Open(ctx, cli, o.EtcdPrefix, api.Decoders(), append(opts, o.StoreOptions...)...)
	if err != nil {
		return nil, err
	}
	s.Store = st

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindHost, strconv.Itoa(cfg.BindPort)))
	if err != nil {
		return nil, fmt.Errorf("listen on %s:%d: %w", cfg.BindHost, cfg.BindPort, err)
	}
	s.listener = ln
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	s.URL = cfg.PublicURL

	auth, idHandler, err := s.startAuth(ctx, &cfg, o, st)
	if err != nil {
		ln.Close()
		return nil, err
	}
	a, err := api.New(api.Options{Config: cfg, Store: st, Auth: auth, Identity: idHandler, Log: o.Log})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.Registry = o.Registry
	if s.Registry == nil {
		s.Registry = metrics.NewRegistry()
	}
	m := newServerMetrics(s.Registry, a, st)
	s.http = newHTTPServer(m.instrument(a, a), cfg.ClientSocketTimeout)
	if cfg.MetricsBind != "" {
		if s.Metrics, err = metrics.Listen(cfg.MetricsBind, metrics.Handler(s.Registry, s.ready), o.Log); err != nil {
			ln.Close()
			return nil, err
		}
	}
	if o.UnixSocket != "" {
		if err := s.serveUnix(o); err != nil {
			ln.Close()
			return nil, err
		}
	}
	go func() { s.done <- s.http.Serve(ln) }()
	s.stopBookkeeping = a.StartBookkeeping()
	ok = true
	o.Log.Info("neutrino-server listening", "url", s.URL, "unix_socket", o.UnixSocket, "metrics", cfg.MetricsBind, "etcd", etcdDesc(endpoints, o.DataDir), "auth", cfg.AuthStrategy)
	return s, nil
}

// startAuth picks the authenticator: none, a remote Keystone
// ([keystone_authtoken]), or the built-in one, whose identity API is
// then served too (idHandler) and which writes the openrc and the
// agents' credential.
func (s *Server) startAuth(ctx context.Context, cfg *config.Server, o Options, st *store.Store) (auth identity.Authenticator, idHandler http.Handler, err error) {
	switch {
	case cfg.AuthStrategy == "noauth":
		return identity.NoAuth{}, nil, nil
	case len(cfg.KeystoneAuthtoken) > 0:
		return identity.NewRemote(identity.RemoteConfigFromMap(cfg.KeystoneAuthtoken), &http.Client{Timeout: 10 * time.Second}), nil, nil
	}
	ks, err := startKeystone(*cfg, o, kv{st})
	if err != nil {
		return nil, nil, err
	}
	s.Keystone = ks
	if o.DataDir != "" {
		if err := identity.WriteOpenRC(o.DataDir, cfg.PublicURL+"/identity", ks.Credentials()); err != nil {
			return nil, nil, err
		}
	}
	if s.AgentCredentials, err = ensureAgentCredential(ctx, st, ks, o.DataDir, cfg.PublicURL+"/identity"); err != nil {
		return nil, nil, err
	}
	return ks, ks.Handler(), nil
}

// serveUnix serves the API on o.UnixSocket too.
func (s *Server) serveUnix(o Options) error {
	// A socket file left by a crashed server would make Listen fail.
	if fi, err := os.Lstat(o.UnixSocket); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(o.UnixSocket)
	}
	uln, err := net.Listen("unix", o.UnixSocket)
	if err != nil {
		return fmt.Errorf("listen on unix socket %s: %w", o.UnixSocket, err)
	}
	go func() {
		if err := s.http.Serve(uln); !errors.Is(err, http.ErrServerClosed) {
			o.Log.Error("serve unix socket", "path", o.UnixSocket, "err", err)
		}
	}()
	return nil
}

// connect opens the external etcd (endpoints) or starts the embedded one.
func (s *Server) connect(ctx context.Context, o Options, endpoints []string) (*clientv3.Client, error) {
	if len(endpoints) > 0 {
		e := o.Config.Etcd
		c, err := store.Connect(store.ConnectOptions{
			Endpoints: endpoints, Prefix: o.EtcdPrefix,
			CertFile: e.CertFile, KeyFile: e.KeyFile, CAFile: e.CAFile,
			Username: e.Username, Password: e.Password,
		})
		if err != nil {
			return nil, err
		}
		s.client = c
		return c, nil
	}
	if o.DataDir == "" {
		return nil, errors.New("--data-dir is required with the embedded etcd")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	e, err := store.StartEmbedded(ctx, o.DataDir)
	if err != nil {
		return nil, err
	}
	s.embedded = e
	return e.Client, nil
}

func etcdDesc(endpoints []string, dir string) string {
	if len(endpoints) > 0 {
		return fmt.Sprint(endpoints)
	}
	return "embedded in " + dir
}

// Wait blocks until the HTTP server stops.
func (s *Server) Wait() error {
	err := <-s.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving and closes the store.
func (s *Server) Close() {
	if s.stopBookkeeping != nil {
		s.stopBookkeeping()
	}
	s.Metrics.Close()
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.http.Shutdown(ctx)
		cancel()
	}
	s.closeStore()
}

func (s *Server) closeStore() {
	if s.Store != nil {
		s.Store.Close()
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
}
