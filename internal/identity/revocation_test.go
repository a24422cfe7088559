package identity

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// watchKV is a memKV that tells OnCreate hooks about new keys, as the
// server's store does through its etcd watch.
type watchKV struct {
	*memKV
	mu    sync.Mutex
	hooks []func(key string, val []byte)
	pfx   []string
}

func (w *watchKV) OnCreate(prefix string, fn func(key string, val []byte)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hooks, w.pfx = append(w.hooks, fn), append(w.pfx, prefix)
}

func (w *watchKV) Create(ctx context.Context, key string, val []byte) ([]byte, error) {
	stored, err := w.memKV.Create(ctx, key, val)
	if err == nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i, fn := range w.hooks {
			if strings.HasPrefix(key, w.pfx[i]) {
				fn(key, stored)
			}
		}
	}
	return stored, err
}

// With a watching KV, a revocation made by one process is refused by
// another at once, although that one had cached "not revoked".
func TestRevocationFedByWatch(t *testing.T) {
	kv := &watchKV{memKV: newMemKV()}
	ks := func() *Keystone {
		k, err := NewKeystone(kv, KeystoneOptions{PublicURL: "http://neutron.example:9696", Now: time.Now, Key: testKey})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k1, k2 := ks(), ks()
	c := k1.Credentials().Demo
	tok, cl, err := k1.issue(claims{UserID: c.UserID, ProjectID: c.ProjectID, Methods: []string{"password"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.validate(context.Background(), tok); err != nil { // caches "not revoked"
		t.Fatal(err)
	}
	if err := k1.revoke(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
	if _, err := k2.validate(context.Background(), tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("other process accepts a token revoked elsewhere: %v", err)
	}
}
