package identity

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// forge signs claims the way tokens were signed when the key lay in the
// KV: HMAC-SHA256 with the stored bytes.
func forge(key []byte, c claims) string {
	payload, _ := json.Marshal(c)
	p := b64.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(p))
	return p + "." + b64.EncodeToString(m.Sum(nil))
}

func adminClaims(e *env) claims {
	a := e.ks.Credentials().Admin
	now := time.Now()
	return claims{UserID: a.UserID, UserName: "admin", UserDomain: DefaultDomainID,
		ProjectID: a.ProjectID, ProjectName: "admin", ProjectDomain: DefaultDomainID,
		Roles: []string{"admin", "member", "reader"}, Methods: []string{"password"},
		IssuedAt: now.UnixMicro(), ExpiresAt: now.Add(time.Hour).UnixMicro(), AuditIDs: []string{"forged"}}
}

// Nothing a KV reader sees signs a token: every stored value, raw or hex
// decoded, used as the HMAC key yields a refused admin token.
func TestTokenForgedFromKVRefused(t *testing.T) {
	kv := newMemKV()
	e := newEnv(t, kv)
	for key, v := range kv.m {
		cands := [][]byte{v}
		if h, err := hex.DecodeString(string(v)); err == nil {
			cands = append(cands, h)
		}
		for _, c := range cands {
			if _, err := e.ks.Authenticate(authReq(forge(c, adminClaims(e)))); !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("token forged with the value of %s accepted: %v", key, err)
			}
		}
	}
	// The check itself works: the real token key forges a valid token.
	if _, err := e.ks.Authenticate(authReq(forge(e.ks.key, adminClaims(e)))); err != nil {
		t.Fatalf("token signed with the server's key refused: %v", err)
	}
}

// A store written by an older version (signing key and bootstrap
// passwords in plain text) keeps its users and passwords, loses both
// plaintext records, and tokens signed with the old key are refused.
func TestLegacyPlaintextStoreMigrates(t *testing.T) {
	kv := newMemKV()
	oldKey := bytes.Repeat([]byte{0x42}, 32)
	kv.m[legacySigningKey] = []byte(hex.EncodeToString(oldKey))
	legacy, _ := json.Marshal(bootstrapSecrets{AdminPassword: "old-admin-password-0123456789", DemoPassword: "old-demo-password-0123456789"})
	kv.m[legacyBootstrap] = legacy

	e := newEnv(t, kv)
	if got := e.ks.Credentials().Admin.Password; got != "old-admin-password-0123456789" {
		t.Fatalf("admin password changed by the upgrade: %q", got)
	}
	e.admin(t) // the old password still logs in
	for _, k := range []string{legacySigningKey, legacyBootstrap} {
		if _, ok := kv.m[k]; ok {
			t.Errorf("plaintext %s left in the KV", k)
		}
	}
	for k, v := range kv.m {
		if strings.Contains(string(v), "old-admin-password") {
			t.Errorf("plaintext password under %s", k)
		}
	}
	if _, err := e.ks.Authenticate(authReq(forge(oldKey, adminClaims(e)))); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("token signed with the old etcd key accepted: %v", err)
	}
}

// A server whose key file differs from the one that sealed the KV's
// secrets refuses to start, naming the problem.
func TestWrongKeyRefusedAtBootstrap(t *testing.T) {
	kv := newMemKV()
	newEnv(t, kv)
	_, err := NewKeystone(kv, KeystoneOptions{PublicURL: "http://x:9696", Key: bytes.Repeat([]byte{9}, MasterKeySize)})
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("bootstrap with another key: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "signing-key")
	k1, created, err := LoadOrGenerateKeyFile(path)
	if err != nil || !created || len(k1) != MasterKeySize {
		t.Fatalf("generate: %v %v %d", err, created, len(k1))
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", fi.Mode().Perm())
	}
	k2, created, err := LoadOrGenerateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: %v %v", err, created)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable key file: %v", err)
	}
	bad := filepath.Join(dir, "short")
	os.WriteFile(bad, []byte("c2hvcnQ=\n"), 0o600)
	if _, err := LoadKeyFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("short key: %v", err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing key: %v", err)
	}
}
