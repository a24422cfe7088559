// Package traceprobe sends one real packet in the sandbox and reports
// where it arrived, to check neutrino trace's answer against the kernel.
// Packets are built by hand and sent from a raw socket inside the source
// namespace, so that any source address (a spoofed one) and protocol
// can be sent; each carries a random marker in its payload so that it
// is recognised after NAT.
package traceprobe

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/neutrino-net/neutrino/internal/netns"
	"golang.org/x/sys/unix"
)

// Packet is what to send: an ICMP echo request, a TCP SYN or a UDP
// datagram, with a marker in its payload.
type Packet struct {
	Src, Dst netip.Addr
	Proto    string
	Port     uint16
	Marker   []byte
}

// NewMarker is a random payload that identifies one probe.
func NewMarker() []byte {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return []byte("neutrino-trace-" + hex.EncodeToString(b))
}

// Send sends p from namespace ns through the namespace's own routing
// (a raw IPv4 socket with the header included).
func Send(ns string, p Packet) error {
	pkt, err := build(p)
	if err != nil {
		return err
	}
	return netns.In(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return fmt.Errorf("raw socket in %s: %w", ns, err)
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: p.Dst.As4()})
	})
}

// build makes the IPv4 packet (the kernel fills the header checksum).
func build(p Packet) ([]byte, error) {
	if !p.Src.Is4() || !p.Dst.Is4() {
		return nil, fmt.Errorf("IPv4 addresses only (%s > %s)", p.Src, p.Dst)
	}
	var l4 []byte
	var proto byte
	switch p.Proto {
	case "icmp":
		proto = unix.IPPROTO_ICMP
		l4 = append([]byte{8, 0, 0, 0, 0x4e, 0x54, 0, 1}, p.Marker...)
		binary.BigEndian.PutUint16(l4[2:], checksum(l4))
	case "tcp":
		proto = unix.IPPROTO_TCP
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], p.Port)
		binary.BigEndian.PutUint32(l4[4:], 1)
		l4[12], l4[13] = 5<<4, 0x02 // data offset 5 words, SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)
		l4 = append(l4, p.Marker...)
		binary.BigEndian.PutUint16(l4[16:], pseudoChecksum(p, proto, l4))
	case "udp":
		proto = unix.IPPROTO_UDP
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], p.Port)
		l4 = append(l4, p.Marker...)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		binary.BigEndian.PutUint16(l4[6:], pseudoChecksum(p, proto, l4))
	default:
		return nil, fmt.Errorf("protocol %q: want icmp, tcp or udp", p.Proto)
	}
	ip := make([]byte, 20, 20+len(l4))
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	s, d := p.Src.As4(), p.Dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	return append(ip, l4...), nil
}

func pseudoChecksum(p Packet, proto byte, l4 []byte) uint16 {
	s, d := p.Src.As4(), p.Dst.As4()
	ph := append(append(append([]byte{}, s[:]...), d[:]...), 0, proto, byte(len(l4)>>8), byte(len(l4)))
	return checksum(append(ph, l4...))
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Arrival is a marked packet seen coming in at a place.
type Arrival struct {
	Place    string // e.g. "instance demo-instance2" or "internet"
	Src, Dst netip.Addr
}

// parse finds the probe itself in an Ethernet frame: marked, and of
// its protocol and kind (an echo request, or its destination port), so
// that replies and ICMP errors quoting it do not count.
func parse(frame []byte, p Packet) (src, dst netip.Addr, ok bool) {
	if len(frame) < 14+20+8 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 || !bytes.Contains(frame, p.Marker) {
		return netip.Addr{}, netip.Addr{}, false
	}
	ip := frame[14:]
	l4 := ip[int(ip[0]&0x0f)*4:]
	switch {
	case p.Proto == "icmp" && ip[9] == unix.IPPROTO_ICMP && l4[0] == 8:
	case p.Proto == "tcp" && ip[9] == unix.IPPROTO_TCP && binary.BigEndian.Uint16(l4[2:]) == p.Port:
	case p.Proto == "udp" && ip[9] == unix.IPPROTO_UDP && binary.BigEndian.Uint16(l4[2:]) == p.Port:
	default:
		return netip.Addr{}, netip.Addr{}, false
	}
	src, _ = netip.AddrFromSlice(ip[12:16])
	dst, _ = netip.AddrFromSlice(ip[16:20])
	return src, dst, true
}
