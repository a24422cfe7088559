package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The embedded etcd serves clients only on a Unix socket in its 0700
// directory, not on a loopback port every local user could reach.
func TestEmbeddedClientSocketPrivate(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEmbedded(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, u := range e.etcd.Config().ListenClientUrls {
		if u.Scheme != "unix" {
			t.Errorf("embedded etcd listens for clients on %s", u.String())
		}
	}
	etcdDir := filepath.Join(dir, "etcd")
	fi, err := os.Stat(etcdDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("etcd dir: %v %v", fi, err)
	}
	sock := filepath.Join(etcdDir, "client.sock")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"unix://" + sock}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("owner's client over the socket: %v", err)
	}
}
