package testutil

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// StartEtcdCluster starts an n-member cluster of Debian's etcd on free
// loopback ports (each member's Endpoints is its own client URL), or
// skips the test if etcd is not installed. Members are killed when the
// test ends.
func StartEtcdCluster(t testing.TB, n int) []*Etcd {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd binary not found: install Debian package etcd-server")
	}
	dir := t.TempDir()
	clients, peers, initial := make([]string, n), make([]string, n), make([]string, n)
	for i := range n {
		clients[i], peers[i] = freeURL(t), freeURL(t)
		initial[i] = fmt.Sprintf("m%d=%s", i, peers[i])
	}
	members := make([]*Etcd, n)
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		cmd := exec.Command(bin, "--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--log-level", "error")
		logf, _ := os.Create(filepath.Join(dir, name+".log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start etcd %s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
		})
		members[i] = &Etcd{Endpoints: []string{clients[i]}, Process: cmd.Process}
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, c := range clients {
		for {
			resp, err := http.Get(c + "/health")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("m%d.log", i)))
				t.Fatalf("etcd member m%d did not become healthy: %s", i, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return members
}

// Endpoints lists the client URLs of all members.
func Endpoints(members []*Etcd) []string {
	var out []string
	for _, m := range members {
		out = append(out, m.Endpoints...)
	}
	return out
}

// Leader returns the member that is the cluster's leader.
func Leader(t testing.TB, members []*Etcd) *Etcd {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: Endpoints(members), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range members {
		st, err := cli.Status(ctx, m.Endpoints[0])
		if err != nil {
			continue
		}
		if st.Leader == st.Header.MemberId {
			return m
		}
	}
	t.Fatal("no etcd leader found")
	return nil
}
