package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"
)

// remoteEnv runs the built-in Keystone at the root of an httptest server
// and counts the calls Remote makes.
type remoteEnv struct {
	*env
	mu         sync.Mutex
	logins     int
	validates  int
	reject401  int // answer the next n validations with 401
	keystoneSv *httptest.Server
}

func newRemoteEnv(t *testing.T) *remoteEnv {
	re := &remoteEnv{env: newEnv(t, nil)}
	h := re.ks.Handler()
	re.keystoneSv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		re.mu.Lock()
		if r.URL.Path == "/v3/auth/tokens" {
			switch r.Method {
			case "POST":
				re.logins++
			case "GET":
				re.validates++
				if re.reject401 > 0 {
					re.reject401--
					re.mu.Unlock()
					writeError(w, 401, msgUnauthorized)
					return
				}
			}
		}
		re.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(re.keystoneSv.Close)
	if _, _, err := re.ks.EnsureUser(context.Background(), "neutron", "neutron-pw", "service", "service"); err != nil {
		t.Fatal(err)
	}
	return re
}

func (re *remoteEnv) counts() (logins, validates int) {
	re.mu.Lock()
	defer re.mu.Unlock()
	return re.logins, re.validates
}

func (re *remoteEnv) remote(cfg map[string]string) *Remote {
	m := map[string]string{
		"auth_url": re.keystoneSv.URL, "username": "neutron", "password": "neutron-pw",
		"project_name": "service", "user_domain_name": "Default", "project_domain_id": "default",
	}
	for k, v := range cfg {
		m[k] = v
	}
	c := RemoteConfigFromMap(m)
	c.Now = re.clock.Now
	return NewRemote(c, re.keystoneSv.Client())
}

func TestRemoteValidation(t *testing.T) {
	re := newRemoteEnv(t)
	rm := re.remote(nil)
	d := re.ks.Credentials().Demo
	demo := re.login(t, "demo", d.Password, "demo")

	c, err := rm.Authenticate(authReq(demo))
	if err != nil {
		t.Fatal(err)
	}
	want := Context{UserID: d.UserID, UserName: "demo", ProjectID: d.ProjectID, ProjectName: "demo", DomainID: "default",
		Roles: []string{"member", "reader"}, AuthToken: demo}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got %+v, want %+v", *c, want)
	}
	c.Roles[0] = "admin" // callers mutating their copy do not poison the cache
	c, err = rm.Authenticate(authReq(demo))
	if err != nil || c.IsAdmin() {
		t.Fatalf("cached: %+v %v", c, err)
	}
	if logins, validates := re.counts(); logins != 1 || validates != 1 {
		t.Errorf("logins %d validates %d, want 1 1 (second call cached)", logins, validates)
	}

	admin, err := rm.Authenticate(authReq(re.admin(t)))
	if err != nil || !admin.IsAdmin() || !admin.HasRole("member") {
		t.Errorf("admin: %+v %v", admin, err)
	}
	for name, tok := range map[string]string{"missing": "", "garbage": "garbage", "tampered": demo[:len(demo)-3] + "AAA"} {
		if _, err := rm.Authenticate(authReq(tok)); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v", name, err)
		}
	}
	r := re.do(t, "POST", "/v3/auth/tokens", "", "", passwordAuth("demo", d.Password, ""))
	if _, err := rm.Authenticate(authReq(r.header.Get("X-Subject-Token"))); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unscoped token: %v", err)
	}

	// Revocation is seen once the cache entry (5 minutes) expires.
	if r := re.do(t, "DELETE", "/v3/auth/tokens", demo, demo, nil); r.code != 204 {
		t.Fatal(r.code)
	}
	if _, err := rm.Authenticate(authReq(demo)); err != nil {
		t.Errorf("cached entry dropped early: %v", err)
	}
	re.clock.Advance(5 * time.Minute)
	if _, err := rm.Authenticate(authReq(demo)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("revoked token after cache expiry: %v", err)
	}
}

func TestRemoteServiceTokenRefresh(t *testing.T) {
	re := newRemoteEnv(t)
	rm := re.remote(map[string]string{"auth_url": re.keystoneSv.URL + "/v3/"})
	d := re.ks.Credentials().Demo
	demo := re.login(t, "demo", d.Password, "demo")
	demo2 := re.login(t, "demo", d.Password, "demo")

	if _, err := rm.Authenticate(authReq(demo)); err != nil {
		t.Fatal(err)
	}
	// Keystone stops accepting our service token once: Remote logs in
	// again and retries.
	re.mu.Lock()
	re.reject401 = 1
	re.mu.Unlock()
	if _, err := rm.Authenticate(authReq(demo2)); err != nil {
		t.Fatalf("after 401: %v", err)
	}
	if logins, validates := re.counts(); logins != 2 || validates != 3 {
		t.Errorf("logins %d validates %d, want 2 3", logins, validates)
	}
	// Persistent 401 means unauthorized.
	re.mu.Lock()
	re.reject401 = 2
	re.mu.Unlock()
	if _, err := rm.Authenticate(authReq("other")); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("persistent 401: %v", err)
	}

	// Near the tokens' expiry: the cache does not outlive the user token
	// and the service token is renewed.
	re.clock.Advance(58 * time.Minute)
	demo3 := re.login(t, "demo", d.Password, "demo") // valid for another hour
	if _, err := rm.Authenticate(authReq(demo3)); err != nil {
		t.Fatal(err)
	}
	logins, _ := re.counts()
	rm.cacheMu.Lock()
	until := rm.cache[demo3].until
	rm.cacheMu.Unlock()
	if !until.Equal(re.clock.Now().Add(5 * time.Minute)) {
		t.Errorf("cache until %v", until)
	}
	// demo was validated at t0 (cached until t0+5m, so it is checked again);
	// it expires at t0+1h.
	if _, err := rm.Authenticate(authReq(demo)); err != nil {
		t.Fatal(err)
	}
	rm.cacheMu.Lock()
	until = rm.cache[demo].until
	rm.cacheMu.Unlock()
	re.clock.Advance(2 * time.Minute)
	if _, err := rm.Authenticate(authReq(demo)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("expired token (cached until %v): %v", until, err)
	}
	if l, _ := re.counts(); l != logins+1 {
		t.Errorf("service token not renewed near expiry: %d logins, had %d", l, logins)
	}
}

func TestRemoteErrorsAndBounds(t *testing.T) {
	re := newRemoteEnv(t)
	tok := re.admin(t)
	bad := re.remote(map[string]string{"password": "wrong"})
	if _, err := bad.Authenticate(authReq(tok)); err == nil || errors.Is(err, ErrUnauthorized) {
		t.Errorf("bad service credentials should be an internal error, got %v", err)
	}
	down := NewRemote(RemoteConfig{AuthURL: "http://127.0.0.1:1", Username: "x", Password: "y"}, nil)
	if _, err := down.Authenticate(authReq(tok)); err == nil || errors.Is(err, ErrUnauthorized) {
		t.Errorf("unreachable keystone: %v", err)
	}

	rm := re.remote(nil)
	rm.cfg.MaxCacheEntries = 2
	for i := 0; i < 5; i++ {
		if _, err := rm.Authenticate(authReq(re.admin(t))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rm.cache); n > 2 {
		t.Errorf("cache holds %d entries", n)
	}
	if got := rm.WWWAuthenticate(); got != "" {
		t.Errorf("WWWAuthenticate = %q", got)
	}
	if got := re.remote(map[string]string{"www_authenticate_uri": "http://ks:5000"}).WWWAuthenticate(); got != `Keystone uri="http://ks:5000"` {
		t.Errorf("WWWAuthenticate = %q", got)
	}
}

func TestRemoteConfigFromMap(t *testing.T) {
	c := RemoteConfigFromMap(map[string]string{
		"auth_url": "http://ks:5000", "username": "neutron", "password": "pw", "project_name": "service",
		"user_domain_id": "default", "project_domain_name": "Default", "auth_uri": "http://ks:5000/", "token_cache_time": "60",
	})
	want := RemoteConfig{AuthURL: "http://ks:5000", Username: "neutron", Password: "pw", ProjectName: "service",
		UserDomainID: "default", ProjectDomainName: "Default", WWWAuthenticateURI: "http://ks:5000/", CacheTTL: time.Minute}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v", c)
	}
	if rm := NewRemote(c, nil); rm.base != "http://ks:5000/v3" {
		t.Errorf("base %q", rm.base)
	}
}
