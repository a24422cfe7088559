package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/server"
)

// The API is also served on Options.UnixSocket (sandbox agents in other
// network namespaces reach the server through it), and the socket file
// is removed on Close; a stale one from a crash does not block a start.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "server.sock")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // leaves the file behind, as a crash would

	cfg := config.Defaults()
	cfg.BindPort = 0
	cfg.AuthStrategy = "noauth"
	srv, err := server.Start(context.Background(), server.Options{Config: cfg, DataDir: dir, UnixSocket: sock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequest("GET", "http://unix/v2.0/networks", nil)
	req.Header.Set("X-Project-Id", "p1")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET over %s: %v", sock, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2.0/networks over the socket: %s", resp.Status)
	}
	srv.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file after Close: %v", err)
	}
}
