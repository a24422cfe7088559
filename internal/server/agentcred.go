package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"

	"github.com/neutrino-net/neutrino/internal/identity"
	"github.com/neutrino-net/neutrino/internal/store"
)

// The agents' credential: user "neutrino-agent" with role "service" on
// project "service". It may speak the agent protocol and nothing else.
// Its password is generated once and kept in the store sealed with the
// signing key (identity.Keystone.SharedSecret), so every server sharing
// the store agrees on it and writes the same agent-openrc, and a reader
// of etcd learns nothing.
const (
	agentUserName    = "neutrino-agent"
	agentProjectName = "service"
	agentRole        = "service"
	agentPasswordKey = "agent/password-sealed"
	// legacyAgentPasswordKey held the password in plain text (older
	// versions); its value is kept, sealed, and the key deleted.
	legacyAgentPasswordKey = "agent/password"
	agentOpenRC            = "agent-openrc"
)

func ensureAgentCredential(ctx context.Context, st *store.Store, ks *identity.Keystone, dataDir, identityURL string) (identity.UserCredentials, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return identity.UserCredentials{}, err
	}
	fresh := []byte(base64.RawURLEncoding.EncodeToString(b))
	if legacy, ok, err := st.GetValue(ctx, legacyAgentPasswordKey); err != nil {
		return identity.UserCredentials{}, err
	} else if ok {
		fresh = legacy
	}
	pw, err := ks.SharedSecret(ctx, agentPasswordKey, fresh)
	if err != nil {
		return identity.UserCredentials{}, fmt.Errorf("agent credential: %w", err)
	}
	if err := ks.DropLegacy(ctx, legacyAgentPasswordKey); err != nil {
		return identity.UserCredentials{}, err
	}
	uid, pid, err := ks.EnsureUser(ctx, agentUserName, string(pw), agentProjectName, agentRole)
	if err != nil {
		return identity.UserCredentials{}, fmt.Errorf("agent credential: %w", err)
	}
	u := identity.UserCredentials{UserID: uid, UserName: agentUserName, Password: string(pw), ProjectID: pid, ProjectName: agentProjectName}
	if dataDir != "" {
		if err := identity.WriteUserOpenRC(filepath.Join(dataDir, agentOpenRC), identityURL, ks.Credentials().Region, u); err != nil {
			return u, err
		}
	}
	return u, nil
}
