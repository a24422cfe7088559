package identity

import (
	"net/http"
	"testing"
)

// mustCode fails unless r has the given status.
func mustCode(t *testing.T, what string, r response, code int) response {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: got %d, want %d: %s", what, r.code, code, r.raw)
	}
	return r
}

// TestAdminLifecycle walks tempest's dynamic credentials: an admin creates
// a project and a user, finds the member role, grants it, the user logs
// in; then the user and project are deleted and the token stops working.
func TestAdminLifecycle(t *testing.T) {
	e := newEnv(t, newMemKV())
	adm := e.admin(t)
	p := mustCode(t, "create project", e.do(t, "POST", "/v3/projects", adm, "", map[string]any{
		"project": map[string]any{"name": "tp", "description": "tp-desc", "domain_id": "default"}}), http.StatusCreated)
	pid := get(p.body, "project", "id").(string)
	mustCode(t, "duplicate project", e.do(t, "POST", "/v3/projects", adm, "", map[string]any{
		"project": map[string]any{"name": "tp"}}), http.StatusConflict)
	u := mustCode(t, "create user", e.do(t, "POST", "/v3/users", adm, "", map[string]any{
		"user": map[string]any{"name": "tu", "password": "secret", "domain_id": "default", "email": "tu@example.org"}}), http.StatusCreated)
	uid := get(u.body, "user", "id").(string)
	if get(u.body, "user", "email") != "tu@example.org" || get(u.body, "user", "password") != nil {
		t.Errorf("user body: %s", u.raw)
	}
	roles := mustCode(t, "list roles", e.do(t, "GET", "/v3/roles?name=member", adm, "", nil), http.StatusOK)
	rid := get(roles.body, "roles", 0, "id").(string)
	grant := "/v3/projects/" + pid + "/users/" + uid + "/roles/" + rid
	mustCode(t, "check before grant", e.do(t, "HEAD", grant, adm, "", nil), http.StatusNotFound)
	mustCode(t, "grant", e.do(t, "PUT", grant, adm, "", nil), http.StatusNoContent)
	mustCode(t, "grant again", e.do(t, "PUT", grant, adm, "", nil), http.StatusNoContent)
	mustCode(t, "check", e.do(t, "HEAD", grant, adm, "", nil), http.StatusNoContent)
	ra := mustCode(t, "role_assignments", e.do(t, "GET", "/v3/role_assignments?user.id="+uid+"&include_names", adm, "", nil), http.StatusOK)
	if get(ra.body, "role_assignments", 0, "scope", "project", "name") != "tp" || get(ra.body, "role_assignments", 1) != nil {
		t.Errorf("role_assignments: %s", ra.raw)
	}

	tok := e.login(t, "tu", "secret", "tp")
	if _, err := e.ks.Authenticate(authReq(tok)); err != nil {
		t.Fatalf("new user's token: %v", err)
	}
	mustCode(t, "member creates project", e.do(t, "POST", "/v3/projects", tok, "", map[string]any{
		"project": map[string]any{"name": "x"}}), http.StatusForbidden)
	mustCode(t, "member deletes user", e.do(t, "DELETE", "/v3/users/"+uid, tok, "", nil), http.StatusForbidden)

	mustCode(t, "delete user", e.do(t, "DELETE", "/v3/users/"+uid, adm, "", nil), http.StatusNoContent)
	if _, err := e.ks.Authenticate(authReq(tok)); err == nil {
		t.Error("a deleted user's token still works")
	}
	mustCode(t, "delete user again", e.do(t, "DELETE", "/v3/users/"+uid, adm, "", nil), http.StatusNotFound)
	mustCode(t, "user's assignments went too", e.do(t, "HEAD", grant, adm, "", nil), http.StatusNotFound)
	mustCode(t, "delete project", e.do(t, "DELETE", "/v3/projects/"+pid, adm, "", nil), http.StatusNoContent)
	mustCode(t, "get deleted project", e.do(t, "GET", "/v3/projects/"+pid, adm, "", nil), http.StatusNotFound)
	l := mustCode(t, "list projects", e.do(t, "GET", "/v3/projects?name=tp", adm, "", nil), http.StatusOK)
	if get(l.body, "projects", 0) != nil {
		t.Errorf("deleted project listed: %s", l.raw)
	}
	// The name is free again.
	mustCode(t, "re-create project", e.do(t, "POST", "/v3/projects", adm, "", map[string]any{
		"project": map[string]any{"name": "tp"}}), http.StatusCreated)
}

func TestAdminBadInput(t *testing.T) {
	e := newEnv(t, newMemKV())
	adm := e.admin(t)
	for _, c := range []struct {
		method, path string
		body         any
		code         int
	}{
		{"POST", "/v3/projects", `{"project": `, http.StatusBadRequest},
		{"POST", "/v3/projects", map[string]any{}, http.StatusBadRequest},
		{"POST", "/v3/projects", map[string]any{"project": map[string]any{"description": "no name"}}, http.StatusBadRequest},
		{"POST", "/v3/projects", map[string]any{"project": map[string]any{"name": 7}}, http.StatusBadRequest},
		{"POST", "/v3/projects", map[string]any{"project": map[string]any{"name": "p", "domain_id": "nope"}}, http.StatusBadRequest},
		{"POST", "/v3/users", map[string]any{"user": map[string]any{"name": ""}}, http.StatusBadRequest},
		{"POST", "/v3/users", map[string]any{"user": map[string]any{"name": "admin"}}, http.StatusConflict},
		{"PATCH", "/v3/users/nope", map[string]any{"user": map[string]any{"name": "x"}}, http.StatusNotFound},
		{"PATCH", "/v3/projects/nope", map[string]any{"project": map[string]any{"name": "x"}}, http.StatusNotFound},
		{"DELETE", "/v3/domains/nope", nil, http.StatusNotFound},
		{"DELETE", "/v3/domains/default", nil, http.StatusForbidden}, // enabled
		{"PUT", "/v3/projects/nope/users/nope/roles/nope", nil, http.StatusNotFound},
		{"POST", "/v3/roles", map[string]any{"role": map[string]any{"name": "member"}}, http.StatusConflict},
	} {
		r := e.do(t, c.method, c.path, adm, "", c.body)
		if r.code != c.code {
			t.Errorf("%s %s %v: got %d, want %d: %s", c.method, c.path, c.body, r.code, c.code, r.raw)
		}
	}
	mustCode(t, "no token", e.do(t, "POST", "/v3/users", "", "", map[string]any{"user": map[string]any{"name": "x"}}), http.StatusUnauthorized)
}

// TestAdminChangesEndTokens: a password change, disabling and losing the
// role end a user's tokens; renames move the name index.
func TestAdminChangesEndTokens(t *testing.T) {
	e := newEnv(t, newMemKV())
	adm := e.admin(t)
	demo := e.ks.Credentials().Demo
	tok := e.login(t, demo.UserName, demo.Password, demo.ProjectName)
	mustCode(t, "new password", e.do(t, "PATCH", "/v3/users/"+demo.UserID, adm, "", map[string]any{
		"user": map[string]any{"password": "pw2"}}), http.StatusOK)
	if _, err := e.ks.Authenticate(authReq(tok)); err == nil {
		t.Error("token survives a password change")
	}
	e.clock.Advance(1000)
	tok = e.login(t, demo.UserName, "pw2", demo.ProjectName)
	mustCode(t, "rename", e.do(t, "PATCH", "/v3/users/"+demo.UserID, adm, "", map[string]any{
		"user": map[string]any{"name": "demo2"}}), http.StatusOK)
	if _, err := e.ks.Authenticate(authReq(tok)); err != nil {
		t.Errorf("token ended by a rename: %v", err)
	}
	tok = e.login(t, "demo2", "pw2", demo.ProjectName)
	if r := e.do(t, "POST", "/v3/auth/tokens", "", "", passwordAuth(demo.UserName, "pw2", demo.ProjectName)); r.code != http.StatusUnauthorized {
		t.Errorf("old name still logs in: %d", r.code)
	}
	roles := mustCode(t, "user roles", e.do(t, "GET", "/v3/projects/"+demo.ProjectID+"/users/"+demo.UserID+"/roles", adm, "", nil), http.StatusOK)
	rid := get(roles.body, "roles", 0, "id").(string)
	mustCode(t, "revoke", e.do(t, "DELETE", "/v3/projects/"+demo.ProjectID+"/users/"+demo.UserID+"/roles/"+rid, adm, "", nil), http.StatusNoContent)
	if _, err := e.ks.Authenticate(authReq(tok)); err == nil {
		t.Error("token survives losing the role")
	}
	mustCode(t, "revoke again", e.do(t, "DELETE", "/v3/projects/"+demo.ProjectID+"/users/"+demo.UserID+"/roles/"+rid, adm, "", nil), http.StatusNotFound)
	if r := e.do(t, "POST", "/v3/auth/tokens", "", "", passwordAuth("demo2", "pw2", demo.ProjectName)); r.code != http.StatusUnauthorized {
		t.Errorf("login without a role: %d", r.code)
	}
}

// TestAdminDomains: a new domain holds its own projects and users; it must
// be disabled before it is deleted, and takes them along.
func TestAdminDomains(t *testing.T) {
	e := newEnv(t, newMemKV())
	adm := e.admin(t)
	d := mustCode(t, "create domain", e.do(t, "POST", "/v3/domains", adm, "", map[string]any{
		"domain": map[string]any{"name": "D2", "description": "second"}}), http.StatusCreated)
	did := get(d.body, "domain", "id").(string)
	mustCode(t, "duplicate domain", e.do(t, "POST", "/v3/domains", adm, "", map[string]any{
		"domain": map[string]any{"name": "d2"}}), http.StatusConflict)
	l := mustCode(t, "list by name", e.do(t, "GET", "/v3/domains?name=D2", adm, "", nil), http.StatusOK)
	if get(l.body, "domains", 0, "id") != did {
		t.Fatalf("list domains: %s", l.raw)
	}
	p := mustCode(t, "project in D2", e.do(t, "POST", "/v3/projects", adm, "", map[string]any{
		"project": map[string]any{"name": "admin", "domain_id": did}}), http.StatusCreated)
	pid := get(p.body, "project", "id").(string)
	u := mustCode(t, "user in D2", e.do(t, "POST", "/v3/users", adm, "", map[string]any{
		"user": map[string]any{"name": "admin", "domain_id": did, "password": "x"}}), http.StatusCreated)
	uid := get(u.body, "user", "id").(string)
	roles := mustCode(t, "roles", e.do(t, "GET", "/v3/roles?name=member", adm, "", nil), http.StatusOK)
	rid := get(roles.body, "roles", 0, "id").(string)
	mustCode(t, "grant", e.do(t, "PUT", "/v3/projects/"+pid+"/users/"+uid+"/roles/"+rid, adm, "", nil), http.StatusNoContent)
	auth := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": "admin", "domain": map[string]any{"name": "D2"}, "password": "x"}}},
		"scope": map[string]any{"project": map[string]any{"name": "admin", "domain": map[string]any{"id": did}}},
	}}
	r := mustCode(t, "login in D2", e.do(t, "POST", "/v3/auth/tokens", "", "", auth), http.StatusCreated)
	if get(r.body, "token", "project", "domain", "name") != "D2" || get(r.body, "token", "user", "domain", "name") != "D2" {
		t.Errorf("token domains: %s", r.raw)
	}
	tok := r.header.Get("X-Subject-Token")
	byID := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"id": uid, "password": "x"}}},
	}}
	mustCode(t, "login by id", e.do(t, "POST", "/v3/auth/tokens", "", "", byID), http.StatusCreated)
	mustCode(t, "delete enabled", e.do(t, "DELETE", "/v3/domains/"+did, adm, "", nil), http.StatusForbidden)
	mustCode(t, "disable", e.do(t, "PATCH", "/v3/domains/"+did, adm, "", map[string]any{"domain": map[string]any{"enabled": false}}), http.StatusOK)
	if _, err := e.ks.Authenticate(authReq(tok)); err == nil {
		t.Error("token survives disabling its domain")
	}
	mustCode(t, "login by id in a disabled domain", e.do(t, "POST", "/v3/auth/tokens", "", "", byID), http.StatusUnauthorized)
	mustCode(t, "delete", e.do(t, "DELETE", "/v3/domains/"+did, adm, "", nil), http.StatusNoContent)
	mustCode(t, "its user", e.do(t, "GET", "/v3/users/"+uid, adm, "", nil), http.StatusNotFound)
	mustCode(t, "its project", e.do(t, "GET", "/v3/projects/"+pid, adm, "", nil), http.StatusNotFound)
	mustCode(t, "name free", e.do(t, "POST", "/v3/domains", adm, "", map[string]any{"domain": map[string]any{"name": "D2"}}), http.StatusCreated)
}
