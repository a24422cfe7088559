package probe

import (
	"encoding/binary"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

// icmpFrame is an Ethernet/IPv4/ICMP frame from 10.241.0.11 to
// 10.242.0.12.
func icmpFrame() []byte {
	f := make([]byte, 14+20+8)
	copy(f[0:6], []byte{0xfa, 0x16, 0x3e, 0, 0, 2})
	copy(f[6:12], []byte{0xfa, 0x16, 0x3e, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:14], etherTypeIPv4)
	ip := f[14:]
	ip[0], ip[9] = 0x45, 1
	copy(ip[12:16], []byte{10, 241, 0, 11})
	copy(ip[16:20], []byte{10, 242, 0, 12})
	return f
}

// greFrame wraps inner in Ethernet/IPv4/GRE with a key.
func greFrame(inner []byte, key uint32) []byte {
	f := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(f[12:14], etherTypeIPv4)
	ip := f[14:]
	ip[0], ip[9] = 0x45, ipProtoGRE
	copy(ip[12:16], []byte{10, 0, 1, 21})
	copy(ip[16:20], []byte{10, 0, 1, 22})
	gre := ip[20:]
	binary.BigEndian.PutUint16(gre[0:2], 0x2000)
	binary.BigEndian.PutUint16(gre[2:4], etherTypeTEB)
	binary.BigEndian.PutUint32(gre[4:8], key)
	return append(f, inner...)
}

func tagged(f []byte, vid int) []byte {
	out := append([]byte(nil), f[:12]...)
	out = binary.BigEndian.AppendUint16(out, etherType8021Q)
	out = binary.BigEndian.AppendUint16(out, uint16(vid))
	return append(out, f[12:]...)
}

func TestDescribeEncapsulations(t *testing.T) {
	for _, c := range []struct {
		f    Frame
		want string
	}{
		{Frame{Data: greFrame(icmpFrame(), 10), Outgoing: true}, "out gre key 10: ICMP 10.241.0.11 > 10.242.0.12"},
		{Frame{Data: tagged(icmpFrame(), 1998)}, "in vlan 1998 ICMP 10.241.0.11 > 10.242.0.12"},
		// An offloaded tag: only in the metadata.
		{Frame{Data: icmpFrame(), VLAN: 1998, Outgoing: true}, "out vlan 1998 ICMP 10.241.0.11 > 10.242.0.12"},
		{Frame{Data: icmpFrame()}, "in ICMP 10.241.0.11 > 10.242.0.12"},
	} {
		if got := Describe(c.f); got != c.want {
			t.Errorf("Describe = %q, want %q", got, c.want)
		}
	}
	if _, key, hasKey, ok := (Frame{Data: greFrame(icmpFrame(), 20)}).GREInner(); !ok || !hasKey || key != 20 {
		t.Errorf("GRE key %d %v %v", key, hasKey, ok)
	}
	if _, ok := (Frame{Data: icmpFrame()}).VLANTag(); ok {
		t.Error("untagged frame has a VLAN")
	}
}

// A capture reports the VLAN of a tagged frame whose tag the receiving
// kernel moved into the packet's metadata (as it does for every tagged
// frame it receives, 8021q module or not): the PACKET_AUXDATA path.
func TestCaptureVLANAuxdata(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, packet sockets)")
	}
	ns := testutil.NewNetNS(t, "vlancap")
	h, err := Handle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "a"}, PeerName: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		l, _ := h.LinkByName(n)
		h.LinkSetUp(l)
	}
	c, err := StartCapture(ns, "b")
	if err != nil {
		t.Fatal(err)
	}
	frame := tagged(icmpFrame(), 1998)
	for i := 0; i < 50 && !slices.ContainsFunc(c.soFar(), isVLAN1998); i++ {
		if err := SendFrames(ns, "a", frame); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	frames := c.Stop()
	if !slices.ContainsFunc(frames, isVLAN1998) {
		t.Fatalf("no frame with VLAN 1998 among %d: %s", len(frames), Summarize(frames))
	}
}

func isVLAN1998(f Frame) bool { return f.VLAN == 1998 }

// soFar is what the capture holds so far.
func (c *Capture) soFar() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.frames)
}
