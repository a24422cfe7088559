package store

import (
	"net"
	"strings"
	"testing"
	"time"
)

// An etcd that does not answer fails the start-up check within its bound,
// instead of leaving a client that retries silently.
func TestConnectUnreachableIsBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = Connect(ConnectOptions{Endpoints: []string{"http://" + addr}, Prefix: "/x/", CheckTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not reachable within 300ms") {
		t.Fatalf("unreachable etcd: %v", err)
	}
}

func TestConnectTLSOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		o    ConnectOptions
		want string
	}{
		{ConnectOptions{Endpoints: []string{"https://127.0.0.1:1"}, CertFile: "/nonexistent/c.pem"}, "cert_file and key_file must be set together"},
		{ConnectOptions{Endpoints: []string{"https://127.0.0.1:1"}, CAFile: "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
		{ConnectOptions{Endpoints: []string{"https://127.0.0.1:1"}, CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}, "/nonexistent/c.pem"},
	} {
		if _, err := Connect(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}
