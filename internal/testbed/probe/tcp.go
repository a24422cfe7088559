package probe

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// TCPServer is a banner server listening inside a namespace: it answers
// every connection with one line "peer <ip>:<port>\n" naming the source
// address it saw (after any NAT on the way) and closes it.
type TCPServer struct {
	ln    net.Listener
	Addr  netip.AddrPort // where it listens (the port is the real one)
	mu    sync.Mutex
	peers []netip.AddrPort
	seen  chan struct{}
}

// ListenTCP starts a banner server in namespace ns on addr ("0.0.0.0:0"
// for any address and a free port).
func ListenTCP(ns, addr string) (*TCPServer, error) {
	s := &TCPServer{seen: make(chan struct{}, 1)}
	err := In(ns, func() error {
		var err error
		s.ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, ns, err)
	}
	s.Addr = s.ln.Addr().(*net.TCPAddr).AddrPort()
	go s.serve()
	return s, nil
}

func (s *TCPServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		peer := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		s.mu.Lock()
		s.peers = append(s.peers, peer)
		s.mu.Unlock()
		select {
		case s.seen <- struct{}{}:
		default:
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "peer %s\n", peer)
		c.Close()
	}
}

// Peers returns the source addresses of the connections so far.
func (s *TCPServer) Peers() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.peers...)
}

// Close stops listening.
func (s *TCPServer) Close() error { return s.ln.Close() }

// DialTCP connects from namespace ns to addr (the socket is created and
// connected inside ns) and returns the peer address the banner server
// reported, i.e. the source address the server saw, and the local
// address of the connection as the client saw it.
func DialTCP(ctx context.Context, ns string, addr netip.AddrPort) (seen, local netip.AddrPort, err error) {
	var c net.Conn
	err = In(ns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, "tcp4", addr.String())
		return err
	})
	if err != nil {
		return seen, local, fmt.Errorf("connect to %s from %s: %w", addr, ns, err)
	}
	defer c.Close()
	local = c.LocalAddr().(*net.TCPAddr).AddrPort()
	if dl, ok := ctx.Deadline(); ok {
		c.SetReadDeadline(dl)
	} else {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return seen, local, fmt.Errorf("read banner of %s from %s: %w", addr, ns, err)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(line), "peer ")
	if !ok {
		return seen, local, fmt.Errorf("banner of %s: unexpected %q", addr, line)
	}
	seen, err = netip.ParseAddrPort(v)
	return seen, local, err
}
