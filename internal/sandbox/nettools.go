package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Probes that run inside a node's or instance's namespace: sockets are
// opened on a thread switched into the namespace and then used from any
// goroutine, so no ping, nc or curl binary is needed.

// EchoServer accepts TCP connections inside a namespace and answers each
// with the peer address it sees ("peer 198.51.100.10:43210\n"): the way
// to prove which source address NAT gave a flow.
type EchoServer struct {
	l net.Listener
}

// ListenEcho starts an EchoServer on addr (e.g. ":8080") in node's
// namespace.
func (s *State) ListenEcho(node, addr string) (*EchoServer, error) {
	ns, err := s.Resolve(node)
	if err != nil {
		return nil, err
	}
	var l net.Listener
	if err := inNS(ns, func() error {
		var err error
		l, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		return nil, fmt.Errorf("listen %s in %s: %w", addr, node, err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "peer %s\n", c.RemoteAddr())
			c.Close()
		}
	}()
	return &EchoServer{l: l}, nil
}

// Close stops the server.
func (e *EchoServer) Close() error { return e.l.Close() }

// dialIn opens a TCP connection from node's namespace.
func (s *State) dialIn(ctx context.Context, node, addr string) (net.Conn, error) {
	ns, err := s.Resolve(node)
	if err != nil {
		return nil, err
	}
	var conn net.Conn
	err = inNS(ns, func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		var err error
		conn, err = d.DialContext(ctx, "tcp4", addr)
		return err
	})
	return conn, err
}

// PeerSeen connects from node to an EchoServer at addr and returns the
// source address the server saw.
func (s *State) PeerSeen(ctx context.Context, node, addr string) (string, error) {
	conn, err := s.dialIn(ctx, node, addr)
	if err != nil {
		return "", fmt.Errorf("connect %s -> %s: %w", node, addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read from %s: %w", addr, err)
	}
	peer := strings.TrimSpace(strings.TrimPrefix(line, "peer "))
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		return "", fmt.Errorf("bad answer %q from %s", line, addr)
	}
	return host, nil
}

// HTTPGet fetches url from inside node's namespace.
func (s *State) HTTPGet(ctx context.Context, node, url string) (int, string, error) {
	ns, err := s.Resolve(node)
	if err != nil {
		return 0, "", err
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := inNS(ns, func() error {
			d := net.Dialer{Timeout: 3 * time.Second}
			var err error
			conn, err = d.DialContext(ctx, "tcp4", addr)
			return err
		})
		return conn, err
	}, Proxy: nil}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}
