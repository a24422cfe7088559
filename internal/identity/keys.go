package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The built-in Keystone's secret is one random master key kept in a file
// on the server hosts (like keystone's fernet key repository), never in
// the KV: whoever reads etcd must not be able to sign tokens. From it two
// keys are derived: one signs tokens (HMAC-SHA256), one seals the few
// secrets that must be shared through the KV (the bootstrap and agent
// passwords) with AES-256-GCM. Every server sharing a KV needs a copy of
// the same file.

// MasterKeySize is the size of the master key in bytes.
const MasterKeySize = 32

// keys are the derived keys.
type keys struct {
	token []byte
	aead  cipher.AEAD
}

func deriveKeys(master []byte) (*keys, error) {
	if len(master) < MasterKeySize {
		return nil, fmt.Errorf("identity: signing key has %d bytes, want %d", len(master), MasterKeySize)
	}
	tok, err := hkdf.Key(sha256.New, master, nil, "neutrino token signing v1", 32)
	if err != nil {
		return nil, err
	}
	sealKey, err := hkdf.Key(sha256.New, master, nil, "neutrino kv sealing v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keys{token: tok, aead: aead}, nil
}

// sealedPrefix marks a sealed value; the rest is base64url(nonce|ciphertext).
const sealedPrefix = "sealed1:"

// ErrWrongKey means a sealed value was made with another master key: this
// server's key file is not the one the other servers use.
var ErrWrongKey = errors.New("sealed with another signing key")

// seal encrypts plain for the KV key name. The name is authenticated, so
// a sealed value cannot be moved to another key.
func (k *keys) seal(name string, plain []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	ct := k.aead.Seal(nonce, nonce, plain, []byte(name))
	return []byte(sealedPrefix + base64.RawURLEncoding.EncodeToString(ct))
}

// open decrypts a value made by seal for the same name.
func (k *keys) open(name string, val []byte) ([]byte, error) {
	s, ok := strings.CutPrefix(string(val), sealedPrefix)
	if !ok {
		return nil, fmt.Errorf("identity: %s is not sealed", name)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	n := k.aead.NonceSize()
	if err != nil || len(raw) < n {
		return nil, fmt.Errorf("identity: corrupt sealed value %s", name)
	}
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("identity: %s: %w", name, ErrWrongKey)
	}
	return plain, nil
}

// LoadKeyFile reads a master key file: base64url of MasterKeySize random
// bytes, as GenerateKeyFile writes it (the format of a keystone fernet
// key). The file must not be readable by group or others.
func LoadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key file %s is accessible by group or others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key file: %w", err)
	}
	s := strings.TrimRight(strings.TrimSpace(string(b)), "=")
	key, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(key) != MasterKeySize {
		return nil, fmt.Errorf("signing key file %s: want base64url of %d bytes", path, MasterKeySize)
	}
	return key, nil
}

// LoadOrGenerateKeyFile loads path, or, if it does not exist, writes a new
// random key there (mode 0600, the directory created 0700) and reports
// created. A server that generated its key while others already share a
// KV finds out at bootstrap (ErrWrongKey), so a forgotten copy is an
// error at start-up, not a token rejected later.
func LoadOrGenerateKeyFile(path string) (key []byte, created bool, err error) {
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		key, err := LoadKeyFile(path)
		return key, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("signing key file: %w", err)
	}
	key = make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	// O_EXCL: two processes generating at once must not both win.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		key, err := LoadKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("signing key file: %w", err)
	}
	_, err = f.WriteString(base64.URLEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, false, fmt.Errorf("signing key file %s: %w", path, err)
	}
	return key, true, nil
}
