package server_test

import (
	"testing"
	"time"
)

// waitFor polls cond until it holds; other servers' caches follow etcd's
// watch, so their view converges shortly after a write.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
