package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	vxlanPort     = 4789
)

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// packetSocket opens an AF_PACKET socket for protocol proto bound to
// ifName inside namespace ns, and returns it with the interface.
func packetSocket(ns, ifName string, proto uint16) (int, *net.Interface, []netip.Addr, error) {
	fd := -1
	var ifi *net.Interface
	var addrs []netip.Addr
	err := In(ns, func() error {
		var err error
		if ifi, err = net.InterfaceByName(ifName); err != nil {
			return err
		}
		as, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				addrs = append(addrs, p.Addr())
			}
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(proto))); err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			fd = -1
			return fmt.Errorf("bind packet socket to %s: %w", ifName, err)
		}
		return nil
	})
	if err != nil {
		return -1, nil, nil, fmt.Errorf("%s in %s: %w", ifName, ns, err)
	}
	return fd, ifi, addrs, nil
}

// readable waits up to d for fd to have data.
func readable(fd int, d time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(d/time.Millisecond))
	return err == nil && n > 0
}

// ARPRequest broadcasts ARP requests for target from ifName in namespace
// ns (sender: the interface's MAC and first IPv4 address) every
// interval until a reply for target arrives (its sender MAC is
// returned) or ctx ends. It does not touch the namespace's neighbour
// table.
func ARPRequest(ctx context.Context, ns, ifName string, target netip.Addr, interval time.Duration) (net.HardwareAddr, error) {
	fd, ifi, addrs, err := packetSocket(ns, ifName, etherTypeARP)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if len(addrs) == 0 {
		return nil, fmt.Errorf("arp from %s in %s: no IPv4 address", ifName, ns)
	}
	src := addrs[0]
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	frame := make([]byte, 0, 42)
	frame = append(frame, bcast...)
	frame = append(frame, ifi.HardwareAddr...)
	frame = binary.BigEndian.AppendUint16(frame, etherTypeARP)
	frame = binary.BigEndian.AppendUint16(frame, 1) // Ethernet
	frame = binary.BigEndian.AppendUint16(frame, etherTypeIPv4)
	frame = append(frame, 6, 4)
	frame = binary.BigEndian.AppendUint16(frame, 1) // request
	frame = append(frame, ifi.HardwareAddr...)
	frame = append(frame, src.AsSlice()...)
	frame = append(frame, 0, 0, 0, 0, 0, 0)
	frame = append(frame, target.AsSlice()...)
	to := &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], bcast)
	buf := make([]byte, 1500)
	for {
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			return nil, fmt.Errorf("send arp request for %s from %s in %s: %w", target, ifName, ns, err)
		}
		until := time.Now().Add(interval)
		for left := time.Until(until); left > 0; left = time.Until(until) {
			if !readable(fd, left) {
				break
			}
			n, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if mac, ok := arpReplyFrom(buf[:n], target); ok {
				return mac, nil
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("arp for %s from %s in %s: no reply: %w", target, ifName, ns, ctx.Err())
		}
	}
}

// arpReplyFrom parses an Ethernet frame as an ARP reply sent by ip.
func arpReplyFrom(f []byte, ip netip.Addr) (net.HardwareAddr, bool) {
	op, sha, spa, ok := parseARP(f)
	if !ok || op != 2 || spa != ip {
		return nil, false
	}
	return sha, true
}

// parseARP parses an Ethernet frame carrying an IPv4-over-Ethernet ARP
// message.
func parseARP(f []byte) (op uint16, sha net.HardwareAddr, spa netip.Addr, ok bool) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:14]) != etherTypeARP {
		return 0, nil, netip.Addr{}, false
	}
	a := f[14:]
	if binary.BigEndian.Uint16(a[2:4]) != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return 0, nil, netip.Addr{}, false
	}
	spa, _ = netip.AddrFromSlice(a[14:18])
	return binary.BigEndian.Uint16(a[6:8]), net.HardwareAddr(bytes.Clone(a[8:14])), spa, true
}

// Frame is one captured Ethernet frame.
type Frame struct {
	Data []byte
	// VLAN is the 802.1Q VLAN id the kernel took out of the frame into
	// its metadata (0: none; see VLANTag).
	VLAN     int
	Outgoing bool      // sent by this interface (else received)
	Time     time.Time // when the capture read it
}

// VXLANInner returns the inner Ethernet frame of a VXLAN packet (IPv4,
// UDP destination port 4789) and its VNI.
func (f Frame) VXLANInner() (inner []byte, vni int, ok bool) {
	d := f.Data
	if len(d) < 14+20 || binary.BigEndian.Uint16(d[12:14]) != etherTypeIPv4 {
		return nil, 0, false
	}
	ip := d[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+8+8+14 {
		return nil, 0, false
	}
	udp := ip[ihl:]
	if binary.BigEndian.Uint16(udp[2:4]) != vxlanPort {
		return nil, 0, false
	}
	vx := udp[8:]
	vni = int(vx[4])<<16 | int(vx[5])<<8 | int(vx[6])
	return vx[8:], vni, true
}

// IsARP reports whether an Ethernet frame carries ARP; it returns the
// operation (1 request, 2 reply) and the target protocol address.
func IsARP(eth []byte) (op uint16, tpa netip.Addr, ok bool) {
	op, _, _, ok = parseARP(eth)
	if !ok {
		return 0, netip.Addr{}, false
	}
	tpa, _ = netip.AddrFromSlice(eth[14+24 : 14+28])
	return op, tpa, true
}

// Capture records every frame an interface sends and receives.
type Capture struct {
	fd     int
	stop   atomic.Bool
	done   chan struct{}
	mu     sync.Mutex
	frames []Frame
}

// StartCapture starts capturing on ifName in namespace ns (an AF_PACKET
// socket opened in ns; no tcpdump needed).
func StartCapture(ns, ifName string) (*Capture, error) {
	fd, _, _, err := packetSocket(ns, ifName, unix.ETH_P_ALL)
	if err != nil {
		return nil, err
	}
	// The VLAN tag of an offloaded frame is only in the auxiliary data.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("PACKET_AUXDATA on %s: %w", ifName, err)
	}
	c := &Capture{fd: fd, done: make(chan struct{})}
	go c.run()
	return c, nil
}

func (c *Capture) run() {
	defer close(c.done)
	buf, oob := make([]byte, 1<<16), make([]byte, 256)
	for {
		if !readable(c.fd, 50*time.Millisecond) {
			if c.stop.Load() {
				return // stopped and drained
			}
			continue
		}
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_DONTWAIT)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		fr := Frame{Data: bytes.Clone(buf[:n]), Time: time.Now(), VLAN: auxVLAN(oob[:oobn])}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			fr.Outgoing = ll.Pkttype == unix.PACKET_OUTGOING
		}
		c.mu.Lock()
		c.frames = append(c.frames, fr)
		c.mu.Unlock()
	}
}

// Stop ends the capture once the frames already queued are read, and
// returns every frame seen.
func (c *Capture) Stop() []Frame {
	if c.stop.CompareAndSwap(false, true) {
		<-c.done
		unix.Close(c.fd)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames
}

// ARPAnswer returns who a frame says holds an address: the sender of an
// ARP reply, or of a gratuitous ARP (request with sender = target).
func ARPAnswer(f []byte) (sha net.HardwareAddr, spa netip.Addr, ok bool) {
	op, sha, spa, ok := parseARP(f)
	if !ok {
		return nil, netip.Addr{}, false
	}
	if op == 2 {
		return sha, spa, true
	}
	if _, tpa, isARP := IsARP(f); isARP && op == 1 && tpa == spa {
		return sha, spa, true
	}
	return nil, netip.Addr{}, false
}
