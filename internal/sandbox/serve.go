package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent"
	"github.com/neutrino-net/neutrino/internal/agent/metadata"
	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/server"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Serve runs the sandbox's neutrino-server in this process until ctx
// ends (the hidden `neutrino sandbox serve` command): built-in Keystone,
// embedded etcd in <dir>/server, the API on 127.0.0.1:port and on
// <dir>/server.sock, and the metadata backend instances reach through
// the agents' proxies (on <dir>/metadata.sock, checking the shared secret
// in <dir>/metadata-secret). Routers are distributed by default
// (router_distributed = True), as in the DVR walkthrough; the legacy
// walkthrough creates its router centralized as admin. The openrc files the
// server writes (admin, demo and agent) are copied into dir. metricsBind
// is the server's [DEFAULT] metrics_bind ("" = none).
func Serve(ctx context.Context, dir string, port int, metricsBind string, log *slog.Logger) error {
	cfg := config.Defaults()
	cfg.BindHost = "127.0.0.1"
	cfg.BindPort = port
	cfg.MetricsBind = metricsBind
	cfg.RouterDistributed = true
	st, stErr := LoadState(dir)
	if stErr == nil {
		cfg.NetworkVLANRanges = strings.Join(st.VLANPhysnets, ",")
		if st.VNIRanges != "" {
			cfg.VNIRanges = st.VNIRanges
		}
		cfg.AutoL3Failover = cfg.AutoL3Failover && !st.NoL3Failover
	}
	data := filepath.Join(dir, serverDir)
	srv, err := server.Start(ctx, server.Options{Config: cfg, DataDir: data, UnixSocket: filepath.Join(dir, socketFile), Log: log})
	if err != nil {
		return err
	}
	secret, err := metadataSecret(dir)
	if err != nil {
		srv.Close()
		return err
	}
	backend := metadata.NewBackend(secret, func(instanceID string) (string, bool) {
		// The instance is the device of a port; its name is the port's.
		name, found := "", false
		srv.Store.View(func(v *store.View) {
			for _, e := range v.Index(model.KindPort, hostview.ByDevice, instanceID) {
				name, found = e.Obj.(*model.Port).Name, true
			}
		})
		return name, found
	})
	go func() {
		if err := backend.ListenAndServeUnix(filepath.Join(dir, metadataSocket)); err != nil && ctx.Err() == nil {
			log.Error("metadata backend stopped", "err", err)
		}
	}()
	defer backend.Close()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err = stErr
	if err == nil {
		err = relayHosts(ctx, st, log)
	}
	if err != nil {
		srv.Close()
		return fmt.Errorf("agent sockets: %w", err)
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

// RunAgent runs a neutrino-agent in this process with the INI file at
// configPath until ctx ends (the hidden `neutrino sandbox agent` command,
// started inside its host's namespace). metricsFD, if not 0, is an
// inherited listening socket (opened by the sandbox in the root
// namespace) on which the agent serves its metrics instead of binding
// metrics_bind in the host's namespace.
func RunAgent(ctx context.Context, configPath string, metricsFD int, log *slog.Logger) error {
	cfg, err := agent.LoadConfig(configPath)
	if err != nil {
		return err
	}
	a := agent.New(cfg, log)
	if metricsFD != 0 {
		f := os.NewFile(uintptr(metricsFD), "metrics-listener")
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("metrics listener (fd %d): %w", metricsFD, err)
		}
		a.ServeMetricsOn(ln)
	}
	return a.Run(ctx)
}

// metadataSocket is where the sandbox's metadata backend listens.
const metadataSocket = "metadata.sock"

// metadataSecretFile holds the sandbox's metadata_proxy_shared_secret.
const metadataSecretFile = "metadata-secret"

// metadataSecret returns the sandbox's metadata_proxy_shared_secret,
// creating it on first use.
func metadataSecret(dir string) (string, error) {
	path := filepath.Join(dir, metadataSecretFile)
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return string(b), nil
	}
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
		return "", fmt.Errorf("write metadata secret: %w", err)
	}
	return secret, nil
}
