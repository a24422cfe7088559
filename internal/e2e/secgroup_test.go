package e2e_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// sgPort is the part of a port the security group test reads.
type sgPort struct {
	SecurityGroups []string `json:"security_groups"`
}

// openIngress lets ICMP, TCP and UDP in from anywhere through the
// groups of a port (tests of routing and floating IPs: the agent
// enforces security groups, and a default group lets in only its own
// members).
func openIngress(b *testbed.Bed, portID string) {
	b.T.Helper()
	var p struct {
		Port sgPort `json:"port"`
	}
	b.Do(http.MethodGet, "/v2.0/ports/"+portID, nil, &p)
	for _, g := range p.Port.SecurityGroups {
		for _, proto := range []string{"icmp", "tcp", "udp"} {
			b.Do(http.MethodPost, "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
				"security_group_id": g, "direction": "ingress", "ethertype": "IPv4", "protocol": proto}}, nil)
		}
	}
}

// waitBlocked waits until dst no longer answers from node (the agent
// applies a change within a few seconds).
func waitBlocked(b *testbed.Bed, from string, dst netip.Addr) {
	b.T.Helper()
	testbed.Eventually(b.T, 15*time.Second, 100*time.Millisecond, from+" blocked from "+dst.String(), func() error {
		if err := b.Ping(from, dst, time.Second); err == nil {
			return fmt.Errorf("%s -> %s still answered", from, dst)
		}
		return nil
	})
}

// forgedEchoes sends ICMP echo requests from inside ns with source src
// (bound: src must be on an interface of ns) to dst.
func forgedEchoes(t *testing.T, ns string, src, dst netip.Addr, n int) {
	t.Helper()
	var pc *icmp.PacketConn
	if err := probe.In(ns, func() error {
		var err error
		pc, err = icmp.ListenPacket("ip4:icmp", src.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for seq := range n {
		b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 0x5a5a, Seq: seq, Data: []byte("forged")}}).Marshal(nil)
		if _, err := pc.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ipv4From counts the IPv4 frames with source src among frames.
func ipv4From(frames []probe.Frame, src netip.Addr) int {
	n := 0
	for _, f := range frames {
		d := f.Data
		if len(d) >= 34 && binary.BigEndian.Uint16(d[12:14]) == 0x0800 && netip.AddrFrom4([4]byte(d[26:30])) == src {
			n++
		}
	}
	return n
}

// TestSecurityGroups: instances in the default group reach each other
// (remote group = the group) across hosts; an instance moved to a group
// without ingress rules is unreachable until a rule allows ICMP, while
// its egress stays open and replies come back; removing the rule closes
// it again; a forged source address never leaves the host, and passes
// once it is an allowed address pair.
func TestSecurityGroups(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{})
	n := b.CreateNetwork("net1", "192.168.1.0/24", nil)
	vm1 := b.Boot("vm1", "net1", "compute1")
	vm2 := b.Boot("vm2", "net1", "compute2")
	vm3 := b.Boot("vm3", "net1", "compute1")
	ip1, ip2, ip3 := testbed.Addr(vm1), testbed.Addr(vm2), testbed.Addr(vm3)

	b.MustPing("vm1", ip2)
	b.MustPing("vm2", ip3)
	b.MustPing("vm3", ip1)
	checkHostTables(t, b, "compute1")

	// vm3 into "web": egress rules only (a new group's defaults).
	var web struct {
		SecurityGroup struct {
			ID string `json:"id"`
		} `json:"security_group"`
	}
	b.Do(http.MethodPost, "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": "web"}}, &web)
	webID := web.SecurityGroup.ID
	var p3 struct {
		Port sgPort `json:"port"`
	}
	b.Do(http.MethodPut, "/v2.0/ports/"+vm3.PortID, map[string]any{"port": map[string]any{"security_groups": []string{webID}}}, &p3)
	if len(p3.Port.SecurityGroups) != 1 || p3.Port.SecurityGroups[0] != webID {
		t.Fatalf("vm3 groups %v, want [%s]", p3.Port.SecurityGroups, webID)
	}
	waitBlocked(b, "vm1", ip3) // no ingress rule in web
	b.MustNotPing("vm2", ip3, 2*time.Second)
	b.MustNotPing("vm3", ip1, 2*time.Second) // vm3 is no member of vm1's default group
	dhcp := b.Ports("network_id=" + n.ID + "&device_owner=network:dhcp")
	if len(dhcp) != 1 {
		t.Fatalf("%d DHCP ports", len(dhcp))
	}
	b.MustPing("vm3", dhcp[0].IPv4()) // egress open, the reply passes

	// A rule: ICMP in from anywhere.
	var rule struct {
		SecurityGroupRule struct {
			ID string `json:"id"`
		} `json:"security_group_rule"`
	}
	b.Do(http.MethodPost, "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
		"security_group_id": webID, "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}}, &rule)
	b.MustPing("vm1", ip3)
	b.MustPing("vm2", ip3)
	b.MustNotPing("vm3", ip1, 2*time.Second) // vm1's group is unchanged
	b.Do(http.MethodDelete, "/v2.0/security-group-rules/"+rule.SecurityGroupRule.ID, nil, nil)
	waitBlocked(b, "vm1", ip3)

	// Forged source: vm1 sends from an address its port does not own.
	forged := netip.MustParseAddr("192.168.1.199")
	nl, err := probe.Handle(vm1.Netns)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	eth0, err := nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: forged.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		t.Fatal(err)
	}
	if got := seenAt(t, vm2, func() { forgedEchoes(t, vm1.Netns, forged, ip2, 5) }, forged); got != 0 {
		t.Errorf("vm2 saw %d frames from the forged %s", got, forged)
	}
	b.Do(http.MethodPut, "/v2.0/ports/"+vm1.PortID, map[string]any{"port": map[string]any{
		"allowed_address_pairs": []map[string]string{{"ip_address": forged.String()}}}}, nil)
	testbed.Eventually(t, 15*time.Second, 200*time.Millisecond, "allowed address pair passes", func() error {
		if got := seenAt(t, vm2, func() { forgedEchoes(t, vm1.Netns, forged, ip2, 2) }, forged); got == 0 {
			return fmt.Errorf("vm2 saw nothing from %s", forged)
		}
		return nil
	})
}

// seenAt counts the frames from src that reach in's eth0 while send
// runs.
func seenAt(t *testing.T, in *sandbox.Instance, send func(), src netip.Addr) int {
	t.Helper()
	c, err := probe.StartCapture(in.Netns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	send()
	time.Sleep(300 * time.Millisecond)
	return ipv4From(c.Stop(), src)
}

// checkHostTables: the host with filtered ports has both tables and
// br_netfilter on.
func checkHostTables(t *testing.T, b *testbed.Bed, host string) {
	t.Helper()
	ns := b.NS(host)
	if _, err := exec.LookPath("nft"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "nsenter", "--net="+probe.Path(ns), "nft", "list", "tables").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "table bridge neutrino-sg") || !strings.Contains(string(out), "table inet neutrino-sg") {
			t.Errorf("%s: nft list tables: %v\n%s", host, err, out)
		}
	}
	var v string
	if err := probe.In(ns, func() error {
		b, err := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables")
		v = string(b)
		return err
	}); err != nil || strings.TrimSpace(v) != "1" {
		t.Errorf("%s: bridge-nf-call-iptables = %q (%v), want 1", host, v, err)
	}
}
