package probe

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

const (
	etherType8021Q = 0x8100
	// etherTypeTEB is GRE's protocol for a whole Ethernet frame
	// (transparent Ethernet bridging: gretap).
	etherTypeTEB = 0x6558
	ipProtoGRE   = 47
)

// VLANTag returns the 802.1Q VLAN id a frame carried on the wire: the
// tag the kernel moved out of the frame into the packet's metadata (a
// capture reads it as PACKET_AUXDATA: veths offload VLAN tags, so a
// packet socket sees the frame untagged), or a tag still in the data.
func (f Frame) VLANTag() (vid int, ok bool) {
	if f.VLAN != 0 {
		return f.VLAN, true
	}
	if len(f.Data) >= 18 && binary.BigEndian.Uint16(f.Data[12:14]) == etherType8021Q {
		return int(binary.BigEndian.Uint16(f.Data[14:16]) & 0x0fff), true
	}
	return 0, false
}

// untagged is the frame without an in-data 802.1Q tag.
func (f Frame) untagged() []byte {
	d := f.Data
	if len(d) >= 18 && binary.BigEndian.Uint16(d[12:14]) == etherType8021Q {
		out := make([]byte, 0, len(d)-4)
		out = append(out, d[:12]...)
		return append(out, d[16:]...)
	}
	return d
}

// GREInner returns the inner Ethernet frame of an Ethernet-over-GRE
// packet (IPv4, protocol 47, GRE protocol 0x6558) and its key (ok
// false if the frame is no such packet; hasKey false if it has no key).
func (f Frame) GREInner() (inner []byte, key uint32, hasKey, ok bool) {
	d := f.untagged()
	if len(d) < 14+20 || binary.BigEndian.Uint16(d[12:14]) != etherTypeIPv4 {
		return nil, 0, false, false
	}
	ip := d[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != ipProtoGRE || len(ip) < ihl+4 {
		return nil, 0, false, false
	}
	gre := ip[ihl:]
	flags, proto := binary.BigEndian.Uint16(gre[0:2]), binary.BigEndian.Uint16(gre[2:4])
	if proto != etherTypeTEB {
		return nil, 0, false, false
	}
	off := 4
	if flags&0x8000 != 0 { // checksum present
		off += 4
	}
	if flags&0x2000 != 0 { // key present
		if len(gre) < off+4 {
			return nil, 0, false, false
		}
		key, hasKey = binary.BigEndian.Uint32(gre[off:off+4]), true
		off += 4
	}
	if flags&0x1000 != 0 { // sequence number present
		off += 4
	}
	if len(gre) < off+14 {
		return nil, 0, false, false
	}
	return gre[off:], key, hasKey, true
}

// auxVLAN reads the VLAN id from a packet socket's PACKET_AUXDATA
// control message (0 if none).
func auxVLAN(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < 20 {
			continue
		}
		status := binary.NativeEndian.Uint32(m.Data[0:4])
		tci := binary.NativeEndian.Uint16(m.Data[16:18])
		if status&unix.TP_STATUS_VLAN_VALID != 0 {
			return int(tci & 0x0fff)
		}
	}
	return 0
}
