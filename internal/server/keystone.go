package server

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/identity"
)

// defaultKeyFile is where the signing key lives unless [identity]
// signing_key_file says otherwise.
const defaultKeyFile = "signing-key"

// startKeystone loads (or, on first start, generates) the signing key
// file and starts the built-in Keystone on the store.
func startKeystone(cfg config.Server, o Options, st kv) (*identity.Keystone, error) {
	path := cfg.SigningKeyFile
	if path == "" {
		if o.DataDir == "" {
			return nil, errors.New("built-in keystone: set [identity] signing_key_file (or --data-dir, where it is generated)")
		}
		path = filepath.Join(o.DataDir, defaultKeyFile)
	}
	key, created, err := identity.LoadOrGenerateKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("built-in keystone: %w", err)
	}
	if created {
		o.Log.Warn("generated the token signing key file; every other server sharing this etcd needs a copy of it", "path", path)
	}
	ks, err := identity.NewKeystone(st, identity.KeystoneOptions{
		PublicURL:              cfg.PublicURL,
		IdentityURL:            cfg.PublicURL + "/identity",
		Key:                    key,
		LockoutFailureAttempts: cfg.LockoutFailureAttempts,
		LockoutDuration:        cfg.LockoutDuration,
	})
	if errors.Is(err, identity.ErrWrongKey) {
		return nil, fmt.Errorf("built-in keystone: signing key file %s is not the key the other servers of this etcd use (%v): copy the signing key file of a running server to %s on this host", path, err, path)
	}
	if err != nil {
		return nil, fmt.Errorf("built-in keystone: %w", err)
	}
	return ks, nil
}
