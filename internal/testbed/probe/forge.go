package probe

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Forged frames: the anti-spoofing tests send what a misbehaving
// instance could send (another source address, another MAC, an ARP for
// an address it does not own) straight out of its interface, past its
// own IP stack.

// SendFrames sends raw Ethernet frames out of ifName in namespace ns.
func SendFrames(ns, ifName string, frames ...[]byte) error {
	fd, ifi, _, err := packetSocket(ns, ifName, unix.ETH_P_ALL)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, f := range frames {
		if len(f) < 14 {
			return fmt.Errorf("frame of %d bytes", len(f))
		}
		to := &unix.SockaddrLinklayer{Protocol: htons(binary.BigEndian.Uint16(f[12:14])), Ifindex: ifi.Index, Halen: 6}
		copy(to.Addr[:], f[:6])
		if err := unix.Sendto(fd, f, 0, to); err != nil {
			return fmt.Errorf("send frame from %s in %s: %w", ifName, ns, err)
		}
	}
	return nil
}

func ethHeader(dst, src net.HardwareAddr, etherType uint16) []byte {
	b := make([]byte, 0, 64)
	b = append(b, dst...)
	b = append(b, src...)
	return binary.BigEndian.AppendUint16(b, etherType)
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ICMPEchoFrame is an Ethernet frame with an IPv4 ICMP echo request
// (valid checksums: br_netfilter drops a bad IP header before any rule).
func ICMPEchoFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, id, seq uint16) []byte {
	icmp := []byte{8, 0, 0, 0}
	icmp = binary.BigEndian.AppendUint16(icmp, id)
	icmp = binary.BigEndian.AppendUint16(icmp, seq)
	icmp = append(icmp, "neutrino forged"...)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	ip := []byte{0x45, 0}
	ip = binary.BigEndian.AppendUint16(ip, uint16(20+len(icmp)))
	ip = append(ip, 0, 0, 0x40, 0, 64, 1, 0, 0) // id, DF, ttl, ICMP, checksum
	ip = append(ip, src.AsSlice()...)
	ip = append(ip, dst.AsSlice()...)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	return append(append(ethHeader(dstMAC, srcMAC, etherTypeIPv4), ip...), icmp...)
}

// ARPFrame is a broadcast ARP frame (op 1 request, 2 reply) from srcMAC
// claiming that sender IP spa is at sha.
func ARPFrame(srcMAC net.HardwareAddr, op uint16, sha net.HardwareAddr, spa, tpa netip.Addr) []byte {
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	b := ethHeader(bcast, srcMAC, etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, op)
	b = append(b, sha...)
	b = append(b, spa.AsSlice()...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	return append(b, tpa.AsSlice()...)
}

// FrameFacts are the fields the anti-spoofing checks look at.
type FrameFacts struct {
	EthSrc   net.HardwareAddr
	IPv4Src  netip.Addr // IPv4 frames
	ARPSrcIP netip.Addr // ARP frames: the sender protocol address
}

// Facts parses a frame's Ethernet source and its IPv4 or ARP sender.
func (f Frame) Facts() FrameFacts {
	d := f.Data
	var out FrameFacts
	if len(d) < 14 {
		return out
	}
	out.EthSrc = net.HardwareAddr(d[6:12])
	switch binary.BigEndian.Uint16(d[12:14]) {
	case etherTypeIPv4:
		if len(d) >= 34 {
			out.IPv4Src = netip.AddrFrom4([4]byte(d[26:30]))
		}
	case etherTypeARP:
		if _, _, spa, ok := parseARP(d); ok {
			out.ARPSrcIP = spa
		}
	}
	return out
}
