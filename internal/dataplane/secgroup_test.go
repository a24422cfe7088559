package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan/secgroup"
	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// sgLab is a host namespace with one bridge and three instances behind
// taps: a and b in the default group, c with port security off.
type sgLab struct {
	host     netns.Handle
	hostName string
	vm       map[string]netns.Handle // by port id
	snap     *hostmodel.Snapshot
	ports    []secgroup.Port
}

const sgBridge = "brqsgtest"

var sgAddrs = map[string]string{"a": "10.9.1.1", "b": "10.9.1.2", "c": "10.9.1.3"}

// sgAddrs6 are the instances' IPv6 addresses (fixed IPs too).
var sgAddrs6 = map[string]string{"a": "2001:db8:9::1", "b": "2001:db8:9::2", "c": "2001:db8:9::3"}

func newSGLab(t *testing.T) *sgLab {
	l := &sgLab{vm: map[string]netns.Handle{}, snap: hostmodel.NewSnapshot("h1")}
	l.hostName = testutil.NewNetNS(t, "sghost")
	l.host = openNS(t, l.hostName)
	hl, err := netlink.NewHandleAt(l.host)
	must(t, err)
	defer hl.Close()
	s := l.snap
	s.SGs["default"] = &model.SecurityGroup{Standard: model.Standard{ID: "default"}, Name: "default", Stateful: true}
	for i, r := range []struct{ dir, eth string }{{"egress", "IPv4"}, {"egress", "IPv6"}, {"ingress", "IPv4"}, {"ingress", "IPv6"}} {
		id := fmt.Sprintf("d%d", i)
		rule := &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: "default", Direction: r.dir, EtherType: r.eth}
		if r.dir == "ingress" {
			rule.RemoteGroupID = new("default")
		}
		s.SGRules[id] = rule
	}
	for _, id := range []string{"a", "b", "c"} {
		tap := "tapsg" + id
		mac := "fa:16:3e:00:09:0" + string("123"[id[0]-'a'])
		p := &model.Port{Standard: model.Standard{ID: id}, NetworkID: "n1", HostID: "h1", MACAddress: mac, DeviceOwner: "compute:nova",
			FixedIPs:            []model.FixedIP{{IPAddress: sgAddrs[id]}, {IPAddress: sgAddrs6[id]}},
			PortSecurityEnabled: id != "c", SecurityGroups: []string{"default"}}
		if id == "c" {
			p.SecurityGroups = nil
		}
		s.Ports[id] = p
		l.ports = append(l.ports, secgroup.Port{ID: id, Tap: tap, Bridge: sgBridge})
		vm := openNS(t, testutil.NewNetNS(t, "sg"+id))
		l.vm[id] = vm
		must(t, hl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tap}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(vm))}))
		il, err := netlink.NewHandleAt(vm)
		must(t, err)
		eth0, err := il.LinkByName("eth0")
		must(t, err)
		hw, _ := net.ParseMAC(mac)
		must(t, il.LinkSetHardwareAddr(eth0, hw))
		must(t, il.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix(sgAddrs[id] + "/24"))}))
		must(t, il.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix(sgAddrs6[id] + "/64")), Flags: unix.IFA_F_NODAD}))
		must(t, il.LinkSetUp(eth0))
		il.Close()
	}
	return l
}

// want is the lab's bridge and taps with the security group tables of
// the current snapshot.
func (l *sgLab) plan() secgroup.Result { return secgroup.Plan(l.snap, l.ports, []string{sgBridge}) }

func (l *sgLab) want() *desired.Host {
	r := l.plan()
	h := &desired.Host{Bridges: []desired.Bridge{{Name: sgBridge, MTU: 1500}}, Nft: r.Tables,
		Sysctls: []desired.Sysctl{{Key: "net/bridge/bridge-nf-call-iptables", Value: "1"}, {Key: "net/bridge/bridge-nf-call-ip6tables", Value: "1"}}}
	for _, p := range l.ports {
		h.BridgePorts = append(h.BridgePorts, desired.BridgePort{Name: p.Tap, Bridge: sgBridge, MTU: 1500, PortID: p.ID})
	}
	h.Normalize()
	return h
}

func (l *sgLab) apply(t *testing.T) []string {
	t.Helper()
	return applyIn(t, l.host, l.want(), Options{Prune: true}).Changes
}

var pingSeq atomic.Int32

// pingFrom is ping with the source address chosen (bound): a forged
// one if the instance does not own it on its interface.
func pingFrom(ns netns.Handle, src, dst string, tries int) error {
	// A new ICMP id each time: an echo with the id of one that conntrack
	// still knows would be part of that (established) flow.
	return pingID(ns, src, dst, (os.Getpid()+int(pingSeq.Add(1)))&0xffff, tries)
}

// pingID pings with a given ICMP id: one conntrack flow across calls.
func pingID(ns netns.Handle, src, dst string, id, tries int) error {
	var pc *icmp.PacketConn
	if err := netns.RunIn(ns, func() error {
		var err error
		pc, err = icmp.ListenPacket("ip4:icmp", src)
		return err
	}); err != nil {
		return err
	}
	defer pc.Close()
	buf := make([]byte, 1500)
	for seq := range tries {
		b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("sg")}}).Marshal(nil)
		if _, err := pc.WriteTo(b, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
			return err
		}
		pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				break
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq && from.String() == dst {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %s to %s", dst, src)
}

func (l *sgLab) reach(t *testing.T, from, to string, want bool) {
	t.Helper()
	// A wanted answer may wait for the lab's veths to be operational
	// (the kernel's link watch can take over a second on a loaded
	// machine) and for ARP: up to 5 s. An unwanted one gets 1 s.
	tries := 10
	if !want {
		tries = 2
	}
	err := pingFrom(l.vm[from], "0.0.0.0", sgAddrs[to], tries)
	if (err == nil) != want {
		t.Errorf("%s -> %s: reachable %v, want %v", from, to, err == nil, want)
	}
}

// Real packets through the planned tables: the default group lets
// members in and nobody else, egress is open and replies come back; a
// rule added to the group opens ICMP from anywhere and is one chain's
// refill; a member leaving is one set element; a forged source address
// is dropped, and allowed once it is an allowed address pair.
func TestSecurityGroupPackets(t *testing.T) {
	l := newSGLab(t)
	changes := l.apply(t)
	if len(changes) == 0 {
		t.Fatal("first apply changed nothing")
	}
	if again := l.apply(t); len(again) != 0 {
		t.Errorf("second apply changed the kernel: %v", again)
	}
	// Read back in full (no remembered state): the same.
	must(t, nft.Forget(l.host))
	if again := l.apply(t); len(again) != 0 {
		t.Errorf("apply after a full read-back changed the kernel: %v", again)
	}
	// nft reads our tables back as what they mean.
	for _, fam := range []string{"bridge", "inet"} {
		out, ok := nftListTable(t, l.hostName, fam, secgroup.Table)
		for _, w := range map[string][]string{
			"bridge": {`iifname vmap @src_ports`, `"tapsga" : jump src-tapsga`, `meta mark set meta mark | 0x`,
				`arp saddr ether fa:16:3e:00:09:01 arp saddr ip 10.9.1.1 ether saddr fa:16:3e:00:09:01 accept`,
				`ip saddr 10.9.1.1 ether saddr fa:16:3e:00:09:01 accept`},
			"inet": {`ct zone set`, `meta mark & 0x0000ffff vmap @ingress_ports`, `ct state established,related accept`,
				`ip saddr @rg-default-v4 accept`, `jump sg-default-in`, `udp sport 67 udp dport 68 accept`},
		}[fam] {
			if ok && !strings.Contains(out, w) {
				t.Errorf("nft list table %s lacks %q:\n%s", fam, w, out)
			}
		}
	}
	l.reach(t, "a", "b", true)  // member to member
	l.reach(t, "a", "c", true)  // egress open, reply passes
	l.reach(t, "c", "a", false) // not a member: default deny
	l.reach(t, "c", "b", false)

	// A rule: ICMP from anywhere.
	l.snap.SGRules["icmp"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "icmp"}, SecurityGroupID: "default",
		Direction: "ingress", EtherType: "IPv4", Protocol: new("icmp")}
	changes = l.apply(t)
	if len(changes) != 1 || !strings.Contains(changes[0], "nft add rule sg-default-in") {
		t.Errorf("rule add: %v", changes)
	}
	l.reach(t, "c", "a", true)
	// An established flow outlives the rule's removal until its
	// conntrack entries are deleted (what the agent does with
	// secgroup.Shrunk's answer).
	flowID := 0x4242
	if err := pingID(l.vm["c"], "0.0.0.0", sgAddrs["a"], flowID, 3); err != nil {
		t.Fatalf("flow c -> a: %v", err)
	}
	before := l.plan()
	delete(l.snap.SGRules, "icmp")
	l.apply(t)
	l.reach(t, "c", "a", false)
	if err := pingID(l.vm["c"], "0.0.0.0", sgAddrs["a"], flowID, 2); err != nil {
		t.Errorf("established flow cut before the conntrack cleanup: %v", err)
	}
	flush := secgroup.Shrunk(before, l.plan())
	if len(flush) != 1 {
		t.Fatalf("flush %v, want one zone", flush)
	}
	if n, err := DeleteConntrackZone(l.host, flush[0].Zone, flush[0].Addrs); err != nil || n == 0 {
		t.Errorf("conntrack cleanup %v: deleted %d, %v", flush, n, err)
	}
	if err := pingID(l.vm["c"], "0.0.0.0", sgAddrs["a"], flowID, 2); err == nil {
		t.Error("flow c -> a still passes after the conntrack cleanup")
	}

	// An address group: ICMP from its CIDRs (c's address), then the
	// group no longer has it.
	l.snap.AddressGroups["agc"] = &model.AddressGroup{Standard: model.Standard{ID: "agc"}, Addresses: []string{sgAddrs["c"] + "/32"}}
	l.snap.SGRules["ag"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "ag"}, SecurityGroupID: "default",
		Direction: "ingress", EtherType: "IPv4", Protocol: new("icmp"), RemoteAddressGroupID: new("agc")}
	l.apply(t)
	l.reach(t, "c", "a", true)
	l.snap.AddressGroups["agc"] = &model.AddressGroup{Standard: model.Standard{ID: "agc"}, Addresses: []string{"198.51.100.0/24"}}
	if changes = l.apply(t); !strings.Contains(strings.Join(changes, "\n"), "nft delete element ag-agc-v4 "+sgAddrs["c"]) {
		t.Errorf("address group change: %v", changes)
	}
	l.reach(t, "c", "a", false)
	delete(l.snap.SGRules, "ag")
	l.apply(t)

	// b leaves the group: a no longer lets it in; b's own port has no
	// group now, so nothing passes either way (upstream: no group, no
	// traffic).
	l.snap.Ports["b"].SecurityGroups = nil
	changes = l.apply(t)
	joined := strings.Join(changes, "\n")
	if !strings.Contains(joined, "nft delete element rg-default-v4 10.9.1.1-10.9.1.2") {
		t.Errorf("member removal: %v", changes)
	}
	l.reach(t, "b", "a", false)
	l.reach(t, "b", "c", false)
	l.snap.Ports["b"].SecurityGroups = []string{"default"}
	l.apply(t)
	l.reach(t, "b", "a", true)

	// Forged source: a second address on a's interface that the port
	// does not own.
	al, err := netlink.NewHandleAt(l.vm["a"])
	must(t, err)
	defer al.Close()
	eth0, err := al.LinkByName("eth0")
	must(t, err)
	must(t, al.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("10.9.1.99/32"))}))
	if err := pingFrom(l.vm["a"], "10.9.1.99", sgAddrs["c"], 2); err == nil {
		t.Error("forged source 10.9.1.99 reached c")
	}
	l.snap.Ports["a"].AllowedAddressPairs = []model.AddressPair{{IPAddress: "10.9.1.99"}}
	l.apply(t)
	if err := pingFrom(l.vm["a"], "10.9.1.99", sgAddrs["c"], 3); err != nil {
		t.Errorf("allowed address pair 10.9.1.99: %v", err)
	}

	// Port security off on a: its tables entries go, traffic flows
	// (from a full read-back: the verdict maps' elements as the kernel
	// lists them are deleted).
	must(t, nft.Forget(l.host))
	l.snap.Ports["a"].PortSecurityEnabled = false
	changes = l.apply(t)
	if joined := strings.Join(changes, "\n"); !strings.Contains(joined, `nft delete element src_ports tapsga : jump src-tapsga`) ||
		!strings.Contains(joined, "nft delete element ingress_ports 0x") {
		t.Errorf("port security off on a: %v", changes)
	}
	l.reach(t, "c", "a", true)
	l.reach(t, "c", "b", false)
	// No filtered port left: no tables.
	l.snap.Ports["b"].PortSecurityEnabled = false
	l.apply(t)
	if changes := l.apply(t); len(changes) != 0 {
		t.Errorf("apply after port security off changed: %v", changes)
	}
	if hasTable(t, l.host, nftables.TableFamilyINet, secgroup.Table) {
		t.Error("inet table left with no filtered port")
	}
}

// Fail closed: when the host's tables cannot be applied, a tap that is
// not in its bridge yet stays out (it would pass unfiltered); taps
// already in keep working, and the next good apply plugs it.
func TestTapWaitsForHostTables(t *testing.T) {
	l := newSGLab(t)
	l.apply(t)
	hl, err := netlink.NewHandleAt(l.host)
	must(t, err)
	defer hl.Close()
	tap, err := hl.LinkByName("tapsga")
	must(t, err)
	must(t, hl.LinkSetNoMaster(tap))
	bad := l.want()
	bad.Nft = append(bad.Nft, desired.NftTable{Family: desired.FamilyINet, Name: "not-ours"})
	var res *Result
	must(t, netns.RunIn(l.host, func() error {
		var err error
		res, err = Apply(bad, Options{Prune: true})
		if err == nil {
			return fmt.Errorf("apply with a bad table succeeded")
		}
		return nil
	}))
	if res.Plugged["a"] || !res.Plugged["b"] {
		t.Errorf("plugged %v: want b (already in) and not a", res.Plugged)
	}
	if tap, _ = hl.LinkByName("tapsga"); tap.Attrs().MasterIndex != 0 {
		t.Error("tapsga joined its bridge without its filter")
	}
	if got := applyIn(t, l.host, l.want(), Options{Prune: true}); !got.Plugged["a"] {
		t.Errorf("good apply: plugged %v", got.Plugged)
	}
}

// ping6 sends ICMPv6 echo requests from ns (source src, "::" = any) to
// dst until one is answered.
func ping6(ns netns.Handle, src, dst string, tries int) error {
	var pc *icmp.PacketConn
	if err := netns.RunIn(ns, func() error {
		var err error
		pc, err = icmp.ListenPacket("ip6:ipv6-icmp", src)
		return err
	}); err != nil {
		return err
	}
	defer pc.Close()
	id := (os.Getpid() + int(pingSeq.Add(1))) & 0xffff
	buf := make([]byte, 1500)
	for seq := range tries {
		b, _ := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("sg6")}}).Marshal(nil)
		if _, err := pc.WriteTo(b, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
			return err
		}
		pc.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				break
			}
			m, err := icmp.ParseMessage(58, buf[:n])
			if err != nil || m.Type != ipv6.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq {
				return nil
			}
		}
	}
	return fmt.Errorf("no echo reply from %s to %s", dst, src)
}

// IPv6 through the same tables: members reach each other (neighbour
// discovery passes), a non-member does not get in, egress is open and
// replies come back, and a forged IPv6 source is dropped.
func TestSecurityGroupIPv6(t *testing.T) {
	l := newSGLab(t)
	l.apply(t)
	six := func(from, to string, want bool) {
		t.Helper()
		tries := 4
		if !want {
			tries = 2
		}
		err := ping6(l.vm[from], "::", sgAddrs6[to], tries)
		if (err == nil) != want {
			t.Errorf("%s -> %s (IPv6): reachable %v, want %v (%v)", from, to, err == nil, want, err)
		}
	}
	six("a", "b", true)
	six("a", "c", true)
	six("c", "a", false)
	l.snap.SGRules["icmp6"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "icmp6"}, SecurityGroupID: "default",
		Direction: "ingress", EtherType: "IPv6", Protocol: new("ipv6-icmp")}
	l.apply(t)
	six("c", "a", true)
	al, err := netlink.NewHandleAt(l.vm["a"])
	must(t, err)
	defer al.Close()
	eth0, err := al.LinkByName("eth0")
	must(t, err)
	must(t, al.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("2001:db8:9::99/128")), Flags: unix.IFA_F_NODAD}))
	if err := ping6(l.vm["a"], "2001:db8:9::99", sgAddrs6["c"], 2); err == nil {
		t.Error("forged IPv6 source reached c")
	}
}
