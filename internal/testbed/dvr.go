package testbed

import (
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// DVR helpers: distributed routers, the namespaces each host's agent
// makes, counters of a host's fabric interfaces, and a dump of the
// routing state of a namespace for failure reports.

// With returns a Bed that reports to t (a subtest sharing the parent's
// sandbox: Fatal must be called from the goroutine of the test it
// fails).
func (b *Bed) With(t testing.TB) *Bed {
	c := *b
	c.T = t
	return &c
}

// CreateDistributedRouter creates a distributed router and, if extNetID
// is not "", sets its gateway on that network.
func (b *Bed) CreateDistributedRouter(name, extNetID string) Router {
	b.T.Helper()
	return b.CreateRouter(name, extNetID, map[string]any{"distributed": true})
}

// Namespaces builds the names of the namespaces host's agent makes
// (names.Namespaces with the sandbox's suffix for that host).
func (b *Bed) Namespaces(host string) names.Namespaces {
	return names.Namespaces{Suffix: sandbox.AgentSuffix(b.Prefix, host)}
}

// QRouterNS, SNATNS, FIPNS and DHCPNS are full namespace names on host.
func (b *Bed) QRouterNS(host, routerID string) string {
	return b.Namespaces(host).Build(names.PrefixRouter, routerID)
}

// SNATNS is the snat- namespace of a router on host.
func (b *Bed) SNATNS(host, routerID string) string {
	return b.Namespaces(host).Build(names.PrefixSNAT, routerID)
}

// FIPNS is the fip- namespace of an external network on host.
func (b *Bed) FIPNS(host, extNetID string) string {
	return b.Namespaces(host).Build(names.PrefixFIP, extNetID)
}

// DHCPNS is the qdhcp- namespace of a network on host.
func (b *Bed) DHCPNS(host, netID string) string {
	return b.Namespaces(host).Build(names.PrefixDHCP, netID)
}

// CheckNamespaces compares host's `ip netns` (without the agent suffix)
// with want (each must be there) and unwanted (none may be there).
func (b *Bed) CheckNamespaces(host string, want, unwanted []string) error {
	have := b.HostNamespaces(host)
	var errs []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			errs = append(errs, "no "+w)
		}
	}
	for _, u := range unwanted {
		if slices.Contains(have, u) {
			errs = append(errs, "unexpected "+u)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s (ip netns: %v)", host, strings.Join(errs, ", "), have)
	}
	return nil
}

// Counters are a fabric interface's packet counters.
type Counters struct{ RX, TX uint64 }

// Sum is RX+TX.
func (c Counters) Sum() uint64 { return c.RX + c.TX }

// Sub is c-o per direction.
func (c Counters) Sub(o Counters) Counters { return Counters{RX: c.RX - o.RX, TX: c.TX - o.TX} }

func (c Counters) String() string { return fmt.Sprintf("rx %d tx %d packets", c.RX, c.TX) }

// HostCounters reads the packet counters of a host's fabric interface
// (sandbox.HostTunnelIf: the VXLAN underlay; sandbox.HostExternalIf:
// physnet external).
func (b *Bed) HostCounters(host, dev string) Counters {
	b.T.Helper()
	st, err := probe.LinkStats(sandbox.NodeNS(b.Prefix, host), dev)
	if err != nil {
		b.T.Fatalf("counters of %s on %s: %v", dev, host, err)
	}
	return Counters{RX: st.RxPackets, TX: st.TxPackets}
}

// NetworkNodeCounters reads network1's underlay and external interface
// counters.
func (b *Bed) NetworkNodeCounters() (tunnel, external Counters) {
	b.T.Helper()
	return b.HostCounters(sandbox.NodeNetwork1, sandbox.HostTunnelIf), b.HostCounters(sandbox.NodeNetwork1, sandbox.HostExternalIf)
}

// AddIngressRules opens every default security group (the testbed's
// instances get their project's) to ICMP, TCP and UDP from anywhere, as
// the walkthrough's secgroup-add-rule steps do.
func (b *Bed) AddIngressRules() {
	b.T.Helper()
	var sgs struct {
		SecurityGroups []struct {
			ID string `json:"id"`
		} `json:"security_groups"`
	}
	b.Do(http.MethodGet, "/v2.0/security-groups?name=default", nil, &sgs)
	for _, sg := range sgs.SecurityGroups {
		for _, proto := range []string{"icmp", "tcp", "udp"} {
			err := b.Try(http.MethodPost, "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
				"security_group_id": sg.ID, "direction": "ingress", "ethertype": "IPv4", "protocol": proto, "remote_ip_prefix": "0.0.0.0/0"}}, nil)
			if err != nil && !strings.Contains(err.Error(), "409") {
				b.T.Fatalf("open %s in security group %s: %v", proto, sg.ID, err)
			}
		}
	}
}

// DumpNS renders what a DVR failure report needs of a namespace: its
// addresses, ip rules, routes of every table, neighbours and nftables
// ruleset (ip(8) for the former, a netlink read for the latter: this
// machine has no nft(8)).
func DumpNS(ns string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s\n", ns)
	for _, args := range [][]string{{"-br", "addr"}, {"rule"}, {"route", "show", "table", "all"}, {"neigh"}} {
		out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
		fmt.Fprintf(&b, "--- ip %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	b.WriteString("--- nftables\n")
	b.WriteString(probe.NFTDump(ns))
	b.WriteString("--- conntrack (IPv4 TCP)\n")
	if flows, err := probe.Conntrack(ns); err != nil {
		fmt.Fprintf(&b, "(%v)\n", err)
	} else {
		for _, f := range flows {
			if f.Proto == 6 {
				fmt.Fprintf(&b, "%s\n", f)
			}
		}
	}
	return b.String()
}

// DumpHost renders DumpNS for every namespace host's agent made, plus
// the host namespace's own routes.
func (b *Bed) DumpHost(host string) string {
	var out strings.Builder
	out.WriteString(DumpNS(sandbox.NodeNS(b.Prefix, host)))
	for _, n := range b.HostNamespaces(host) {
		out.WriteString(DumpNS(n + sandbox.AgentSuffix(b.Prefix, host)))
	}
	return out.String()
}

// HostCapture captures frames on fabric interfaces of a host.
type HostCapture struct {
	devs []string
	caps []*probe.Capture
}

// CaptureHost starts capturing on devs of host (its namespace); the
// capture ends with Stop or when the test ends.
func (b *Bed) CaptureHost(host string, devs ...string) *HostCapture {
	b.T.Helper()
	c := &HostCapture{devs: devs}
	for _, dev := range devs {
		cp, err := probe.StartCapture(sandbox.NodeNS(b.Prefix, host), dev)
		if err != nil {
			c.Stop()
			b.T.Fatalf("capture %s on %s: %v", dev, host, err)
		}
		c.caps = append(c.caps, cp)
	}
	b.T.Cleanup(func() { c.Stop() })
	return c
}

// Stop ends the capture and returns the frames per device.
func (c *HostCapture) Stop() map[string][]probe.Frame {
	out := map[string][]probe.Frame{}
	for i, cp := range c.caps {
		out[c.devs[i]] = cp.Stop()
	}
	return out
}

// Matching counts the frames whose description (probe.Describe)
// contains every one of the strings, e.g. two instance addresses.
func Matching(frames []probe.Frame, all ...string) int {
	n := 0
	for _, f := range frames {
		d := probe.Describe(f)
		ok := true
		for _, s := range all {
			ok = ok && strings.Contains(d, s)
		}
		if ok {
			n++
		}
	}
	return n
}
