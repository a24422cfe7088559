// Package testutil starts real neutrino-servers (embedded or external
// etcd) for tests and gives them a small HTTP client.
package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/server"
	"github.com/neutrino-net/neutrino/internal/store"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Server is a running neutrino-server for one test.
type Server struct {
	*server.Server
	DataDir string
	t       testing.TB
	client  *http.Client
	tokens  map[string]string
}

// Option changes the server's configuration before it starts.
type Option func(*config.Server, *server.Options)

// NoAuth runs the server with auth_strategy = noauth.
func NoAuth() Option { return func(c *config.Server, _ *server.Options) { c.AuthStrategy = "noauth" } }

// WithEtcd uses an external etcd. Servers given the same endpoints and
// prefix get the same signing key file, as an operator copies it to every
// server of a cluster.
func WithEtcd(endpoints []string, prefix string) Option {
	return func(c *config.Server, o *server.Options) {
		o.EtcdEndpoints, o.EtcdPrefix = endpoints, prefix
		if c.SigningKeyFile == "" {
			c.SigningKeyFile = filepath.Join(o.DataDir, "shared-signing-key")
			key := sha256.Sum256(append(testKeySalt[:], strings.Join(endpoints, ",")+prefix...))
			if err := os.WriteFile(c.SigningKeyFile, []byte(base64.URLEncoding.EncodeToString(key[:])), 0o600); err != nil {
				panic(err)
			}
		}
	}
}

// testKeySalt makes the shared test keys unique to this test process.
var testKeySalt = func() (b [32]byte) {
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return b
}()

// WithStore sets the bound of each etcd request and adds store options
// (a LossyKV, for example).
func WithStore(timeout time.Duration, opts ...store.Option) Option {
	return func(_ *config.Server, o *server.Options) {
		o.EtcdTimeout = timeout
		o.StoreOptions = append(o.StoreOptions, opts...)
	}
}

// WithConfig edits the configuration.
func WithConfig(fn func(*config.Server)) Option {
	return func(c *config.Server, _ *server.Options) { fn(c) }
}

// StartServer starts a server on a free loopback port with its data in a
// temporary directory, stopped when the test ends.
func StartServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config.Defaults()
	cfg.BindPort = 0
	dir := t.TempDir()
	o := server.Options{DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, fn := range opts {
		fn(&cfg, &o)
	}
	o.Config = cfg
	s, err := server.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(s.Close)
	return &Server{Server: s, DataDir: dir, t: t, client: &http.Client{Timeout: 30 * time.Second}, tokens: map[string]string{}}
}

// Caller identifies who makes a request: in noauth mode by headers, in
// keystone mode by a token of the named built-in user.
type Caller struct {
	Project string
	Admin   bool
	User    string // keystone mode: "admin" or "demo"
}

// Admin and Demo are the built-in callers.
var (
	Admin = Caller{Project: "admin", Admin: true, User: "admin"}
	Demo  = Caller{Project: "demo", User: "demo"}
)

// Response is a decoded reply.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// ErrorType is the NeutronError type of an error reply.
func (r *Response) ErrorType() string {
	if e, ok := r.Body["NeutronError"].(map[string]any); ok {
		s, _ := e["type"].(string)
		return s
	}
	return ""
}

// Obj returns a member of the body as an object.
func (r *Response) Obj(key string) map[string]any {
	m, _ := r.Body[key].(map[string]any)
	return m
}

// List returns a member of the body as a list of objects.
func (r *Response) List(key string) []map[string]any {
	raw, _ := r.Body[key].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, x := range raw {
		m, _ := x.(map[string]any)
		out = append(out, m)
	}
	return out
}

// Do sends a request as c. body may be nil, a string or any JSON value.
func (s *Server) Do(c Caller, method, path string, body any) *Response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	s.authorize(req, c)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out.Body)
	}
	return out
}

func (s *Server) authorize(req *http.Request, c Caller) {
	if s.Keystone == nil {
		if c.Project != "" {
			req.Header.Set("X-Project-Id", c.Project)
			roles := "member,reader"
			if c.Admin {
				roles = "admin,member,reader"
			}
			req.Header.Set("X-Roles", roles)
		}
		return
	}
	if c.User == "" {
		return
	}
	req.Header.Set("X-Auth-Token", s.Token(c.User))
}

// Token returns a project-scoped token of a built-in user.
func (s *Server) Token(user string) string {
	s.t.Helper()
	if tok, ok := s.tokens[user]; ok {
		return tok
	}
	creds := s.Keystone.Credentials()
	u := creds.Demo
	if user == "admin" {
		u = creds.Admin
	}
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"domain":{"id":"default"},"password":%q}}},"scope":{"project":{"name":%q,"domain":{"id":"default"}}}}}`, u.UserName, u.Password, u.ProjectName)
	resp, err := s.client.Post(s.URL+"/identity/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	tok := resp.Header.Get("X-Subject-Token")
	if resp.StatusCode != http.StatusCreated || tok == "" {
		s.t.Fatalf("token for %s: status %d", user, resp.StatusCode)
	}
	s.tokens[user] = tok
	return tok
}

// ForgetToken drops the cached token of a built-in user (after a test
// revoked it); the next request gets a new one.
func (s *Server) ForgetToken(user string) { delete(s.tokens, user) }

// ProjectID returns the keystone id of a built-in user's project (or the
// caller's project name in noauth mode).
func (s *Server) ProjectID(c Caller) string {
	if s.Keystone == nil {
		return c.Project
	}
	creds := s.Keystone.Credentials()
	if c.User == "admin" {
		return creds.Admin.ProjectID
	}
	return creds.Demo.ProjectID
}

// Dump returns every resource and claim the server stored, one
// "key value" line each, sorted: tests compare dumps taken before and
// after a refused request to prove it changed nothing. Identity keys are
// left out (token revocations are not resources).
func (s *Server) Dump() string {
	s.t.Helper()
	resp, err := s.Store.Client().Get(context.Background(), s.Store.Prefix(), clientv3.WithPrefix())
	if err != nil {
		s.t.Fatal(err)
	}
	var lines []string
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		if strings.HasPrefix(k, s.Store.Prefix()+"k/") {
			continue
		}
		lines = append(lines, k+" "+string(kv.Value))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// RunEtcd starts Debian's etcd (package etcd-server) on free loopback
// ports for the test, or skips the test if it is not installed.
func RunEtcd(t testing.TB) []string {
	t.Helper()
	return StartEtcd(t).Endpoints
}

// Etcd is an etcd process started by StartEtcd.
type Etcd struct {
	Endpoints []string
	Process   *os.Process
}

// StartEtcd is RunEtcd that also gives the process (tests stop it with
// SIGSTOP to make etcd unresponsive).
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	client := freeURL(t)
	return startEtcd(t, client, http.DefaultClient)
}

// startEtcd runs etcd serving clients at client (extra flags in args) and
// waits until it answers /health through hc.
func startEtcd(t testing.TB, client string, hc *http.Client, args ...string) *Etcd {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd binary not found: install Debian package etcd-server")
	}
	dir := t.TempDir()
	peer := freeURL(t)
	cmd := exec.Command(bin, append([]string{"--name", "test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test=" + peer, "--log-level", "error"}, args...)...)
	logf, _ := os.Create(filepath.Join(dir, "etcd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		// Resume first in case the test stopped it and failed.
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(client + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &Etcd{Endpoints: []string{client}, Process: cmd.Process}
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
			t.Fatalf("etcd did not become healthy (%v): %s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
