package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "GET", "/", "", "", nil)
	if r.code != http.StatusMultipleChoices {
		t.Fatalf("GET /: %d", r.code)
	}
	if loc := r.header.Get("Location"); loc != e.srv.URL+"/v3/" {
		t.Errorf("Location = %q", loc)
	}
	v := get(r.body, "versions", "values", 0)
	if get(v, "id") != "v3.14" || get(v, "status") != "stable" || get(v, "links", 0, "href") != e.srv.URL+"/v3/" ||
		get(v, "media-types", 0, "type") != "application/vnd.openstack.identity-v3+json" || get(v, "updated") != "2020-04-07T00:00:00Z" {
		t.Errorf("bad versions document: %s", r.raw)
	}
	for _, p := range []string{"/v3", "/v3/"} {
		r := e.do(t, "GET", p, "", "", nil)
		if r.code != http.StatusOK || get(r.body, "version", "id") != "v3.14" ||
			get(r.body, "version", "links", 0, "rel") != "self" {
			t.Errorf("GET %s: %d %s", p, r.code, r.raw)
		}
	}
	if r := e.do(t, "GET", "/v3/nothing", "", "", nil); r.code != 404 || get(r.body, "error", "code") != 404.0 {
		t.Errorf("unknown path: %d %s", r.code, r.raw)
	}
}

func TestHandlerUnderStripPrefix(t *testing.T) {
	e := newEnv(t, nil)
	h := http.StripPrefix("/identity", e.ks.Handler())
	for _, p := range []string{"/identity", "/identity/"} {
		w := &recorder{header: http.Header{}}
		req, _ := http.NewRequest("GET", p, nil)
		h.ServeHTTP(w, req)
		if w.code != http.StatusMultipleChoices {
			t.Errorf("GET %s: %d", p, w.code)
		}
	}
}

type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.code = code }

func TestPasswordAuthVariants(t *testing.T) {
	e := newEnv(t, nil)
	a := e.ks.Credentials().Admin
	userByID := map[string]any{"id": a.UserID, "password": a.Password}
	userByName := map[string]any{"name": "admin", "domain": map[string]any{"id": "default"}, "password": a.Password}
	for name, tc := range map[string]struct {
		user  map[string]any
		scope any
	}{
		"id+project id":          {userByID, map[string]any{"project": map[string]any{"id": a.ProjectID}}},
		"name+project name":      {userByName, map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]any{"name": "Default"}}}},
		"name+project domain id": {userByName, map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]any{"id": "default"}}}},
	} {
		body := map[string]any{"auth": map[string]any{
			"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": tc.user}},
			"scope":    tc.scope,
		}}
		r := e.do(t, "POST", "/v3/auth/tokens", "", "", body)
		if r.code != http.StatusCreated {
			t.Errorf("%s: %d %s", name, r.code, r.raw)
			continue
		}
		if get(r.body, "token", "project", "id") != a.ProjectID || get(r.body, "token", "user", "id") != a.UserID ||
			get(r.body, "token", "project", "domain", "id") != "default" || get(r.body, "token", "is_domain") != false {
			t.Errorf("%s: bad token body %s", name, r.raw)
		}
		if got := roleNames(t, r.body); !reflect.DeepEqual(got, []string{"admin", "member", "reader"}) {
			t.Errorf("%s: roles %v", name, got)
		}
		if len(get(r.body, "token", "catalog").([]any)) != 2 {
			t.Errorf("%s: catalog %v", name, get(r.body, "token", "catalog"))
		}
	}
}

func TestCatalog(t *testing.T) {
	e := newEnv(t, nil)
	d := e.ks.Credentials().Demo
	r := e.do(t, "POST", "/v3/auth/tokens", "", "", passwordAuth(d.UserName, d.Password, d.ProjectName))
	cat := get(r.body, "token", "catalog").([]any)
	want := map[string]string{"network": "http://neutron.example:9696", "identity": e.srv.URL + "/v3"}
	names := map[string]string{"network": "neutron", "identity": "keystone"}
	for _, s := range cat {
		typ := get(s, "type").(string)
		if get(s, "name") != names[typ] {
			t.Errorf("service %s named %v", typ, get(s, "name"))
		}
		eps := get(s, "endpoints").([]any)
		var ifaces []string
		for _, ep := range eps {
			ifaces = append(ifaces, get(ep, "interface").(string))
			if get(ep, "url") != want[typ] || get(ep, "region") != "RegionOne" || get(ep, "region_id") != "RegionOne" {
				t.Errorf("endpoint %v", ep)
			}
		}
		if !reflect.DeepEqual(ifaces, []string{"public", "internal", "admin"}) {
			t.Errorf("interfaces %v", ifaces)
		}
	}
	// nocatalog
	r = e.do(t, "POST", "/v3/auth/tokens?nocatalog", "", "", passwordAuth(d.UserName, d.Password, d.ProjectName))
	if r.code != 201 || get(r.body, "token", "catalog") != nil {
		t.Errorf("nocatalog: %d %s", r.code, r.raw)
	}
	if got := roleNames(t, r.body); !reflect.DeepEqual(got, []string{"member", "reader"}) {
		t.Errorf("demo roles %v", got)
	}
}

func TestUnscopedDomainAndRescope(t *testing.T) {
	e := newEnv(t, nil)
	a := e.ks.Credentials().Admin
	r := e.do(t, "POST", "/v3/auth/tokens", "", "", passwordAuth("admin", a.Password, ""))
	if r.code != 201 || get(r.body, "token", "catalog") != nil || get(r.body, "token", "project") != nil || get(r.body, "token", "roles") != nil {
		t.Fatalf("unscoped: %d %s", r.code, r.raw)
	}
	unscoped := r.header.Get("X-Subject-Token")
	if _, err := e.ks.Authenticate(authReq(unscoped)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("unscoped token accepted by Authenticate: %v", err)
	}

	// Re-scope with the token method to project demo: admin has no role
	// there, so 401; to project admin: fine.
	rescope := func(scope any) response {
		return e.do(t, "POST", "/v3/auth/tokens", "", "", map[string]any{"auth": map[string]any{
			"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": unscoped}},
			"scope":    scope,
		}})
	}
	if r := rescope(map[string]any{"project": map[string]any{"name": "demo", "domain": map[string]any{"id": "default"}}}); r.code != 401 {
		t.Errorf("rescope to demo: %d", r.code)
	}
	r = rescope(map[string]any{"project": map[string]any{"id": a.ProjectID}})
	if r.code != 201 {
		t.Fatalf("rescope: %d %s", r.code, r.raw)
	}
	if m := get(r.body, "token", "methods").([]any); len(m) != 2 || m[0] != "password" || m[1] != "token" {
		t.Errorf("methods %v", m)
	}
	if audits := get(r.body, "token", "audit_ids").([]any); len(audits) != 2 {
		t.Errorf("audit ids %v", audits)
	}
	c, err := e.ks.Authenticate(authReq(r.header.Get("X-Subject-Token")))
	if err != nil || c.ProjectID != a.ProjectID || !c.IsAdmin() {
		t.Errorf("rescoped token: %+v %v", c, err)
	}

	r = rescope(map[string]any{"domain": map[string]any{"id": "default"}})
	if r.code != 201 || get(r.body, "token", "domain", "name") != "Default" || get(r.body, "token", "project") != nil {
		t.Errorf("domain scope: %d %s", r.code, r.raw)
	}
	d := e.ks.Credentials().Demo
	body := passwordAuth(d.UserName, d.Password, "")
	body["auth"].(map[string]any)["scope"] = map[string]any{"domain": map[string]any{"name": "Default"}}
	if r := e.do(t, "POST", "/v3/auth/tokens", "", "", body); r.code != 401 {
		t.Errorf("demo domain scope: %d", r.code)
	}
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t, nil)
	a := e.ks.Credentials().Admin
	wantErr := `{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}`
	for name, body := range map[string]any{
		"wrong password":    passwordAuth("admin", "nope", "admin"),
		"unknown user":      passwordAuth("ghost", a.Password, "admin"),
		"unknown project":   passwordAuth("admin", a.Password, "ghost"),
		"no role there":     passwordAuth("admin", a.Password, "demo"),
		"unknown domain":    map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{"name": "admin", "domain": map[string]any{"name": "Other"}, "password": a.Password}}}}},
		"unknown method":    map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"totp"}}}},
		"bad token":         map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": "x.y"}}}},
		"system scope":      map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{"id": a.UserID, "password": a.Password}}}, "scope": map[string]any{"system": map[string]any{"all": true}}}},
		"unknown user id":   map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{"id": "nope", "password": a.Password}}}}},
		"project id absent": map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{"id": a.UserID, "password": a.Password}}}, "scope": map[string]any{"project": map[string]any{"id": "nope"}}}},
	} {
		r := e.do(t, "POST", "/v3/auth/tokens", "", "", body)
		if r.code != 401 || strings.TrimSpace(string(r.raw)) != wantErr {
			t.Errorf("%s: %d %s", name, r.code, r.raw)
		}
		if r.header.Get("X-Subject-Token") != "" {
			t.Errorf("%s: token issued", name)
		}
	}
	for name, body := range map[string]any{
		"not json":    "{",
		"no auth":     map[string]any{},
		"no methods":  map[string]any{"auth": map[string]any{"identity": map[string]any{}}},
		"no password": map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{"name": "admin"}}}}},
		"bad scope":   map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{"id": a.UserID, "password": a.Password}}}, "scope": 42}},
	} {
		r := e.do(t, "POST", "/v3/auth/tokens", "", "", body)
		if r.code != 400 || get(r.body, "error", "title") != "Bad Request" || get(r.body, "error", "code") != 400.0 {
			t.Errorf("%s: %d %s", name, r.code, r.raw)
		}
	}
}

func TestValidateAndRevoke(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.admin(t)
	d := e.ks.Credentials().Demo
	demo := e.login(t, d.UserName, d.Password, d.ProjectName)
	demo2 := e.login(t, d.UserName, d.Password, d.ProjectName)

	r := e.do(t, "GET", "/v3/auth/tokens", admin, demo, nil)
	if r.code != 200 || get(r.body, "token", "user", "name") != "demo" || r.header.Get("X-Subject-Token") != demo {
		t.Fatalf("validate: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "HEAD", "/v3/auth/tokens", admin, demo, nil); r.code != 200 {
		t.Errorf("HEAD: %d", r.code)
	}
	if r := e.do(t, "GET", "/v3/auth/tokens", demo, demo2, nil); r.code != 200 {
		t.Errorf("own token: %d", r.code)
	}
	if r := e.do(t, "GET", "/v3/auth/tokens", demo, admin, nil); r.code != 403 {
		t.Errorf("demo validating admin token: %d", r.code)
	}
	if r := e.do(t, "GET", "/v3/auth/tokens", "", demo, nil); r.code != 401 {
		t.Errorf("no caller token: %d", r.code)
	}
	if r := e.do(t, "GET", "/v3/auth/tokens", admin, "garbage", nil); r.code != 404 {
		t.Errorf("garbage subject: %d", r.code)
	}

	ctx, err := e.ks.Authenticate(authReq(demo))
	if err != nil || ctx.UserName != "demo" || ctx.ProjectName != "demo" || ctx.ProjectID != d.ProjectID || ctx.AuthToken != demo ||
		ctx.DomainID != "default" || ctx.IsAdmin() || !ctx.HasRole("member") || !ctx.HasRole("reader") {
		t.Fatalf("Authenticate: %+v %v", ctx, err)
	}

	if r := e.do(t, "DELETE", "/v3/auth/tokens", admin, demo, nil); r.code != 204 {
		t.Fatalf("revoke: %d %s", r.code, r.raw)
	}
	if _, err := e.ks.Authenticate(authReq(demo)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("revoked token accepted: %v", err)
	}
	if r := e.do(t, "GET", "/v3/auth/tokens", admin, demo, nil); r.code != 404 {
		t.Errorf("validate revoked: %d", r.code)
	}
	if _, err := e.ks.Authenticate(authReq(demo2)); err != nil {
		t.Errorf("other token of the same user revoked too: %v", err)
	}
	// A user may revoke its own token (openstack token revoke).
	if r := e.do(t, "DELETE", "/v3/auth/tokens", demo2, demo2, nil); r.code != 204 {
		t.Errorf("self revoke: %d", r.code)
	}
	if _, err := e.ks.Authenticate(authReq("")); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("missing token: %v", err)
	}
}

func TestRevocationSeenByOtherProcess(t *testing.T) {
	kv := newMemKV()
	e1, e2 := newEnv(t, kv), newEnv(t, kv)
	tok := e1.admin(t)
	if _, err := e2.ks.Authenticate(authReq(tok)); err != nil { // caches "not revoked"
		t.Fatal(err)
	}
	if r := e1.do(t, "DELETE", "/v3/auth/tokens", tok, tok, nil); r.code != 204 {
		t.Fatal(r.code)
	}
	if _, err := e1.ks.Authenticate(authReq(tok)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("revoking process still accepts: %v", err)
	}
	e2.clock.Advance(11 * time.Second) // past RevocationCacheTTL
	if _, err := e2.ks.Authenticate(authReq(tok)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("other process accepts revoked token after the cache TTL: %v", err)
	}
}

func TestExpiredAndTamperedTokens(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.admin(t)
	if _, err := e.ks.Authenticate(authReq(tok)); err != nil {
		t.Fatal(err)
	}
	payload, sig, _ := strings.Cut(tok, ".")
	raw, _ := b64.DecodeString(payload)
	var c map[string]any
	json.Unmarshal(raw, &c)
	c["p"] = "someoneelse"
	forged, _ := json.Marshal(c)
	for name, bad := range map[string]string{
		"forged payload": b64.EncodeToString(forged) + "." + sig,
		"bad signature":  payload + "." + b64.EncodeToString(make([]byte, 32)),
		"truncated":      tok[:len(tok)-2],
		"no dot":         payload,
		"empty":          ".",
		"garbage":        "gAAAAABgarbage",
	} {
		if _, err := e.ks.Authenticate(authReq(bad)); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A token signed by another installation (other key) is rejected.
	other := newEnv(t, nil, func(o *KeystoneOptions) { o.Key = bytes.Repeat([]byte{7}, MasterKeySize) })
	if _, err := e.ks.Authenticate(authReq(other.admin(t))); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("foreign token: %v", err)
	}

	e.clock.Advance(time.Hour - time.Second)
	if _, err := e.ks.Authenticate(authReq(tok)); err != nil {
		t.Errorf("token expired early: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.ks.Authenticate(authReq(tok)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("expired token accepted: %v", err)
	}
	if r := e.do(t, "GET", "/v3/projects", tok, "", nil); r.code != 401 || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("expired token on API: %d", r.code)
	}
}

func TestTokenTimesAndGophercloudLayout(t *testing.T) {
	e := newEnv(t, nil)
	e.clock.t = time.Date(2026, 1, 1, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	a := e.ks.Credentials().Admin
	r := e.do(t, "POST", "/v3/auth/tokens", "", "", passwordAuth("admin", a.Password, "admin"))
	if get(r.body, "token", "issued_at") != "2026-01-01T09:00:00.123456Z" || get(r.body, "token", "expires_at") != "2026-01-01T10:00:00.123456Z" {
		t.Errorf("times: %v %v", get(r.body, "token", "issued_at"), get(r.body, "token", "expires_at"))
	}
	if !regexp.MustCompile(`"password_expires_at":null`).Match(r.raw) {
		t.Errorf("password_expires_at not null: %s", r.raw)
	}
	// The structure gophercloud (openstack/identity/v3/tokens) decodes.
	var gc struct {
		Token struct {
			ExpiresAt time.Time `json:"expires_at"`
			IssuedAt  time.Time `json:"issued_at"`
			Methods   []string  `json:"methods"`
			AuditIDs  []string  `json:"audit_ids"`
			User      struct {
				ID     string `json:"id"`
				Name   string `json:"name"`
				Domain struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"domain"`
			} `json:"user"`
			Project struct {
				ID     string `json:"id"`
				Name   string `json:"name"`
				Domain struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"domain"`
			} `json:"project"`
			Roles []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"roles"`
			Catalog []struct {
				ID        string `json:"id"`
				Name      string `json:"name"`
				Type      string `json:"type"`
				Endpoints []struct {
					ID        string `json:"id"`
					Region    string `json:"region"`
					RegionID  string `json:"region_id"`
					Interface string `json:"interface"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.Unmarshal(r.raw, &gc); err != nil {
		t.Fatal(err)
	}
	tk := gc.Token
	if !tk.ExpiresAt.Equal(e.clock.t.Add(time.Hour).Truncate(time.Microsecond)) || tk.ExpiresAt.Location() != time.UTC {
		t.Errorf("expires_at %v", tk.ExpiresAt)
	}
	if tk.User.Name != "admin" || tk.User.Domain.ID != "default" || tk.User.Domain.Name != "Default" ||
		tk.Project.ID != a.ProjectID || tk.Project.Domain.Name != "Default" || len(tk.AuditIDs) != 1 ||
		len(tk.AuditIDs[0]) != 22 || !reflect.DeepEqual(tk.Methods, []string{"password"}) {
		t.Errorf("token: %+v", tk)
	}
	for _, role := range tk.Roles {
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(role.ID) {
			t.Errorf("role id %q", role.ID)
		}
	}
	found := false
	for _, s := range tk.Catalog {
		if s.Type == "network" && s.Name == "neutron" && len(s.Endpoints) == 3 && s.Endpoints[0].URL == "http://neutron.example:9696" {
			found = true
		}
	}
	if !found {
		t.Errorf("no network endpoint in %+v", tk.Catalog)
	}
}

func TestBootstrapIDsAndIdempotence(t *testing.T) {
	kv := newMemKV()
	e1 := newEnv(t, kv)
	c1 := e1.ks.Credentials()
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, id := range []string{c1.Admin.UserID, c1.Admin.ProjectID, c1.Demo.UserID, c1.Demo.ProjectID} {
		if !hex32.MatchString(id) {
			t.Errorf("id %q is not 32 hex digits", id)
		}
	}
	if len(c1.Admin.Password) < 20 || c1.Admin.Password == c1.Demo.Password || c1.Region != "RegionOne" {
		t.Errorf("credentials %+v", c1)
	}
	for key, v := range kv.m {
		if strings.Contains(string(v), c1.Admin.Password) || strings.Contains(string(v), c1.Demo.Password) {
			t.Errorf("plaintext password stored under %s", key)
		}
	}
	n := len(kv.m)
	e2 := newEnv(t, kv)
	if !reflect.DeepEqual(e2.ks.Credentials(), c1) {
		t.Errorf("second bootstrap: %+v != %+v", e2.ks.Credentials(), c1)
	}
	if len(kv.m) != n {
		t.Errorf("second bootstrap wrote %d keys", len(kv.m)-n)
	}
	// Roles and projects are listed once.
	r := e1.do(t, "GET", "/v3/projects", e1.admin(t), "", nil)
	if got := len(get(r.body, "projects").([]any)); got != 3 {
		t.Errorf("%d projects: %s", got, r.raw)
	}
}

func TestConcurrentBootstrap(t *testing.T) {
	kv := newMemKV()
	const n = 4
	ks := make([]*Keystone, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range ks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks[i], errs[i] = NewKeystone(kv, KeystoneOptions{PublicURL: "http://127.0.0.1:9696", Key: testKey})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	for i := 1; i < n; i++ {
		if !reflect.DeepEqual(ks[i].Credentials(), ks[0].Credentials()) {
			t.Fatalf("process %d has other credentials", i)
		}
	}
	// Every process validates every other's tokens.
	a := ks[0].Credentials().Admin
	for i, issuer := range ks {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v3/auth/tokens", strings.NewReader(mustJSON(passwordAuth("admin", a.Password, "admin"))))
		issuer.Handler().ServeHTTP(w, req)
		if w.Code != 201 {
			t.Fatalf("process %d: login %d %s", i, w.Code, w.Body)
		}
		tok := w.Header().Get("X-Subject-Token")
		for j, v := range ks {
			if c, err := v.Authenticate(authReq(tok)); err != nil || !c.IsAdmin() {
				t.Errorf("token of %d rejected by %d: %v", i, j, err)
			}
		}
	}
	roles, _ := ks[0].list(context.Background(), "identity/roles/list/")
	projects, _ := ks[0].list(context.Background(), "identity/projects/list/")
	users, _ := ks[0].list(context.Background(), "identity/users/list/")
	if len(roles) != 4 || len(projects) != 3 || len(users) != 2 {
		t.Errorf("after concurrent bootstrap: roles %v projects %v users %v", roles, projects, users)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestEnsureUser(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	uid, pid, err := e.ks.EnsureUser(ctx, "neutron", "s3cret", "service", "service")
	if err != nil {
		t.Fatal(err)
	}
	uid2, pid2, err := e.ks.EnsureUser(ctx, "neutron", "s3cret", "service", "service", "admin")
	if err != nil || uid2 != uid || pid2 != pid {
		t.Fatalf("second EnsureUser: %s %s %v", uid2, pid2, err)
	}
	if _, _, err := e.ks.EnsureUser(ctx, "neutron", "other", "service"); err == nil {
		t.Error("EnsureUser with another password succeeded")
	}
	c, err := e.ks.Authenticate(authReq(e.login(t, "neutron", "s3cret", "service")))
	if err != nil || !c.HasRole("service") || !c.IsAdmin() || c.ProjectName != "service" || c.UserID != uid {
		t.Errorf("service user: %+v %v", c, err)
	}
	// New project and custom role.
	_, pid3, err := e.ks.EnsureUser(ctx, "alice", "pw", "alpha", "Observer")
	if err != nil || pid3 == pid {
		t.Fatal(err)
	}
	c, err = e.ks.Authenticate(authReq(e.login(t, "alice", "pw", "alpha")))
	if err != nil || !reflect.DeepEqual(c.Roles, []string{"observer"}) || c.ProjectID != pid3 {
		t.Errorf("alice: %+v %v", c, err)
	}
	// Default role is member.
	e.ks.EnsureUser(ctx, "bob", "pw", "alpha")
	c, err = e.ks.Authenticate(authReq(e.login(t, "bob", "pw", "alpha")))
	if err != nil || !reflect.DeepEqual(c.Roles, []string{"member", "reader"}) {
		t.Errorf("bob: %+v %v", c, err)
	}
}

func TestIdentityResources(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.admin(t)
	cr := e.ks.Credentials()
	demo := e.login(t, "demo", cr.Demo.Password, "demo")

	r := e.do(t, "GET", "/v3/projects?name=demo", admin, "", nil)
	ps := get(r.body, "projects").([]any)
	if r.code != 200 || len(ps) != 1 || get(ps[0], "id") != cr.Demo.ProjectID || get(ps[0], "domain_id") != "default" ||
		get(r.body, "links", "self") != e.srv.URL+"/v3/projects" {
		t.Errorf("projects?name=demo: %s", r.raw)
	}
	if r := e.do(t, "GET", "/v3/projects?name=ghost", admin, "", nil); len(get(r.body, "projects").([]any)) != 0 {
		t.Errorf("ghost: %s", r.raw)
	}
	r = e.do(t, "GET", "/v3/projects", demo, "", nil)
	if ps := get(r.body, "projects").([]any); len(ps) != 1 || get(ps[0], "name") != "demo" {
		t.Errorf("demo sees %s", r.raw)
	}
	if r := e.do(t, "GET", "/v3/projects/"+cr.Demo.ProjectID, demo, "", nil); r.code != 200 || get(r.body, "project", "name") != "demo" {
		t.Errorf("get own project: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "GET", "/v3/projects/"+cr.Admin.ProjectID, demo, "", nil); r.code != 403 {
		t.Errorf("demo gets admin project: %d", r.code)
	}
	if r := e.do(t, "GET", "/v3/projects/demo", admin, "", nil); r.code != 404 || get(r.body, "error", "title") != "Not Found" {
		t.Errorf("project by name as id: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "GET", "/v3/projects", "", "", nil); r.code != 401 {
		t.Errorf("anonymous list: %d", r.code)
	}

	r = e.do(t, "GET", "/v3/users", admin, "", nil)
	if len(get(r.body, "users").([]any)) != 2 {
		t.Errorf("users: %s", r.raw)
	}
	r = e.do(t, "GET", "/v3/users?name=admin", demo, "", nil)
	if len(get(r.body, "users").([]any)) != 0 {
		t.Errorf("demo sees admin: %s", r.raw)
	}
	if r := e.do(t, "GET", "/v3/users/"+cr.Demo.UserID, demo, "", nil); r.code != 200 || get(r.body, "user", "name") != "demo" {
		t.Errorf("own user: %d", r.code)
	}
	if r := e.do(t, "GET", "/v3/users/"+cr.Admin.UserID, demo, "", nil); r.code != 403 {
		t.Errorf("other user: %d", r.code)
	}
	if r := e.do(t, "GET", "/v3/users/nope", admin, "", nil); r.code != 404 {
		t.Errorf("no user: %d", r.code)
	}

	r = e.do(t, "GET", "/v3/domains", demo, "", nil)
	if ds := get(r.body, "domains").([]any); len(ds) != 1 || get(ds[0], "id") != "default" || get(ds[0], "name") != "Default" {
		t.Errorf("domains: %s", r.raw)
	}
	if r := e.do(t, "GET", "/v3/domains/default", demo, "", nil); r.code != 200 {
		t.Errorf("domain: %d", r.code)
	}
	if r := e.do(t, "GET", "/v3/domains/other", demo, "", nil); r.code != 404 {
		t.Errorf("other domain: %d", r.code)
	}

	r = e.do(t, "GET", "/v3/roles", admin, "", nil)
	var names []string
	for _, role := range get(r.body, "roles").([]any) {
		names = append(names, get(role, "name").(string))
	}
	if !reflect.DeepEqual(names, []string{"admin", "member", "reader", "service"}) {
		t.Errorf("roles: %v", names)
	}
	r = e.do(t, "GET", "/v3/roles?name=admin", demo, "", nil)
	if len(get(r.body, "roles").([]any)) != 0 {
		t.Errorf("demo sees admin role: %s", r.raw)
	}
}

func TestExpandRoles(t *testing.T) {
	for in, want := range map[string][]string{
		"admin":          {"admin", "member", "reader"},
		"Member":         {"member", "reader"},
		"reader":         {"reader"},
		"service,member": {"member", "reader", "service"},
		"":               nil,
	} {
		if got := expandRoles(strings.Split(in, ",")); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v", in, got)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := hashPassword("pw")
	if h == h2 || !checkPassword(h, "pw") || checkPassword(h, "pw2") || checkPassword("", "") || checkPassword("$pbkdf2-sha256$x$$", "") {
		t.Errorf("password hashing broken: %s", h)
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	e := newEnv(b, nil)
	req := authReq(e.admin(b))
	if _, err := e.ks.Authenticate(req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.ks.Authenticate(req); err != nil {
			b.Fatal(err)
		}
	}
}
