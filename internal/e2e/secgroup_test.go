package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// Security group helpers shared by the e2e tests. The security group
// scenarios themselves are TestSecGroupScenarios
// (secgroup_policy_test.go, secgroup_isolation_test.go).

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
