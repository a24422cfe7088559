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
// Its password is generated once and kept in the store, so every server
// sharing the store agrees on it and writes the same agent-openrc.
const (
	agentUserName    = "neutrino-agent"
	agentProjectName = "service"
	agentRole        = "service"
	agentPasswordKey = "agent/password"
	agentOpenRC      = "agent-openrc"
)

func ensureAgentCredential(ctx context.Context, st *store.Store, ks *identity.Keystone, dataDir, identityURL string) (identity.UserCredentials, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return identity.UserCredentials{}, err
	}
	pw, err := st.CreateValue(ctx, agentPasswordKey, []byte(base64.RawURLEncoding.EncodeToString(b)))
	if err != nil {
		return identity.UserCredentials{}, fmt.Errorf("agent credential: %w", err)
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
