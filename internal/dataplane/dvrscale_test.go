package dataplane

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestDVRBridgeScale measures what the host's DVR bridge table costs per
// frame sent to a tunnel port, with many distributed routers on the
// host, in both layouts: "rules", a chain of single rules per tunnel
// port (3 per router interface, as before the set layout), and "sets",
// the planner's layout (plan.DVRBridgeTableOf: three rules and hash
// sets). It prints figures and asserts none (timing is not a test):
//
//	NEUTRINO_DVR_SCALE=0,100,1000 go test -count=1 -v -run TestDVRBridgeScale ./internal/dataplane/
//
// (root; run under the bench lock). A bridge in a throwaway namespace
// has two ports: the veth of a sender namespace and one named vxlan-*,
// whose peer sinks the frames. The sender writes 64-byte UDP frames
// through a packet socket as fast as it can for a few seconds; the
// figure is the frames the vxlan port sent per second. A veth hands a
// frame on in the sender's context, so the bridge and the rule walk
// are paid on the sender's core and the rate is the path's cost. The
// frames are no router's (an instance's traffic to another host), so
// the rule layout walks every rule of the chain. Each size also times
// the apply that adds one router more.
func TestDVRBridgeScale(t *testing.T) {
	sizes := os.Getenv("NEUTRINO_DVR_SCALE")
	if sizes == "" {
		t.Skip("set NEUTRINO_DVR_SCALE=0,100,1000 (router counts) to run")
	}
	testutil.RequireRoot(t)
	secs, _ := strconv.Atoi(os.Getenv("NEUTRINO_DVR_SCALE_SECONDS"))
	if secs <= 0 {
		secs = 3
	}
	rounds, _ := strconv.Atoi(os.Getenv("NEUTRINO_DVR_SCALE_ROUNDS"))
	if rounds <= 0 {
		rounds = 3
	}
	lab := newScaleLab(t)
	// A new bridge drops what it is sent for a while (ports coming up):
	// wait until frames pass.
	lab.apply(t)
	for deadline := time.Now().Add(10 * time.Second); lab.send(t, 200*time.Millisecond) < 1000; {
		if time.Now().After(deadline) {
			t.Fatal("no frames through the bridge")
		}
	}
	fmt.Printf("%-8s %-6s %7s %12s %14s  %-22s %s\n", "routers", "layout", "rules", "kpps", "+1 router ms", "rounds kpps", "+1 router changes")
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(f)
		must(t, err)
		pps := map[string][]float64{}
		addMS := map[string]float64{}
		addChanges := map[string]string{}
		for r := range rounds {
			for _, layout := range []string{"rules", "sets"} {
				if r%2 == 1 { // alternate the order
					layout = map[string]string{"rules": "sets", "sets": "rules"}[layout]
				}
				if n > 0 {
					lab.apply(t, scaleTable(layout, n))
				} else {
					lab.apply(t)
				}
				pps[layout] = append(pps[layout], lab.send(t, time.Duration(secs)*time.Second))
				if r == 0 && n > 0 {
					more := scaleTable(layout, n+1)
					start := time.Now()
					res := lab.apply(t, more)
					addMS[layout] = float64(time.Since(start).Microseconds()) / 1000
					addChanges[layout] = summarize(res.Changes)
				}
			}
		}
		for _, layout := range []string{"rules", "sets"} {
			walked := 0
			if n > 0 {
				walked = 3 * scaleIfaces * n
				if layout == "sets" {
					walked = 3
				}
			}
			ks := pps[layout]
			for i := range ks {
				ks[i] /= 1000
			}
			fmt.Printf("%-8d %-6s %7d %12.1f %14.1f  %-22s %s\n", n, layout, walked, median(ks), addMS[layout], fmt.Sprintf("%.1f", ks), addChanges[layout])
		}
	}
}

// summarize is the change lines of an apply, the element lines
// counted.
func summarize(lines []string) string {
	var out []string
	elems := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "nft add element") || strings.HasPrefix(l, "nft delete element") {
			elems++
			continue
		}
		out = append(out, l)
	}
	if elems > 0 {
		out = append(out, fmt.Sprintf("%d element changes", elems))
	}
	return strings.Join(out, "; ")
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// scaleIfaces are the interfaces of each router of the scale test (as
// in upstream's DVR, one per subnet).
const scaleIfaces = 2

// scaleTable is the DVR bridge table of n routers in a layout.
func scaleTable(layout string, n int) desired.NftTable {
	var rules []desired.NftRule
	for i := range n {
		for j := range scaleIfaces {
			k := i*scaleIfaces + j
			mac := fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", k>>16&0xff, k>>8&0xff, k&0xff)
			gw := netip.AddrFrom4([4]byte{10, byte(k >> 8), byte(k), 1})
			rules = append(rules,
				desired.NftRule{OifName: "vxlan-*", EtherSaddr: mac, SetEtherSaddr: "fa:16:3f:00:00:01", Comment: "dvr mac"},
				desired.NftRule{OifName: "vxlan-*", EtherDaddr: mac, Drop: true, Comment: "gateway mac stays on host"},
				desired.NftRule{OifName: "vxlan-*", ARPTargetIP: gw, Drop: true, Comment: "gateway arp stays on host"})
		}
	}
	if layout == "sets" {
		return plan.DVRBridgeTableOf(rules)
	}
	// The layout before the sets: a chain per tunnel port with every
	// router's rules.
	for i := range rules {
		rules[i].OifName = ""
	}
	return desired.NftTable{Family: desired.FamilyBridge, Name: plan.DVRBridgeTable, Chains: []desired.NftChain{
		{Name: "forward", Type: "filter", Hook: "forward", Priority: plan.DVRForwardPriority,
			Rules: []desired.NftRule{{OifName: "vxlan-*", Jump: "tunnel-0"}}},
		{Name: "tunnel-0", Rules: rules}}}
}

type scaleLab struct {
	host, src netns.Handle
	hostName  string
}

const scaleBridge, scaleTunnel, scaleSrc = "brqscale", "vxlan-scale", "tapscale"

func newScaleLab(t *testing.T) *scaleLab {
	l := &scaleLab{hostName: testutil.NewNetNS(t, "sclhost"), src: openNS(t, testutil.NewNetNS(t, "sclsrc"))}
	l.host = openNS(t, l.hostName)
	sink := openNS(t, testutil.NewNetNS(t, "sclsink"))
	hl, err := netlink.NewHandleAt(l.host)
	must(t, err)
	defer hl.Close()
	for _, p := range []struct {
		port string
		ns   netns.Handle
	}{{scaleSrc, l.src}, {scaleTunnel, sink}} {
		must(t, hl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.port}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(p.ns))}))
		il, err := netlink.NewHandleAt(p.ns)
		must(t, err)
		eth0, err := il.LinkByName("eth0")
		must(t, err)
		must(t, il.LinkSetUp(eth0))
		il.Close()
	}
	return l
}

// apply makes the lab's bridge and ports, with the tables.
func (l *scaleLab) apply(t *testing.T, tables ...desired.NftTable) *Result {
	t.Helper()
	// br_netfilter off, as the agent has it on a host without filtered
	// ports (l2.Plan).
	h := &desired.Host{Bridges: []desired.Bridge{{Name: scaleBridge, MTU: 1500}}, Nft: tables,
		Sysctls: []desired.Sysctl{{Key: "net/bridge/bridge-nf-call-iptables", Value: "0"},
			{Key: "net/bridge/bridge-nf-call-ip6tables", Value: "0"}, {Key: "net/bridge/bridge-nf-call-arptables", Value: "0"}},
		BridgePorts: []desired.BridgePort{{Name: scaleSrc, Bridge: scaleBridge, MTU: 1500}, {Name: scaleTunnel, Bridge: scaleBridge, MTU: 1500}}}
	h.Normalize()
	return applyIn(t, l.host, h, Options{Prune: true})
}

// send writes frames from the sender for d and returns the frames per
// second the tunnel port sent.
func (l *scaleLab) send(t *testing.T, d time.Duration) float64 {
	t.Helper()
	var conn *packet.Conn
	must(t, netns.RunIn(l.src, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_IP, nil)
		return err
	}))
	defer conn.Close()
	dst := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	frame := scaleFrame(dst)
	before := tunnelTx(t, l.host)
	start := time.Now()
	for time.Since(start) < d {
		for range 256 {
			conn.WriteTo(frame, &packet.Addr{HardwareAddr: dst})
		}
	}
	el := time.Since(start)
	if os.Getenv("NEUTRINO_DVR_SCALE_DEBUG") != "" {
		b, _ := exec.Command("ip", "-n", l.hostName, "-s", "link").CombinedOutput()
		t.Logf("%s", b)
	}
	return float64(tunnelTx(t, l.host)-before) / el.Seconds()
}

func tunnelTx(t *testing.T, host netns.Handle) uint64 {
	t.Helper()
	hl, err := netlink.NewHandleAt(host)
	must(t, err)
	defer hl.Close()
	link, err := hl.LinkByName(scaleTunnel)
	must(t, err)
	return link.Attrs().Statistics.TxPackets
}

// scaleFrame is a 64-byte Ethernet frame to dst carrying a UDP packet
// 10.99.0.1 -> 10.99.0.2 with a valid IPv4 header.
func scaleFrame(dst net.HardwareAddr) []byte {
	f := make([]byte, 64)
	copy(f, dst)
	copy(f[6:], []byte{0x02, 0, 0, 0, 0, 0x01})
	f[12], f[13] = 0x08, 0x00
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(ip[2:], uint16(len(f)-14))
	copy(ip[12:], []byte{10, 99, 0, 1, 10, 99, 0, 2})
	sum := uint32(0)
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	return f
}
