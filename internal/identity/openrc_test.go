package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteOpenRC(t *testing.T) {
	e := newEnv(t, nil)
	creds := e.ks.Credentials()
	dir := filepath.Join(t.TempDir(), "etc")
	if err := WriteOpenRC(dir, "http://127.0.0.1:9696/identity/", creds); err != nil {
		t.Fatal(err)
	}
	// Rewriting (e.g. by a second server) is fine.
	if err := WriteOpenRC(dir, "http://127.0.0.1:9696/identity", creds); err != nil {
		t.Fatal(err)
	}
	for file, u := range map[string]UserCredentials{"admin-openrc": creds.Admin, "demo-openrc": creds.Demo} {
		path := filepath.Join(dir, file)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", file, st.Mode())
		}
		data, _ := os.ReadFile(path)
		want := []string{
			"export OS_AUTH_URL=http://127.0.0.1:9696/identity/v3",
			"export OS_IDENTITY_API_VERSION=3",
			"export OS_AUTH_TYPE=password",
			"export OS_USERNAME=" + u.UserName,
			"export OS_PASSWORD=" + u.Password,
			"export OS_PROJECT_NAME=" + u.ProjectName,
			"export OS_USER_DOMAIN_ID=default",
			"export OS_PROJECT_DOMAIN_ID=default",
			"export OS_REGION_NAME=RegionOne",
			"export OS_INTERFACE=public",
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if !strings.HasPrefix(l, "#") {
				got = append(got, l)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n%s", file, data)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("leftover files: %v", entries)
	}
	if err := WriteOpenRC(dir, "http://x", Credentials{}); err == nil {
		t.Error("empty credentials accepted")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"abc-_.":  "abc-_.",
		"":        "''",
		"a b":     "'a b'",
		"it's":    `'it'\''s'`,
		"$HOME;x": "'$HOME;x'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}
