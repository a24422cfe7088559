package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// EchoServer echoes every byte it receives on each connection, for as
// long as the connection lives: the long-lived TCP flows of the
// security group tests (is an established connection cut, does a
// transfer survive an agent restart).
type EchoServer struct {
	ln    net.Listener
	Addr  netip.AddrPort
	mu    sync.Mutex
	conns []net.Conn
}

// ListenEcho starts an echo server in namespace ns on addr.
func ListenEcho(ns, addr string) (*EchoServer, error) {
	s := &EchoServer{}
	err := In(ns, func() error {
		// No keepalives (see DialEchoFrom).
		var err error
		s.ln, err = (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp4", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, ns, err)
	}
	s.Addr = s.ln.Addr().(*net.TCPAddr).AddrPort()
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return s, nil
}

// Close stops listening and closes the accepted connections.
func (s *EchoServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	return err
}

// EchoConn is a client connection to an EchoServer.
type EchoConn struct {
	c   net.Conn
	buf []byte
}

// DialEcho connects from namespace ns to an echo server at dst.
func DialEcho(ctx context.Context, ns string, dst netip.AddrPort) (*EchoConn, error) {
	return DialEchoFrom(ctx, ns, 0, dst)
}

// DialEchoFrom is DialEcho from a given local port (0: any): two
// networks with the same addresses can then carry flows with the very
// same 5-tuple.
func DialEchoFrom(ctx context.Context, ns string, localPort int, dst netip.AddrPort) (*EchoConn, error) {
	var c net.Conn
	err := In(ns, func() error {
		// No keepalives: after a filter change deleted the flow's
		// conntrack entry, a keepalive from the side whose egress is
		// open would start the flow again from that side (TCP is
		// picked up mid-stream) and the tests could not tell a cut.
		d := net.Dialer{LocalAddr: &net.TCPAddr{Port: localPort}, KeepAlive: -1}
		var err error
		c, err = d.DialContext(ctx, "tcp4", dst.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s from %s: %w", dst, ns, err)
	}
	return &EchoConn{c: c, buf: make([]byte, 64)}, nil
}

// Close closes the connection.
func (e *EchoConn) Close() error { return e.c.Close() }

// Exchange sends one short message and waits up to timeout for its
// echo: an error means the connection no longer carries data (cut by a
// filter, reset, or closed).
func (e *EchoConn) Exchange(timeout time.Duration) error {
	msg := []byte(time.Now().Format(time.RFC3339Nano))
	e.c.SetDeadline(time.Now().Add(timeout))
	defer e.c.SetDeadline(time.Time{})
	if _, err := e.c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(e.c, e.buf[:len(msg)])
	return err
}

// Transfer is a continuous bulk transfer over an EchoConn: one
// goroutine writes as fast as the connection takes, another reads the
// echo back; Echoed counts the bytes that made the round trip.
type Transfer struct {
	e      *EchoConn
	echoed atomic.Int64
	stop   atomic.Bool
	mu     sync.Mutex
	err    error
	done   sync.WaitGroup
}

// StartTransfer starts a bulk transfer over the connection (it owns the
// connection from then on).
func (e *EchoConn) StartTransfer() *Transfer {
	t := &Transfer{e: e}
	t.done.Add(2)
	go func() {
		defer t.done.Done()
		chunk := make([]byte, 32<<10)
		for !t.stop.Load() {
			e.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := e.c.Write(chunk); err != nil {
				t.fail(fmt.Errorf("write: %w", err))
				return
			}
		}
	}()
	go func() {
		defer t.done.Done()
		buf := make([]byte, 64<<10)
		for {
			e.c.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := e.c.Read(buf)
			t.echoed.Add(int64(n))
			if err != nil {
				if !t.stop.Load() {
					t.fail(fmt.Errorf("read: %w", err))
				}
				return
			}
		}
	}()
	return t
}

func (t *Transfer) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil && !t.stop.Load() {
		t.err = err
	}
}

// Echoed is how many bytes made the round trip so far.
func (t *Transfer) Echoed() int64 { return t.echoed.Load() }

// Err is the first error of the transfer (nil while it runs well).
func (t *Transfer) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// WaitEchoed waits until at least n bytes made the round trip.
func (t *Transfer) WaitEchoed(ctx context.Context, n int64) error {
	for t.Echoed() < n {
		if err := t.Err(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d bytes echoed: %w", t.Echoed(), n, ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Stop ends the transfer and closes the connection; it returns the
// transfer's error, if any.
func (t *Transfer) Stop() error {
	t.stop.Store(true)
	t.e.c.Close()
	t.done.Wait()
	err := t.Err()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
