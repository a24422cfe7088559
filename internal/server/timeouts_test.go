package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// shortTimeouts is client_socket_timeout for these tests.
const shortTimeout = 300 * time.Millisecond

func dialServer(t *testing.T, s *testutil.Server) net.Conn {
	t.Helper()
	u, _ := url.Parse(s.URL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed reads until the server closes the connection. The 20s bound
// only keeps a broken server from hanging the test; it is not a measure.
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server kept the connection open")
	}
}

// A client that sends half a body is disconnected after
// client_socket_timeout instead of holding the connection forever.
func TestHalfBodyConnectionClosed(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Server) { c.ClientSocketTimeout = shortTimeout }))
	c := dialServer(t, s)
	fmt.Fprintf(c, "POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"network\"", s.Token("demo"))
	waitClosed(t, c)
	// Also when the handler refuses before reading the body (no token):
	// the server's discarding of the rest is bounded too.
	c = dialServer(t, s)
	fmt.Fprintf(c, "POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"network\"")
	waitClosed(t, c)
}

// An idle keep-alive connection is closed after client_socket_timeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Server) { c.ClientSocketTimeout = shortTimeout }))
	c := dialServer(t, s)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("server asked to close a plain GET; nothing to test")
	}
	waitClosed(t, c)
}

// The agents' watch stream is a long answer to a request without a body:
// the timeouts must not end it.
func TestWatchStreamOutlivesSocketTimeout(t *testing.T) {
	s := testutil.StartServer(t, testutil.WithConfig(func(c *config.Server) { c.ClientSocketTimeout = shortTimeout }))
	a := s.AgentCredentials
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":%q,"password":%q}}},"scope":{"project":{"id":%q}}}}`, a.UserID, a.Password, a.ProjectID)
	resp, err := http.Post(s.URL+"/identity/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok := resp.Header.Get("X-Subject-Token")
	if resp.StatusCode != 201 {
		t.Fatalf("agent token: %d", resp.StatusCode)
	}
	c := dialServer(t, s)
	fmt.Fprintf(c, "GET /agent/v1/hosts/h1/watch HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n\r\n", tok)
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("watch: %v %v", resp, err)
	}
	events := bufio.NewReader(resp.Body)
	if _, err := events.ReadString('\n'); err != nil {
		t.Fatalf("first event: %v", err)
	}
	time.Sleep(4 * shortTimeout) // let any socket timeout fire
	// A change for the host still reaches the agent on the same stream.
	r := s.Do(testutil.Admin, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "w"}})
	netID := r.Obj("network")["id"].(string)
	if r := s.Do(testutil.Admin, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": netID, "binding:host_id": "h1"}}); r.Status != 201 {
		t.Fatalf("port: %d %s", r.Status, r.Raw)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := events.ReadString('\n')
	if err != nil || !strings.Contains(line, netID) {
		t.Fatalf("watch stream after the socket timeout: %q %v", line, err)
	}
}
