package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// Ping sends ICMP echo requests to dst from inside the namespace of node
// (a node or an instance) until one is answered or ctx ends; it needs no
// ping binary. The socket is opened in the namespace and then used from
// any goroutine.
func (s *State) Ping(ctx context.Context, node string, dst netip.Addr) error {
	ns, err := s.Resolve(node)
	if err != nil {
		return err
	}
	return PingIn(ctx, ns, dst)
}

// PingIn is Ping from a namespace given by name.
func PingIn(ctx context.Context, ns string, dst netip.Addr) error {
	if !dst.Is4() {
		return fmt.Errorf("ping %s: IPv4 only", dst)
	}
	var conn *icmp.PacketConn
	err := inNS(ns, func() error {
		var err error
		conn, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w", dst, ns, err)
	}
	defer conn.Close()
	id := os.Getpid() & 0xffff
	buf := make([]byte, 1500)
	for seq := 1; ; seq++ {
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("neutrino-sandbox")}}
		b, _ := msg.Marshal(nil)
		if _, err := conn.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return fmt.Errorf("ping %s from %s: %w", dst, ns, err)
		}
		wait := time.Now().Add(time.Second)
		for {
			if dl, ok := ctx.Deadline(); ok && dl.Before(wait) {
				wait = dl
			}
			conn.SetReadDeadline(wait)
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				break // timeout: send the next request
			}
			rm, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || rm.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := rm.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq && peer.String() == dst.String() {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("ping %s from %s: no reply", dst, ns)
		}
	}
}
