package server_test

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/identity"
	"github.com/neutrino-net/neutrino/internal/server"
	"github.com/neutrino-net/neutrino/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// startErr starts a server that is expected to fail and returns its error.
func startErr(t *testing.T, endpoints []string, prefix string, edit func(*config.Server)) error {
	t.Helper()
	cfg := config.Defaults()
	cfg.BindPort = 0
	edit(&cfg)
	s, err := server.Start(context.Background(), server.Options{Config: cfg, DataDir: t.TempDir(), EtcdEndpoints: endpoints, EtcdPrefix: prefix, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		s.Close()
		t.Fatal("server started")
	}
	return err
}

func mustContain(t *testing.T, err error, parts ...string) {
	t.Helper()
	t.Logf("start-up error: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// etcd over TLS with client certificates (Debian's etcd-server, with
// certificates made by the test): the server works over it, and refuses to
// start, saying why, when its certificate, key or CA is wrong.
func TestEtcdClientTLS(t *testing.T) {
	e := testutil.RunEtcdTLS(t)
	good := config.EtcdTLSAuth{CertFile: e.CertFile, KeyFile: e.KeyFile, CAFile: e.CAFile}
	s := testutil.StartServer(t, testutil.WithEtcd(e.Endpoints, "/tls/"), testutil.WithConfig(func(c *config.Server) { c.Etcd = good }))
	r := s.Do(testutil.Admin, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "over-tls"}})
	if r.Status != 201 {
		t.Fatalf("create over TLS: %d %s", r.Status, r.Raw)
	}
	if r := s.Do(testutil.Admin, "GET", "/v2.0/networks/"+r.Obj("network")["id"].(string), nil); r.Status != 200 {
		t.Fatalf("read over TLS: %d %s", r.Status, r.Raw)
	}

	for _, tc := range []struct {
		name string
		edit func(*config.EtcdTLSAuth)
		want []string
	}{
		{"client cert of another CA", func(c *config.EtcdTLSAuth) { c.CertFile, c.KeyFile = e.OtherCertFile, e.OtherKeyFile },
			[]string{"refused this server's client certificate", e.OtherCertFile}},
		{"no client cert", func(c *config.EtcdTLSAuth) { c.CertFile, c.KeyFile = "", "" },
			[]string{"requires a client certificate", "cert_file and key_file"}},
		{"CA that did not sign etcd", func(c *config.EtcdTLSAuth) { c.CAFile = e.OtherCAFile },
			[]string{"not signed by [etcd] ca_file", e.OtherCAFile}},
		{"key of another cert", func(c *config.EtcdTLSAuth) { c.KeyFile = e.OtherKeyFile },
			[]string{e.CertFile, e.OtherKeyFile}},
		{"missing cert file", func(c *config.EtcdTLSAuth) { c.CertFile = e.CertFile + ".missing" },
			[]string{e.CertFile + ".missing"}},
		{"CA file without a certificate", func(c *config.EtcdTLSAuth) { c.CAFile = e.KeyFile },
			[]string{e.KeyFile, "no PEM certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := startErr(t, e.Endpoints, "/tls/", func(c *config.Server) {
				c.Etcd = good
				tc.edit(&c.Etcd)
			})
			mustContain(t, err, tc.want...)
		})
	}
	// Plain http:// with TLS options is a configuration mistake.
	err := startErr(t, []string{strings.Replace(e.Endpoints[0], "https", "http", 1)}, "/tls/", func(c *config.Server) { c.Etcd = good })
	mustContain(t, err, "use https://")
}

// etcd user/password authentication, with a user whose role covers only
// the server's prefix.
func TestEtcdAuth(t *testing.T) {
	endpoints := testutil.RunEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	const prefix = "/authp/"
	steps := []func() error{
		func() error { _, err := cli.RoleAdd(ctx, "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "neutrino"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "neutrino", prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "neutrino", "s3cret"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "neutrino", "neutrino"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("etcd auth setup step %d: %v", i, err)
		}
	}
	s := testutil.StartServer(t, testutil.WithEtcd(endpoints, prefix), testutil.WithConfig(func(c *config.Server) {
		c.Etcd.Username, c.Etcd.Password = "neutrino", "s3cret"
	}))
	if r := s.Do(testutil.Demo, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "auth"}}); r.Status != 201 {
		t.Fatalf("create with etcd auth: %d %s", r.Status, r.Raw)
	}
	err = startErr(t, endpoints, prefix, func(c *config.Server) { c.Etcd.Username, c.Etcd.Password = "neutrino", "wrong" })
	mustContain(t, err, "authentication failed", `"neutrino"`)
	err = startErr(t, endpoints, prefix, func(c *config.Server) {})
	mustContain(t, err, "requires authentication")
	err = startErr(t, endpoints, "/elsewhere/", func(c *config.Server) { c.Etcd.Username, c.Etcd.Password = "neutrino", "s3cret" })
	mustContain(t, err, "may not read /elsewhere/")
}

// forge makes an admin token signed with key, in the built-in Keystone's
// token format.
func forge(s *testutil.Server, key []byte) string {
	a := s.Keystone.Credentials().Admin
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"u": a.UserID, "un": "admin", "ud": "default",
		"p": a.ProjectID, "pn": "admin", "pd": "default", "r": []string{"admin", "member", "reader"},
		"m": []string{"password"}, "i": now.UnixMicro(), "e": now.Add(time.Hour).UnixMicro(), "a": []string{"forged"}})
	p := base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Nothing stored in etcd signs a token: each value, as is or hex decoded,
// used as the signing key gives a token the server refuses, while the
// key derived from the key file on the server host gives one it accepts
// (so the forgery itself is right). No secret is stored in plain text.
func TestTokenForgedFromEtcdRefused(t *testing.T) {
	s := testutil.StartServer(t)
	call := func(tok string) int {
		req, _ := http.NewRequest("GET", s.URL+"/v2.0/networks", nil)
		req.Header.Set("X-Auth-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	resp, err := s.Store.Client().Get(context.Background(), s.Store.Prefix(), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	creds := s.Keystone.Credentials()
	secrets := []string{creds.Admin.Password, creds.Demo.Password, s.AgentCredentials.Password}
	for _, kv := range resp.Kvs {
		cands := [][]byte{kv.Value}
		if h, err := hex.DecodeString(string(kv.Value)); err == nil {
			cands = append(cands, h)
		}
		for _, c := range cands {
			if code := call(forge(s, c)); code != http.StatusUnauthorized {
				t.Fatalf("token forged with the value of %s: %d, want 401", kv.Key, code)
			}
		}
		for _, sec := range secrets {
			if strings.Contains(string(kv.Value), sec) {
				t.Errorf("a password is stored in plain text under %s", kv.Key)
			}
		}
	}
	master, err := identity.LoadKeyFile(filepath.Join(s.DataDir, "signing-key"))
	if err != nil {
		t.Fatal(err)
	}
	tokKey, _ := hkdf.Key(sha256.New, master, nil, "neutrino token signing v1", 32)
	if code := call(forge(s, tokKey)); code != http.StatusOK {
		t.Fatalf("token signed with the key file's key: %d", code)
	}
}

// Servers sharing etcd need the same key file: one with another key
// refuses to start and says what to copy.
func TestSecondServerWithOtherKeyRefused(t *testing.T) {
	endpoints := testutil.RunEtcd(t)
	testutil.StartServer(t, testutil.WithEtcd(endpoints, "/keys/"))
	other := filepath.Join(t.TempDir(), "other-key")
	if _, _, err := identity.LoadOrGenerateKeyFile(other); err != nil {
		t.Fatal(err)
	}
	err := startErr(t, endpoints, "/keys/", func(c *config.Server) { c.SigningKeyFile = other })
	mustContain(t, err, other, "copy the signing key file")
	if _, err := os.Stat(other); err != nil {
		t.Fatal(err)
	}
}
