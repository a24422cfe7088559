package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/freeport"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/server"
	"github.com/neutrino-net/neutrino/internal/store"
)

// TestMain lets the test binary act as a neutrino-server child process, so
// that a test can SIGKILL a real server mid-write.
func TestMain(m *testing.M) {
	if dir := os.Getenv("NEUTRINO_CHILD_DATA_DIR"); dir != "" {
		port, _ := strconv.Atoi(os.Getenv("NEUTRINO_CHILD_PORT"))
		cfg := config.Defaults()
		cfg.AuthStrategy, cfg.BindPort = "noauth", port
		srv, err := server.Start(context.Background(), server.Options{Config: cfg, DataDir: dir, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		srv.Wait()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type child struct {
	cmd *exec.Cmd
	url string
}

func startChild(t *testing.T, dir string, port int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NEUTRINO_CHILD_DATA_DIR="+dir, "NEUTRINO_CHILD_PORT="+strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	t.Cleanup(func() { c.kill() })
	waitFor(t, func() bool {
		resp, err := http.Get(c.url + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

func post(url, body string) (int, map[string]any, error) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("X-Project-Id", "p1")
	req.Header.Set("X-Roles", "member")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

func freePort(t *testing.T) int {
	port, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// A server killed with SIGKILL during a stream of port creates, then
// restarted, has no duplicate address and no address claimed without the
// port that holds it (and no port without its claims).
func TestSIGKILLDuringCreates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dir, port := t.TempDir(), freePort(t)
	c := startChild(t, dir, port)
	status, net1, err := post(c.url+"/v2.0/networks", `{"network":{"name":"crash"}}`)
	if err != nil || status != 201 {
		t.Fatalf("network: %d %v", status, err)
	}
	netID := net1["network"].(map[string]any)["id"].(string)
	if status, _, err := post(c.url+"/v2.0/subnets", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"10.3.0.0/22"}}`, netID)); err != nil || status != 201 {
		t.Fatalf("subnet: %d %v", status, err)
	}
	// 8 writers create ports until the server dies under them.
	var created atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				status, _, err := post(c.url+"/v2.0/ports", fmt.Sprintf(`{"port":{"network_id":%q}}`, netID))
				if err != nil {
					return
				}
				if status == 201 {
					created.Add(1)
				}
			}
		}()
	}
	for created.Load() < 150 {
		time.Sleep(time.Millisecond)
	}
	c.kill()
	wg.Wait()

	// Restart on the same data: it serves, and more creates work.
	c = startChild(t, dir, port)
	if status, _, err := post(c.url+"/v2.0/ports", fmt.Sprintf(`{"port":{"network_id":%q}}`, netID)); err != nil || status != 201 {
		t.Fatalf("create after restart: %d %v", status, err)
	}
	c.kill()

	// Inspect the stored state directly.
	e, err := store.StartEmbedded(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	resp, err := e.Client.Get(context.Background(), "/neutrino/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]*model.Port{}
	claims := map[string]string{} // "ip:<subnet>/<ip>" or "mac:<net>/<mac>" -> owner
	for _, kv := range resp.Kvs {
		k := strings.TrimPrefix(string(kv.Key), "/neutrino/")
		switch {
		case strings.HasPrefix(k, "r/port/"):
			var p model.Port
			if err := json.Unmarshal(kv.Value, &p); err != nil {
				t.Fatal(err)
			}
			ports[p.ID] = &p
		case strings.HasPrefix(k, "c/ip:"), strings.HasPrefix(k, "c/mac:"):
			claims[strings.TrimPrefix(k, "c/")] = string(kv.Value)
		}
	}
	if int64(len(ports)) < created.Load() {
		t.Errorf("%d ports stored, but %d creates were acknowledged", len(ports), created.Load())
	}
	seen := map[string]string{}
	for _, p := range ports {
		for _, ip := range p.FixedIPs {
			key := "ip:" + ip.SubnetID + "/" + ip.IPAddress
			if other, dup := seen[key]; dup {
				t.Errorf("%s held by ports %s and %s", key, other, p.ID)
			}
			seen[key] = p.ID
			if claims[key] != p.ID {
				t.Errorf("port %s holds %s without its claim (claim owner %q)", p.ID, key, claims[key])
			}
		}
		if claims["mac:"+p.NetworkID+"/"+p.MACAddress] != p.ID {
			t.Errorf("port %s has no claim on its MAC", p.ID)
		}
	}
	for key, owner := range claims {
		if _, ok := ports[owner]; !ok {
			t.Errorf("claim %s owned by missing port %s", key, owner)
		}
	}
	t.Logf("%d creates acknowledged before SIGKILL, %d ports stored, %d claims", created.Load(), len(ports), len(claims))
}
