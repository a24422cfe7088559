package sandbox

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// PingStream pings dst from a namespace every interval and records
// which requests were answered: the outage a failover causes is its
// longest run of unanswered requests.
type PingStream struct {
	conn     *icmp.PacketConn
	id       int
	interval time.Duration
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	sent     int
	got      map[int]bool
}

// StartPingStream starts pinging dst from node (see Resolve).
func (s *State) StartPingStream(node string, dst netip.Addr, interval time.Duration) (*PingStream, error) {
	ns, err := s.Resolve(node)
	if err != nil {
		return nil, err
	}
	p := &PingStream{id: (os.Getpid() + 7) & 0xffff, interval: interval, done: make(chan struct{}), got: map[int]bool{}}
	if err := inNS(ns, func() error {
		var err error
		p.conn, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.receive(dst)
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for seq := 1; ; seq++ {
			msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: seq & 0xffff, Data: []byte("neutrino-ha")}}
			b, _ := msg.Marshal(nil)
			p.conn.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()})
			p.mu.Lock()
			p.sent = seq
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p, nil
}

func (p *PingStream) receive(dst netip.Addr) {
	buf := make([]byte, 1500)
	for {
		n, peer, err := p.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply || peer.String() != dst.String() {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == p.id {
			p.mu.Lock()
			// Sequence numbers wrap at 16 bits; streams here are short.
			p.got[e.Seq] = true
			p.mu.Unlock()
		}
	}
}

// Sent is how many requests went out so far.
func (p *PingStream) Sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

// Stats returns, for the requests after seq from (exclusive) to the
// last sent but the most recent second's: how many were sent and lost,
// and the longest run of lost ones as a duration.
func (p *PingStream) Stats(from int) (sent, lost int, gap time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := p.sent - int(time.Second/p.interval)
	run, best := 0, 0
	for q := from + 1; q <= last; q++ {
		sent++
		if p.got[q&0xffff] {
			run = 0
			continue
		}
		lost++
		run++
		best = max(best, run)
	}
	return sent, lost, time.Duration(best) * p.interval
}

// RecentlyAnswered reports whether the last n requests before the most
// recent second's were all answered.
func (p *PingStream) RecentlyAnswered(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := p.sent - int(time.Second/p.interval)
	if last < n {
		return false
	}
	for q := last - n + 1; q <= last; q++ {
		if !p.got[q&0xffff] {
			return false
		}
	}
	return true
}

// Stop ends the stream.
func (p *PingStream) Stop() {
	p.cancel()
	<-p.done
	time.Sleep(p.interval)
	p.conn.Close()
}
