package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// twoServers starts two servers sharing one external etcd (a load
// balancer's view of a deployment).
func twoServers(t *testing.T, opts ...testutil.Option) (a, b *testutil.Server, etcd *testutil.Etcd) {
	t.Helper()
	etcd = testutil.StartEtcd(t)
	prefix := fmt.Sprintf("/%s/", strings.ReplaceAll(t.Name(), "/", "-"))
	o := append([]testutil.Option{testutil.WithEtcd(etcd.Endpoints, prefix)}, opts...)
	return testutil.StartServer(t, o...), testutil.StartServer(t, o...), etcd
}

// A resource created through one server is there on the other at once:
// 1,000 create-then-read pairs alternating servers, each followed by a
// delete through the reading server.
func TestCreateThenReadOnOtherServer(t *testing.T) {
	a, b, _ := twoServers(t, testutil.NoAuth())
	c := testutil.Caller{Project: "p1"}
	missing := 0
	for i := range 1000 {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		resp := w.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": fmt.Sprint("n", i)}})
		if resp.Status != 201 {
			t.Fatalf("create %d: %d %s", i, resp.Status, resp.Raw)
		}
		id := resp.Obj("network")["id"].(string)
		if got := r.Do(c, "GET", "/v2.0/networks/"+id, nil); got.Status != 200 {
			missing++
			t.Errorf("read %d on the other server: %d %s", i, got.Status, got.Raw)
			continue
		}
		if got := r.Do(c, "DELETE", "/v2.0/networks/"+id, nil); got.Status != 204 {
			t.Fatalf("delete %d on the other server: %d %s", i, got.Status, got.Raw)
		}
	}
	if missing > 0 {
		t.Fatalf("%d of 1000 reads on the other server answered not found", missing)
	}
}

// A port created through one server right after its network was created
// through the other finds the network.
func TestPortOnOtherServerRightAfterNetwork(t *testing.T) {
	a, b, _ := twoServers(t, testutil.NoAuth())
	c := testutil.Caller{Project: "p1"}
	for i := range 100 {
		resp := a.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": fmt.Sprint("n", i)}})
		if resp.Status != 201 {
			t.Fatalf("network %d: %d %s", i, resp.Status, resp.Raw)
		}
		netID := resp.Obj("network")["id"].(string)
		port := b.Do(c, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID}})
		if port.Status != 201 {
			t.Fatalf("port %d on the other server: %d %s %s", i, port.Status, port.ErrorType(), port.Raw)
		}
		if r := a.Do(c, "DELETE", "/v2.0/ports/"+port.Obj("port")["id"].(string), nil); r.Status != 204 {
			t.Fatalf("port delete %d: %d %s", i, r.Status, r.Raw)
		}
		if r := b.Do(c, "DELETE", "/v2.0/networks/"+netID, nil); r.Status != 204 {
			t.Fatalf("network delete %d: %d %s", i, r.Status, r.Raw)
		}
	}
}

// rawGet sends a GET with a given token.
func rawGet(t *testing.T, srv *testutil.Server, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A token revoked through one server is refused by the other as soon as
// the revocation has returned, although the other had just accepted it
// (and cached that it was not revoked).
func TestRevokedTokenRefusedByOtherServer(t *testing.T) {
	a, b, _ := twoServers(t)
	for i := range 5 {
		tok := a.Token("demo")
		if st := rawGet(t, b, "/v2.0/networks", tok); st != 200 {
			t.Fatalf("token from server a on server b: %d", st)
		}
		req, _ := http.NewRequest("DELETE", a.URL+"/identity/v3/auth/tokens", nil)
		req.Header.Set("X-Auth-Token", a.Token("admin"))
		req.Header.Set("X-Subject-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		if st := rawGet(t, b, "/v2.0/networks", tok); st != 401 {
			t.Fatalf("round %d: revoked token on the other server: %d, want 401", i, st)
		}
		// testutil caches tokens per server: forget the revoked one.
		a.ForgetToken("demo")
	}
}

// When etcd does not answer, requests get 503 with Retry-After and a
// NeutronError body instead of hanging or a 500; when it answers again,
// so does the server.
func TestEtcdUnresponsiveIs503(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	srv := testutil.StartServer(t, testutil.NoAuth(), testutil.WithEtcd(etcd.Endpoints, "/n/"), testutil.WithStore(time.Second))
	c := testutil.Caller{Project: "p1"}
	if r := srv.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "before"}}); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	if err := etcd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill(2) returns before every thread of etcd has stopped; a thread
	// still running could answer the next request.
	waitStopped(t, etcd.Process.Pid)
	stopped := true
	defer func() {
		if stopped {
			etcd.Process.Signal(syscall.SIGCONT)
		}
	}()
	check := func(r *testutil.Response, what string) {
		t.Helper()
		if r.Status != 503 || r.ErrorType() != "ServiceUnavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s with etcd stopped: %d %q Retry-After=%q %s", what, r.Status, r.ErrorType(), r.Header.Get("Retry-After"), r.Raw)
		}
	}
	check(srv.Do(c, "GET", "/v2.0/networks", nil), "list")
	check(srv.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "during"}}), "create")
	etcd.Process.Signal(syscall.SIGCONT)
	stopped = false
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := srv.Do(c, "GET", "/v2.0/networks", nil)
		if r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not recover after etcd resumed: %d %s", r.Status, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A DELETE whose transaction etcd applied but whose answer was lost
// answers 204, not an error; a create whose answer was lost answers 201;
// one that was never applied answers 503 and changes nothing.
func TestLostEtcdAnswers(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	lossy := &testutil.LossyKV{}
	srv := testutil.StartServer(t, testutil.NoAuth(), testutil.WithEtcd(etcd.Endpoints, "/n/"),
		testutil.WithStore(2*time.Second, lossy.Option()))
	c := testutil.Caller{Project: "p1"}
	lossy.ApplyThenLose.Store(1)
	r := srv.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "n"}})
	if r.Status != 201 {
		t.Fatalf("create with lost answer: %d %s", r.Status, r.Raw)
	}
	id := r.Obj("network")["id"].(string)
	lossy.ApplyThenLose.Store(1)
	if r := srv.Do(c, "DELETE", "/v2.0/networks/"+id, nil); r.Status != 204 {
		t.Fatalf("delete with lost answer: %d %s", r.Status, r.Raw)
	}
	if r := srv.Do(c, "GET", "/v2.0/networks/"+id, nil); r.Status != 404 {
		t.Fatalf("network after its delete: %d", r.Status)
	}
	before := srv.Dump()
	lossy.LoseRequest.Store(1)
	r = srv.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "lost"}})
	if r.Status != 503 || r.ErrorType() != "ServiceUnavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("create never applied: %d %q %s", r.Status, r.ErrorType(), r.Raw)
	}
	if after := srv.Dump(); after != before {
		t.Fatalf("store changed by a create that was never applied:\n%s\n---\n%s", before, after)
	}
}

// outcome is what one worker's create-then-delete got.
type outcome struct {
	id              string
	create, destroy int
}

// Killing the etcd leader while writes are in flight gives no 500: every
// answer is a success, or 503 with Retry-After; every acknowledged create
// exists afterwards and every acknowledged delete is gone.
func TestLeaderFailoverAnswers(t *testing.T) {
	members := testutil.StartEtcdCluster(t, 3)
	srv := testutil.StartServer(t, testutil.NoAuth(), testutil.WithEtcd(testutil.Endpoints(members), "/n/"), testutil.WithStore(3*time.Second))
	c := testutil.Caller{Project: "p1"}
	var mu sync.Mutex
	var got []outcome
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				o := outcome{}
				r := srv.Do(c, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": fmt.Sprintf("w%d-%d", w, i)}})
				o.create = r.Status
				checkAnswer(t, r, 201)
				if r.Status == 201 {
					o.id = r.Obj("network")["id"].(string)
					d := srv.Do(c, "DELETE", "/v2.0/networks/"+o.id, nil)
					o.destroy = d.Status
					checkAnswer(t, d, 204)
				}
				mu.Lock()
				got = append(got, o)
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	waitFor := func(n int) {
		for count() < n && !t.Failed() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(20)
	leader := testutil.Leader(t, members)
	if err := leader.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(count() + 100)
	close(stop)
	wg.Wait()
	unavailable := 0
	for _, o := range got {
		if o.create == 503 || o.destroy == 503 {
			unavailable++
		}
		if o.create != 201 {
			continue
		}
		r := srv.Do(c, "GET", "/v2.0/networks/"+o.id, nil)
		if o.destroy == 204 && r.Status != 404 {
			t.Errorf("network %s: delete answered 204, now %d", o.id, r.Status)
		}
		if o.destroy == 0 && r.Status != 200 {
			t.Errorf("network %s: create answered 201, now %d", o.id, r.Status)
		}
	}
	t.Logf("%d create/delete pairs, %d with a 503", len(got), unavailable)
}

// checkAnswer accepts the expected status or a proper 503.
func checkAnswer(t *testing.T, r *testutil.Response, want int) {
	t.Helper()
	if r.Status == want {
		return
	}
	if r.Status == 503 && r.ErrorType() == "ServiceUnavailable" && r.Header.Get("Retry-After") != "" {
		return
	}
	t.Errorf("got %d %s, want %d or a 503 with Retry-After", r.Status, r.Raw, want)
}

// waitStopped waits (bounded) until every thread of pid is in the stopped
// state ("T" in /proc/<pid>/task/<tid>/stat).
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("threads of etcd %d: %v", pid, err)
		}
		all := true
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				all = false
				break
			}
			// The state follows the command name in parentheses.
			if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				all = false
				break
			}
		}
		if all {
			return
		}
	}
	t.Fatalf("etcd %d did not stop", pid)
}
