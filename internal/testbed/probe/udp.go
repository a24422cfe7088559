package probe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// UDPServer answers every datagram with one line "<name> <peer>" naming
// itself and the source address it saw: the UDP counterpart of
// TCPServer, for flows whose conntrack entry outlives a NAT change (one
// socket, one source port, many exchanges).
type UDPServer struct {
	conn     *net.UDPConn
	Name     string
	Addr     netip.AddrPort
	received atomic.Int64
	done     chan struct{}
}

// ListenUDP starts a UDPServer in namespace ns on addr ("0.0.0.0:5000").
func ListenUDP(ns, addr, name string) (*UDPServer, error) {
	s := &UDPServer{Name: name, done: make(chan struct{})}
	err := In(ns, func() error {
		ua, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		s.conn, err = net.ListenUDP("udp4", ua)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen udp %s in %s: %w", addr, ns, err)
	}
	s.Addr = s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	go s.serve()
	return s, nil
}

func (s *UDPServer) serve() {
	defer close(s.done)
	buf := make([]byte, 2048)
	for {
		_, peer, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		s.received.Add(1)
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		s.conn.WriteToUDPAddrPort([]byte(s.Name+" "+peer.String()+"\n"), peer)
	}
}

// Received is how many datagrams the server got so far.
func (s *UDPServer) Received() int64 { return s.received.Load() }

// Close stops the server.
func (s *UDPServer) Close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

// UDPReply is one answer of a UDPServer.
type UDPReply struct {
	Name string         // the server's name
	Seen netip.AddrPort // the source address the server saw
	At   time.Time      // when the reply arrived
}

// UDPFlow is a connected UDP socket in a namespace: every datagram has
// the same 5-tuple, so all of them belong to one conntrack entry on the
// way.
type UDPFlow struct {
	conn  *net.UDPConn
	Local netip.AddrPort
	Dst   netip.AddrPort
	mu    sync.Mutex
}

// DialUDP opens a UDPFlow from namespace ns to dst.
func DialUDP(ns string, dst netip.AddrPort) (*UDPFlow, error) {
	f := &UDPFlow{Dst: dst}
	err := In(ns, func() error {
		var err error
		f.conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("udp %s from %s: %w", dst, ns, err)
	}
	f.Local = f.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return f, nil
}

// Close closes the socket.
func (f *UDPFlow) Close() error { return f.conn.Close() }

func (f *UDPFlow) read(deadline time.Time) (UDPReply, error) {
	buf := make([]byte, 512)
	f.conn.SetReadDeadline(deadline)
	for {
		n, err := f.conn.Read(buf)
		if err != nil {
			return UDPReply{}, err
		}
		name, seen, ok := strings.Cut(strings.TrimSpace(string(buf[:n])), " ")
		if !ok {
			continue
		}
		ap, err := netip.ParseAddrPort(seen)
		if err != nil {
			continue
		}
		return UDPReply{Name: name, Seen: ap, At: time.Now()}, nil
	}
}

// Exchange sends one datagram and waits up to timeout for a reply.
func (f *UDPFlow) Exchange(timeout time.Duration) (UDPReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.conn.Write([]byte("probe")); err != nil {
		return UDPReply{}, fmt.Errorf("udp send to %s: %w", f.Dst, err)
	}
	r, err := f.read(time.Now().Add(timeout))
	if err != nil {
		return r, fmt.Errorf("udp %s -> %s: no reply: %w", f.Local, f.Dst, err)
	}
	return r, nil
}

// ProbeUntil sends a datagram every interval (without waiting for
// answers) until a reply satisfies want, and returns that reply; it
// gives up when ctx ends. Refused sends (no route, ICMP errors reported
// on the connected socket) are retried.
func (f *UDPFlow) ProbeUntil(ctx context.Context, interval time.Duration, want func(UDPReply) bool) (UDPReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	found := make(chan UDPReply, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := f.read(time.Now().Add(50 * time.Millisecond))
			if err == nil && want(r) {
				found <- r
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		f.conn.Write([]byte("probe"))
		select {
		case r := <-found:
			return r, nil
		case <-ctx.Done():
			return UDPReply{}, fmt.Errorf("udp %s -> %s: no wanted reply: %w", f.Local, f.Dst, ctx.Err())
		case <-t.C:
		}
	}
}
