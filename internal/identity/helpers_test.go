package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// memKV is an in-memory KV for tests.
type memKV struct {
	mu   sync.Mutex
	m    map[string][]byte
	gets int
}

func newMemKV() *memKV { return &memKV{m: make(map[string][]byte)} }

func (kv *memKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.gets++
	v, ok := kv.m[key]
	return append([]byte(nil), v...), ok, nil
}

func (kv *memKV) Create(_ context.Context, key string, val []byte) ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if v, ok := kv.m[key]; ok {
		return append([]byte(nil), v...), nil
	}
	kv.m[key] = append([]byte(nil), val...)
	return append([]byte(nil), val...), nil
}

func (kv *memKV) Delete(_ context.Context, key string) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	delete(kv.m, key)
	return nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a Keystone served by an httptest server at the identity base.
type env struct {
	kv    *memKV
	clock *clock
	ks    *Keystone
	srv   *httptest.Server
}

// testKey is the master key of test Keystones; envs sharing a memKV share
// it like servers sharing etcd share the key file.
var testKey = func() []byte { k := sha256.Sum256([]byte("neutrino identity test key")); return k[:] }()

func newEnv(t testing.TB, kv *memKV, opts ...func(*KeystoneOptions)) *env {
	t.Helper()
	if kv == nil {
		kv = newMemKV()
	}
	e := &env{kv: kv, clock: &clock{t: time.Now()}}
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	o := KeystoneOptions{
		PublicURL:   "http://neutron.example:9696",
		IdentityURL: e.srv.URL,
		Now:         e.clock.Now,
		Key:         testKey,
	}
	for _, fn := range opts {
		fn(&o)
	}
	ks, err := NewKeystone(kv, o)
	if err != nil {
		t.Fatal(err)
	}
	e.ks, h = ks, ks.Handler()
	return e
}

type response struct {
	code   int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (e *env) do(t testing.TB, method, path, token, subject string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = bytes.NewBufferString(b)
		default:
			data, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(data)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if subject != "" {
		req.Header.Set("X-Subject-Token", subject)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{code: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

// passwordAuth builds a password auth request by user name in domain
// "Default", scoped to project (by name) unless project is "".
func passwordAuth(user, password, project string) map[string]any {
	auth := map[string]any{"identity": map[string]any{
		"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{
			"name": user, "domain": map[string]any{"name": "Default"}, "password": password,
		}},
	}}
	if project != "" {
		auth["scope"] = map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"name": "Default"}}}
	}
	return map[string]any{"auth": auth}
}

// login returns a project-scoped token for user in project.
func (e *env) login(t testing.TB, user, password, project string) string {
	t.Helper()
	r := e.do(t, "POST", "/v3/auth/tokens", "", "", passwordAuth(user, password, project))
	if r.code != http.StatusCreated {
		t.Fatalf("login %s/%s: %d %s", user, project, r.code, r.raw)
	}
	tok := r.header.Get("X-Subject-Token")
	if tok == "" {
		t.Fatal("no X-Subject-Token")
	}
	return tok
}

func (e *env) admin(t testing.TB) string {
	c := e.ks.Credentials().Admin
	return e.login(t, c.UserName, c.Password, c.ProjectName)
}

func authReq(token string) *http.Request {
	r := httptest.NewRequest("GET", "/v2.0/networks", nil)
	if token != "" {
		r.Header.Set("X-Auth-Token", token)
	}
	return r
}

// get walks a decoded JSON document: get(doc, "token", "project", "id").
func get(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[p]
		case int:
			l, _ := v.([]any)
			if p >= len(l) {
				return nil
			}
			v = l[p]
		}
	}
	return v
}

func roleNames(t testing.TB, body map[string]any) []string {
	t.Helper()
	var out []string
	roles, _ := get(body, "token", "roles").([]any)
	for _, r := range roles {
		out = append(out, get(r, "name").(string))
	}
	return out
}

// memTxn is a memKV transaction: the plan runs under the KV's lock, so
// it sees a consistent view; writes are staged and applied together.
type memTxn struct {
	kv   *memKV
	puts map[string][]byte
	dels map[string]bool
	err  error
}

func (t *memTxn) Get(key string) ([]byte, bool) {
	if t.dels[key] {
		return nil, false
	}
	if v, ok := t.puts[key]; ok {
		return v, true
	}
	v, ok := t.kv.m[key]
	return v, ok
}

func (t *memTxn) Scan(prefix string, fn func(string, []byte)) {
	for k, v := range t.kv.m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			fn(k, v)
		}
	}
}

func (t *memTxn) Put(key string, val []byte) {
	delete(t.dels, key)
	t.puts[key] = append([]byte(nil), val...)
}

func (t *memTxn) Create(key string, val []byte) {
	if _, ok := t.Get(key); ok && t.err == nil {
		t.err = errors.New("memTxn: create of existing key " + key)
	}
	t.Put(key, val)
}

func (t *memTxn) Delete(key string) {
	delete(t.puts, key)
	t.dels[key] = true
}

func (kv *memKV) Update(_ context.Context, plan func(KVTxn) error) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	t := &memTxn{kv: kv, puts: map[string][]byte{}, dels: map[string]bool{}}
	if err := plan(t); err != nil {
		return err
	}
	if t.err != nil {
		return t.err
	}
	for k := range t.dels {
		delete(kv.m, k)
	}
	for k, v := range t.puts {
		kv.m[k] = v
	}
	return nil
}

func (kv *memKV) Read(_ context.Context, fn func(KVTxn) error) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return fn(&memTxn{kv: kv, puts: map[string][]byte{}, dels: map[string]bool{}})
}
