package identity

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteOpenRC writes devstack-style "admin-openrc" and "demo-openrc" files
// (mode 0600) into dir, creating dir if needed. identityURL is the identity
// base (e.g. "http://127.0.0.1:9696/identity"); OS_AUTH_URL is it + "/v3".
//
// Existing files are replaced atomically: their content follows from the
// KV, so every server sharing it writes the same files, and a stale file
// (e.g. after the KV was wiped) gets corrected.
func WriteOpenRC(dir string, identityURL string, creds Credentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		user UserCredentials
	}{{"admin-openrc", creds.Admin}, {"demo-openrc", creds.Demo}} {
		if f.user.UserName == "" {
			return fmt.Errorf("identity: no credentials for %s", f.name)
		}
		content := openRC(identityURL, creds.Region, f.user)
		if err := writeFileAtomic(filepath.Join(dir, f.name), []byte(content)); err != nil {
			return err
		}
	}
	return nil
}

func openRC(identityURL, region string, u UserCredentials) string {
	if region == "" {
		region = "RegionOne"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Credentials of the Neutrino bootstrap user %q (generated, do not edit).\n", u.UserName)
	for _, kv := range [][2]string{
		{"OS_AUTH_URL", strings.TrimRight(identityURL, "/") + "/v3"},
		{"OS_IDENTITY_API_VERSION", "3"},
		{"OS_AUTH_TYPE", "password"},
		{"OS_USERNAME", u.UserName},
		{"OS_PASSWORD", u.Password},
		{"OS_PROJECT_NAME", u.ProjectName},
		{"OS_USER_DOMAIN_ID", DefaultDomainID},
		{"OS_PROJECT_DOMAIN_ID", DefaultDomainID},
		{"OS_REGION_NAME", region},
		{"OS_INTERFACE", "public"},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

// shellQuote single-quotes s unless it only has characters the shell
// leaves alone.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/@%+=,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeFileAtomic writes data to a temporary file (mode 0600) in the same
// directory and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteUserOpenRC writes one openrc file (mode 0600) for the user u, in
// the format of WriteOpenRC (e.g. "agent-openrc" for the agents'
// service credential).
func WriteUserOpenRC(path, identityURL, region string, u UserCredentials) error {
	if u.UserName == "" {
		return fmt.Errorf("identity: no credentials for %s", filepath.Base(path))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, []byte(openRC(identityURL, region, u)))
}
