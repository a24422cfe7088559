package store

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"

	"github.com/neutrino-net/neutrino/internal/freeport"
)

// Embedded is a single-member etcd running inside this process, with its
// data under dir. The server talks to it through an in-process client, so
// no client port is opened; the peer port (needed by etcd even alone) is
// bound to loopback.
type Embedded struct {
	etcd   *embed.Etcd
	Client *clientv3.Client
}

// StartEmbedded starts (or restarts, with the same data) the embedded etcd.
func StartEmbedded(ctx context.Context, dir string) (*Embedded, error) {
	cfg := embed.NewConfig()
	cfg.Name = "neutrino"
	cfg.Dir = filepath.Join(dir, "etcd")
	// etcd logs its own orderly shutdown at error level; failures reach us
	// as errors from the client anyway.
	cfg.LogLevel = "fatal"
	cfg.Logger = "zap"
	peer, err := freeLoopbackURL()
	if err != nil {
		return nil, err
	}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	client, err := embeddedClientURL(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	// Keep the history we need for resumable watches (agents resume from
	// a revision) but stop the database growing without bound.
	cfg.AutoCompactionMode = "revision"
	cfg.AutoCompactionRetention = "100000"
	cfg.QuotaBackendBytes = 8 << 30
	// A bulk create is one transaction of about three operations per
	// resource (the resource and its claims); etcd's default of 128 would
	// refuse bulk creates of more than ~40 ports. Requests stay bounded by
	// etcd's request size limit (1.5 MiB).
	cfg.MaxTxnOps = 4096
	// etcd applies writes to its database (bbolt) in a batch committed
	// every BackendBatchInterval (default 100 ms), holding the lock every
	// write's apply needs while the batch is written and fsynced: each
	// commit stalls the writes in flight for its duration: 20-64 ms on
	// the shared 2-core test machine under other jobs' I/O, 14-30 times
	// per 1,000 creates (docs/performance.md, "bench api"). Durability
	// does not depend on it: a write is acknowledged once it is in the
	// fsynced WAL, and after a crash etcd replays the WAL from its last
	// snapshot (which commits the batch first), so committing once a
	// second stalls ten times less at the cost of replaying at most a
	// second of writes.
	cfg.BackendBatchInterval = time.Second
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: not ready after 60s", cfg.Dir)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Embedded{etcd: e, Client: v3client.New(e.Server)}, nil
}

// Revision is the embedded member's current revision. The member is the
// whole cluster, so this is the revision a quorum read would return
// (WithLocalRevision), read without one.
func (e *Embedded) Revision() int64 { return e.etcd.Server.KV().Rev() }

// Close stops etcd; it waits for in-flight writes to be persisted.
func (e *Embedded) Close() {
	e.Client.Close()
	e.etcd.Close()
}

// embeddedClientURL is where the embedded etcd serves clients, which it
// must although the server uses an in-process client. A loopback port
// would let every local user read and write the store (and so make
// himself admin); a Unix socket in the etcd directory, which etcd keeps
// mode 0700, admits only this server's user. Socket paths are limited
// to 108 bytes: a longer data directory falls back to loopback.
func embeddedClientURL(etcdDir string) (*url.URL, error) {
	dir, err := filepath.Abs(etcdDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restrict %s: %w", dir, err)
	}
	sock := filepath.Join(dir, "client.sock")
	if len(sock) >= 100 {
		return freeLoopbackURL()
	}
	os.Remove(sock) // left by a crash; etcd would fail to bind
	return &url.URL{Scheme: "unix", Path: sock}, nil
}

// freeLoopbackURL picks a free port on 127.0.0.1 outside the ephemeral
// range (see package freeport), so no outgoing connection takes it
// before etcd binds it.
func freeLoopbackURL() (*url.URL, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return nil, fmt.Errorf("pick a loopback port for etcd: %w", err)
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, nil
}
