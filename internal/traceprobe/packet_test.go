package traceprobe

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// Every probe is a well-formed IPv4 packet whose transport checksum
// verifies (summing a checksummed range gives zero), and parse finds it
// in a frame while ignoring replies to it.
func TestBuildAndParse(t *testing.T) {
	for _, proto := range []string{"icmp", "tcp", "udp"} {
		p := Packet{Src: netip.MustParseAddr("192.168.1.10"), Dst: netip.MustParseAddr("198.51.100.10"), Proto: proto, Port: 80, Marker: NewMarker()}
		pkt, err := build(p)
		if err != nil {
			t.Fatal(err)
		}
		if int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) || pkt[0] != 0x45 {
			t.Fatalf("%s: bad header % x", proto, pkt[:20])
		}
		l4 := pkt[20:]
		sum := checksum(l4)
		if proto != "icmp" {
			s, d := p.Src.As4(), p.Dst.As4()
			ph := append(append(append([]byte{}, s[:]...), d[:]...), 0, pkt[9], byte(len(l4)>>8), byte(len(l4)))
			sum = checksum(append(ph, l4...))
		}
		if sum != 0 {
			t.Errorf("%s: checksum does not verify (%#04x)", proto, sum)
		}
		frame := append(make([]byte, 12), 0x08, 0x00)
		frame = append(frame, pkt...)
		if src, dst, ok := parse(frame, p); !ok || src != p.Src || dst != p.Dst {
			t.Errorf("%s: parse = %v %v %v", proto, src, dst, ok)
		}
		if proto == "icmp" {
			frame[14+20] = 0 // an echo reply carries the marker too
			if _, _, ok := parse(frame, p); ok {
				t.Errorf("an echo reply counted as the probe")
			}
		}
	}
	if _, err := build(Packet{Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::2"), Proto: "icmp"}); err == nil {
		t.Error("IPv6 accepted")
	}
}
