package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/neutrino-net/neutrino/internal/agent"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/server"
)

// Serve runs the sandbox's neutrino-server in this process until ctx
// ends (the hidden `neutrino sandbox serve` command): built-in Keystone,
// embedded etcd in <dir>/server, the API on 127.0.0.1:port and on
// <dir>/server.sock, routers distributed by default (the sandbox is a
// DVR deployment). The openrc files the server writes (admin, demo and
// agent) are copied into dir.
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
