package probe

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// pinger is an ICMP echo socket opened inside a namespace with its own
// echo identifier (a raw socket sees every ICMP message of the
// namespace; replies are told apart by identifier and source).
type pinger struct {
	conn *icmp.PacketConn
	id   int
	dst  netip.Addr
}

func newPinger(ns string, dst netip.Addr) (*pinger, error) {
	if !dst.Is4() {
		return nil, fmt.Errorf("ping %s: IPv4 only", dst)
	}
	p := &pinger{dst: dst}
	var b [2]byte
	rand.Read(b[:])
	p.id = int(binary.BigEndian.Uint16(b[:]))
	err := In(ns, func() error {
		var err error
		p.conn, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ping %s from %s: %w", dst, ns, err)
	}
	return p, nil
}

// send sends echo request seq (the low 16 bits go on the wire) with the
// send time as payload.
func (p *pinger) send(seq int) error {
	data := make([]byte, 16)
	binary.BigEndian.PutUint64(data, uint64(time.Now().UnixNano()))
	copy(data[8:], "neutrino")
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq & 0xffff, Data: data}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	_, err = p.conn.WriteTo(b, &net.IPAddr{IP: p.dst.AsSlice()})
	return err
}

// recv returns the next echo reply of ours (wire sequence number and
// round-trip time) or an error when the deadline passes.
func (p *pinger) recv(buf []byte, deadline time.Time) (int, time.Duration, error) {
	p.conn.SetReadDeadline(deadline)
	for {
		n, peer, err := p.conn.ReadFrom(buf)
		if err != nil {
			return 0, 0, err
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		e, ok := m.Body.(*icmp.Echo)
		if !ok || e.ID != p.id || peer.String() != p.dst.String() {
			continue
		}
		var rtt time.Duration
		if len(e.Data) >= 8 {
			rtt = time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(e.Data))))
		}
		return e.Seq, rtt, nil
	}
}

// PingUntil pings dst from namespace ns every interval until the first
// reply (nil) or until ctx ends (an error).
func PingUntil(ctx context.Context, ns string, dst netip.Addr, interval time.Duration) error {
	p, err := newPinger(ns, dst)
	if err != nil {
		return err
	}
	defer p.conn.Close()
	buf := make([]byte, 1500)
	var sendErr error
	for seq := 1; ; seq++ {
		// A refused send (no route or neighbour yet) is retried.
		if err := p.send(seq); err != nil {
			sendErr = err
		}
		wait := time.Now().Add(interval)
		if dl, ok := ctx.Deadline(); ok && dl.Before(wait) {
			wait = dl
		}
		if _, _, err := p.recv(buf, wait); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			if sendErr != nil {
				return fmt.Errorf("ping %s from %s: no reply (last send error: %v): %w", dst, ns, sendErr, ctx.Err())
			}
			return fmt.Errorf("ping %s from %s: no reply: %w", dst, ns, ctx.Err())
		}
	}
}

// PingStats is what a ping stream saw. Sequence numbers count from 1.
type PingStats struct {
	Sent, Received int
	Lost           []int // requests never answered
	Duplicates     int
	SendErrors     int // requests the kernel refused to send (counted as sent and lost)
	MaxRTT         time.Duration
}

func (s PingStats) String() string {
	lost := fmt.Sprint(len(s.Lost))
	if len(s.Lost) > 0 {
		l := s.Lost
		if len(l) > 20 {
			l = l[:20]
		}
		lost += fmt.Sprintf(" %v", l)
	}
	return fmt.Sprintf("sent %d, received %d, lost %s, duplicates %d, send errors %d, max rtt %s",
		s.Sent, s.Received, lost, s.Duplicates, s.SendErrors, s.MaxRTT.Round(time.Microsecond))
}

// Stream is a continuous pinger started by PingStream.
type Stream struct {
	p      *pinger
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	sent     int
	sendErrs int
	got      map[int]bool
	dups     int
	maxRTT   time.Duration
	replied  chan struct{} // signalled on every reply
	stopOnce sync.Once
	final    PingStats
}

// PingStream sends an ICMP echo request to dst from namespace ns every
// interval until Stop, recording which sequence numbers got a reply.
// The socket is opened inside ns: no ping binary is needed.
func PingStream(ctx context.Context, ns string, dst netip.Addr, interval time.Duration) (*Stream, error) {
	p, err := newPinger(ns, dst)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{p: p, cancel: cancel, done: make(chan struct{}), got: map[int]bool{}, replied: make(chan struct{}, 1)}
	go s.receive()
	go s.run(ctx, interval)
	return s, nil
}

func (s *Stream) run(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.mu.Lock()
		s.sent++
		seq := s.sent
		s.mu.Unlock()
		if err := s.p.send(seq); err != nil {
			s.mu.Lock()
			s.sendErrs++
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Stream) receive() {
	buf := make([]byte, 1500)
	for {
		wire, rtt, err := s.p.recv(buf, time.Time{})
		if err != nil {
			return // socket closed
		}
		s.mu.Lock()
		// The newest sent request with these low 16 bits.
		seq := s.sent - ((s.sent - wire) & 0xffff)
		if seq >= 1 {
			if s.got[seq] {
				s.dups++
			}
			s.got[seq] = true
			s.maxRTT = max(s.maxRTT, rtt)
		}
		s.mu.Unlock()
		select {
		case s.replied <- struct{}{}:
		default:
		}
	}
}

// Stats returns the counts so far; requests still unanswered are listed
// as lost (they may yet be answered).
func (s *Stream) Stats() PingStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := PingStats{Sent: s.sent, Received: len(s.got), Duplicates: s.dups, SendErrors: s.sendErrs, MaxRTT: s.maxRTT}
	for i := 1; i <= s.sent; i++ {
		if !s.got[i] {
			st.Lost = append(st.Lost, i)
		}
	}
	return st
}

// WaitReplies waits until n replies have been received in total, or ctx
// ends.
func (s *Stream) WaitReplies(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got := len(s.got)
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d replies: %w", got, n, ctx.Err())
		case <-s.replied:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops sending, waits up to grace for the replies still in flight
// and returns the final counts. Calling it again returns the same.
func (s *Stream) Stop(grace time.Duration) PingStats {
	s.stopOnce.Do(func() {
		s.cancel()
		<-s.done
		deadline := time.Now().Add(grace)
		for len(s.Stats().Lost) > 0 && time.Now().Before(deadline) {
			select {
			case <-s.replied:
			case <-time.After(10 * time.Millisecond):
			}
		}
		s.p.conn.Close()
		s.final = s.Stats()
		s.final.Lost = slices.Clip(s.final.Lost)
	})
	return s.final
}
