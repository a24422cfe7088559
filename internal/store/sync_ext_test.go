package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// Sync past writes outside the prefix on an external etcd (Debian's,
// whose version decides between progress requests and the sync key).
func TestSyncPastForeignWritesExternal(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	cli, err := store.Connect(store.ConnectOptions{Endpoints: etcd.Endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	s, err := store.Open(context.Background(), cli, "/test/", decoders)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		resp, err := cli.Put(context.Background(), fmt.Sprint("/elsewhere/", i), "x")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = s.Sync(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Sync after a write outside the prefix: %v", err)
		}
		if got := s.Rev(); got < resp.Header.Revision {
			t.Fatalf("cache at revision %d after Sync, etcd at %d", got, resp.Header.Revision)
		}
	}
}
