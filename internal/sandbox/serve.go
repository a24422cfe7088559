package sandbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/server"
)

// Serve runs the sandbox's neutrino-server in this process until ctx
// ends (the hidden `neutrino sandbox serve` command): built-in Keystone,
// embedded etcd in <dir>/server, the API on 127.0.0.1:port and on
// <dir>/server.sock, routers distributed by default (the sandbox is a
// DVR deployment). The openrc files are copied into dir.
func Serve(ctx context.Context, dir string, port int, log *slog.Logger) error {
	cfg := config.Defaults()
	cfg.BindHost = "127.0.0.1"
	cfg.BindPort = port
	cfg.RouterDistributed = true
	data := filepath.Join(dir, serverDir)
	srv, err := server.Start(ctx, server.Options{Config: cfg, DataDir: data, UnixSocket: filepath.Join(dir, socketFile), Log: log})
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := ensureAgentUser(ctx, srv, dir); err != nil {
		srv.Close()
		return err
	}
	// admin-openrc comes last: Up takes its presence for "ready".
	for _, name := range []string{"agent-openrc", "demo-openrc", "admin-openrc"} {
		b, err := os.ReadFile(filepath.Join(data, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			err = writeAtomic(filepath.Join(dir, name), b)
		}
		if err != nil {
			srv.Close()
			return fmt.Errorf("copy %s: %w", name, err)
		}
	}
	return srv.Wait()
}

// Agent credential made by the sandbox when the server writes none.
const (
	agentUser    = "neutrino-agent"
	agentProject = "service"
	agentRole    = "service"
)

// ensureAgentUser makes sure there is an agent credential (user
// neutrino-agent with the service role on project service) and its
// <dir>/server/agent-openrc. A server that writes agent-openrc itself
// wins; otherwise the password is generated once and kept in the file.
func ensureAgentUser(ctx context.Context, srv *server.Server, dir string) error {
	path := filepath.Join(dir, serverDir, "agent-openrc")
	if srv.Keystone == nil {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	pw := rand.Text()
	if _, _, err := srv.Keystone.EnsureUser(ctx, agentUser, pw, agentProject, agentRole); err != nil {
		return fmt.Errorf("agent credential: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Credentials of the sandbox agents (generated, do not edit).\n")
	for _, kv := range [][2]string{
		{"OS_AUTH_URL", srv.URL + "/identity/v3"},
		{"OS_IDENTITY_API_VERSION", "3"},
		{"OS_AUTH_TYPE", "password"},
		{"OS_USERNAME", agentUser},
		{"OS_PASSWORD", pw},
		{"OS_PROJECT_NAME", agentProject},
		{"OS_USER_DOMAIN_ID", "default"},
		{"OS_PROJECT_DOMAIN_ID", "default"},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], kv[1])
	}
	if err := writeAtomic(path, []byte(b.String())); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// RunAgent runs a neutrino-agent in this process with the INI file at
// configPath until ctx ends (the hidden `neutrino sandbox agent` command,
// started inside its host's namespace).
func RunAgent(ctx context.Context, configPath string, log *slog.Logger) error {
	cfg, err := agent.LoadConfig(configPath)
	if err != nil {
		return err
	}
	return agent.Run(ctx, cfg, log)
}
