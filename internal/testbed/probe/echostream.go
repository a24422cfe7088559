package probe

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// EchoStream is a long TCP connection that sends one byte every
// interval and checks each comes back: whether a connection survives a
// failover.
type EchoStream struct {
	conn   net.Conn
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	sent   int
	echoed int
	err    error
	last   time.Time // last echo
}

// DialEchoStream connects from namespace ns to addr and starts the stream.
func DialEchoStream(ctx context.Context, ns string, addr netip.AddrPort, interval time.Duration) (*EchoStream, error) {
	var c net.Conn
	err := In(ns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, "tcp4", addr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &EchoStream{conn: c, cancel: cancel, done: make(chan struct{}), last: time.Now()}
	go s.read()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Writes block at most a while: TCP retransmits on its own.
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write([]byte{'x'}); err != nil && !isTimeout(err) {
				s.fail(err)
				return
			}
			s.mu.Lock()
			s.sent++
			s.mu.Unlock()
		}
	}()
	return s, nil
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func (s *EchoStream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *EchoStream) read() {
	buf := make([]byte, 4096)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			s.mu.Lock()
			s.echoed += n
			s.last = time.Now()
			s.mu.Unlock()
		}
		if err != nil {
			s.fail(err)
			return
		}
	}
}

// Status returns the bytes sent and echoed, when the last echo came and
// the connection's error (nil while it lives).
func (s *EchoStream) Status() (sent, echoed int, last time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.echoed, s.last, s.err
}

// Close ends the stream.
func (s *EchoStream) Close() {
	s.cancel()
	<-s.done
	s.conn.Close()
}
