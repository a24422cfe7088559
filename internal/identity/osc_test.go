package identity

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenStackClient runs python-openstackclient against the built-in
// Keystone mounted under /identity, the way the server mounts it. Skipped
// when the openstack command is not installed.
func TestOpenStackClient(t *testing.T) {
	osc, err := exec.LookPath("openstack")
	if err != nil {
		t.Skip("openstack (python-openstackclient) not installed")
	}
	if testing.Short() {
		t.Skip("slow: runs the openstack CLI")
	}
	var ks *Keystone
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("/identity/", func(w http.ResponseWriter, r *http.Request) {
		http.StripPrefix("/identity", ks.Handler()).ServeHTTP(w, r)
	})
	mux.HandleFunc("/identity", func(w http.ResponseWriter, r *http.Request) {
		http.StripPrefix("/identity", ks.Handler()).ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
			"id": "v2.0", "status": "CURRENT",
			"links": []any{map[string]string{"rel": "self", "href": srv.URL + "/v2.0/"}},
		}}})
	})
	ks, err = NewKeystone(newMemKV(), KeystoneOptions{PublicURL: srv.URL, IdentityURL: srv.URL + "/identity", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteOpenRC(dir, srv.URL+"/identity", ks.Credentials()); err != nil {
		t.Fatal(err)
	}

	run := func(rc string, args ...string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, osc, append([]string{"--os-auth-url", srv.URL + "/identity/v3"}, args...)...)
		cmd.Env = openRCEnv(t, filepath.Join(dir, rc))
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("openstack %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		var v map[string]any
		if strings.TrimSpace(string(out)) == "" { // role add, delete
			return nil
		}
		if err := json.Unmarshal(out, &v); err != nil {
			var l []any
			if json.Unmarshal(out, &l) != nil {
				t.Fatalf("openstack %s: not JSON: %s", strings.Join(args, " "), out)
			}
			v = map[string]any{"list": l}
		}
		return v
	}

	creds := ks.Credentials()
	tok := run("admin-openrc", "token", "issue", "-f", "json")
	if tok["project_id"] != creds.Admin.ProjectID || tok["user_id"] != creds.Admin.UserID || tok["id"] == "" {
		t.Errorf("token issue: %v", tok)
	}
	c, err := ks.Authenticate(authReq(tok["id"].(string)))
	if err != nil || !c.IsAdmin() {
		t.Errorf("token from openstack CLI: %+v %v", c, err)
	}
	if p := run("admin-openrc", "project", "show", "demo", "-f", "json"); p["id"] != creds.Demo.ProjectID {
		t.Errorf("project show demo: %v", p)
	}
	if tok := run("demo-openrc", "token", "issue", "-f", "json"); tok["project_id"] != creds.Demo.ProjectID {
		t.Errorf("demo token issue: %v", tok)
	}

	// The admin API as an operator drives it.
	p := run("admin-openrc", "project", "create", "--description", "made by osc", "oscp", "-f", "json")
	u := run("admin-openrc", "user", "create", "--password", "osc-pw", "--project", "oscp", "oscu", "-f", "json")
	if p["name"] != "oscp" || u["name"] != "oscu" || u["default_project_id"] != p["id"] {
		t.Errorf("project/user create: %v %v", p, u)
	}
	run("admin-openrc", "role", "add", "--project", "oscp", "--user", "oscu", "member")
	ra := run("admin-openrc", "role", "assignment", "list", "--project", "oscp", "--names", "-f", "json")
	if l, _ := ra["list"].([]any); len(l) != 1 || get(l[0], "User") != "oscu@Default" || get(l[0], "Role") != "member" {
		t.Errorf("role assignment list: %v", ra)
	}
	userTok := run("admin-openrc", "--os-username", "oscu", "--os-password", "osc-pw", "--os-project-name", "oscp",
		"token", "issue", "-f", "json")
	if userTok["project_id"] != p["id"] {
		t.Errorf("new user's token: %v", userTok)
	}
	run("admin-openrc", "user", "delete", "oscu")
	run("admin-openrc", "project", "delete", "oscp")
	if _, err := ks.Authenticate(authReq(userTok["id"].(string))); err == nil {
		t.Error("a deleted user's token still works")
	}
}

// openRCEnv returns the environment without OS_* variables plus the exports
// of an openrc file.
func openRCEnv(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(rest, "=")
			env = append(env, k+"="+strings.Trim(v, "'"))
		}
	}
	return env
}
