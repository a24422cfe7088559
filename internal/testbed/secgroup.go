package testbed

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// Security group helpers: groups, rules and a port's groups and port
// security through the API, instances booted into given groups, and
// long-lived TCP flows.

// CreateSecurityGroup creates a group (upstream gives it the two
// default egress rules) and returns its id.
func (b *Bed) CreateSecurityGroup(name string) string {
	b.T.Helper()
	var out struct {
		SG struct {
			ID string `json:"id"`
		} `json:"security_group"`
	}
	b.Do(http.MethodPost, "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": name}}, &out)
	return out.SG.ID
}

// AddRule adds a rule to a group: direction "ingress" or "egress",
// ethertype IPv4 unless attrs say otherwise (protocol, port_range_min,
// remote_ip_prefix, remote_group_id, ...). It returns the rule's id.
func (b *Bed) AddRule(group, direction string, attrs map[string]any) string {
	b.T.Helper()
	body := map[string]any{"security_group_id": group, "direction": direction, "ethertype": "IPv4"}
	for k, v := range attrs {
		body[k] = v
	}
	var out struct {
		Rule struct {
			ID string `json:"id"`
		} `json:"security_group_rule"`
	}
	b.Do(http.MethodPost, "/v2.0/security-group-rules", map[string]any{"security_group_rule": body}, &out)
	return out.Rule.ID
}

// DeleteRule deletes a security group rule.
func (b *Bed) DeleteRule(id string) {
	b.T.Helper()
	b.Do(http.MethodDelete, "/v2.0/security-group-rules/"+id, nil, nil)
}

// PortGroups returns a port's security groups.
func (b *Bed) PortGroups(portID string) []string {
	b.T.Helper()
	var out struct {
		Port struct {
			SGs []string `json:"security_groups"`
		} `json:"port"`
	}
	b.Do(http.MethodGet, "/v2.0/ports/"+portID, nil, &out)
	return out.Port.SGs
}

// SetPortGroups replaces a port's security groups.
func (b *Bed) SetPortGroups(portID string, groups []string) {
	b.T.Helper()
	if groups == nil {
		groups = []string{}
	}
	b.Do(http.MethodPut, "/v2.0/ports/"+portID, map[string]any{"port": map[string]any{"security_groups": groups}}, nil)
}

// SetPortSecurity turns a port's port security on or off (off needs the
// port to have no groups left: the API answers 409 otherwise).
func (b *Bed) SetPortSecurity(portID string, on bool) error {
	return b.Try(http.MethodPut, "/v2.0/ports/"+portID, map[string]any{"port": map[string]any{"port_security_enabled": on}}, nil)
}

// BootOptions are the testbed's view of sandbox.BootOptions.
type BootOptions = sandbox.BootOptions

// BootWith boots an instance with full options (groups, a fixed
// address, a hook at port creation) and fails the test on error.
func (b *Bed) BootWith(o BootOptions) *sandbox.Instance {
	b.T.Helper()
	c, cancel := ctx(60 * time.Second)
	defer cancel()
	in, err := b.State.Boot(c, o)
	if err != nil {
		b.T.Fatalf("boot %s on %s: %v", o.Name, o.Host, err)
	}
	return in
}

// ListenEcho starts an echo server in node's namespace, closed when the
// test ends.
func (b *Bed) ListenEcho(node, addr string) *probe.EchoServer {
	b.T.Helper()
	s, err := probe.ListenEcho(b.NS(node), addr)
	if err != nil {
		b.T.Fatal(err)
	}
	b.T.Cleanup(func() { s.Close() })
	return s
}

// DialEcho connects from node to an echo server within timeout; the
// connection is closed when the test ends.
func (b *Bed) DialEcho(node string, dst netip.AddrPort, timeout time.Duration) (*probe.EchoConn, error) {
	return b.DialEchoFrom(node, 0, dst, timeout)
}

// DialEchoFrom is DialEcho from a given local port.
func (b *Bed) DialEchoFrom(node string, localPort int, dst netip.AddrPort, timeout time.Duration) (*probe.EchoConn, error) {
	ns, err := b.Resolve(node)
	if err != nil {
		return nil, err
	}
	c, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	e, err := probe.DialEchoFrom(c, ns, localPort, dst)
	if err != nil {
		return nil, err
	}
	b.T.Cleanup(func() { e.Close() })
	return e, nil
}

// WaitRefused waits until a new TCP connection from node to dst is
// refused (each try waits 1 s for the handshake): the filter change
// that refuses it is applied.
func (b *Bed) WaitRefused(from string, dst netip.AddrPort, timeout time.Duration) {
	b.T.Helper()
	Eventually(b.T, timeout, 0, "new connections "+from+" -> "+dst.String()+" refused", func() error {
		if e, err := b.DialEcho(from, dst, time.Second); err == nil {
			e.Close()
			return fmt.Errorf("%s -> %s still connects", from, dst)
		}
		return nil
	})
}

// MustBeCut fails the test if an established connection still carries
// data (one exchange, 2 s).
func (b *Bed) MustBeCut(e *probe.EchoConn, what string) {
	b.T.Helper()
	if err := e.Exchange(2 * time.Second); err == nil {
		b.T.Errorf("%s still carries data, want it cut", what)
	}
}

// MustNotConnect fails the test if a TCP connection from node to dst
// succeeds within window.
func (b *Bed) MustNotConnect(from string, dst netip.AddrPort, window time.Duration) {
	b.T.Helper()
	if e, err := b.DialEcho(from, dst, window); err == nil {
		e.Close()
		b.T.Errorf("%s -> %s: connected, want no connection", from, dst)
	}
}
