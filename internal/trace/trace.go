// Package trace walks one packet through the planned data plane of a
// cloud's hosts: the desired.Host values the agents' planner produces
// (internal/agent/plan). It interprets that plain data the way the
// kernel would treat what the agents build from it: bridges with their
// FDB and VXLAN tunnel entries, the ARP responder and proxy ARP,
// namespaces with ip rules, routing tables and connected routes, and the
// nftables tables (NAT maps, the DVR bridge table, the security-group
// tables). It is pure: what the kernel does is modelled, never asked.
//
// What it does not model: conntrack beyond "this is the first packet of
// a new flow" (ct state new, the DNAT status set by an earlier hook),
// MTU, fragmentation, and anything outside the planned state except the
// external network's upstream router, which is where packets to
// addresses that no host claims leave the cloud.
package trace

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// World is the planned data plane of every host and what the plan does
// not hold: instance ports (the kernel learns their MACs), and the
// external network's gateway (outside the cloud).
type World struct {
	Hosts map[string]*desired.Host
	Ports []Port
	// ExternalGateway is the upstream router on the external network:
	// packets routed to it leave the cloud.
	ExternalGateway netip.Addr
}

// Port is an instance port: the tap it is plugged into on its host, its
// MAC and its fixed address with its subnet's prefix and gateway (what
// the instance's own route table holds, from DHCP).
type Port struct {
	ID, Name, Host, Dev, MAC string
	Addr                     netip.Prefix
	Gateway                  netip.Addr
}

// Packet is the packet to walk: Src is the source address it carries
// (invalid = the port's own address); Proto is icmp, tcp or udp.
type Packet struct {
	Src, Dst netip.Addr
	Proto    string
	Port     uint16
}

// Hop is one step of the walk.
type Hop struct {
	Host  string // "" = outside the cloud
	Where string // a bridge, a namespace, the external network
	What  string
}

// Result is the walk and its end.
type Result struct {
	Hops []Hop
	// Delivered is true when the packet reached its destination: a port
	// (Port), a namespace's own address, or the world outside.
	Delivered bool
	Port      string // the port it was delivered to
	Host      string // where it ended
	Fate      string // one line: "delivered to port X on host Y" or "dropped at ... by ..."
}

// String renders the walk as text, one hop a line and the fate last.
func (r Result) String() string {
	var b strings.Builder
	for i, h := range r.Hops {
		where := h.Where
		if h.Host != "" {
			where = h.Host + " " + where
		}
		fmt.Fprintf(&b, "%2d %s: %s\n", i+1, where, h.What)
	}
	fmt.Fprintf(&b, "=> %s\n", r.Fate)
	return b.String()
}

// maxHops stops a walk that loops (a plan with a routing loop).
const maxHops = 64

// walker holds one walk's state.
type walker struct {
	w   *World
	res Result
	p   pkt
}

// pkt is the packet as it changes along the way.
type pkt struct {
	src, dst       netip.Addr
	proto          string
	dport          uint16
	srcMAC, dstMAC string
	dnatted        bool // a DNAT happened (ct status dnat)
	redirected     bool // redirected to a local port
}

func (t *walker) hop(host, where, format string, a ...any) {
	t.res.Hops = append(t.res.Hops, Hop{Host: host, Where: where, What: fmt.Sprintf(format, a...)})
}

func (t *walker) tooLong() bool {
	if len(t.res.Hops) > maxHops {
		t.drop("", "the walk", "more than %d hops: a loop", maxHops)
		return true
	}
	return false
}

func (t *walker) drop(host, where, format string, a ...any) {
	t.res.Host = host
	at := where
	if host != "" {
		at = where + " on " + host
	}
	t.res.Fate = "dropped at " + at + " by " + fmt.Sprintf(format, a...)
}

func (t *walker) deliver(host, port, format string, a ...any) {
	t.res.Delivered, t.res.Host, t.res.Port = true, host, port
	t.res.Fate = fmt.Sprintf(format, a...)
}

// FromPort walks p sent by the instance behind port id.
func (w *World) FromPort(id string, p Packet) (Result, error) {
	port, ok := w.port(id)
	if !ok {
		return Result{}, fmt.Errorf("no instance port %q", id)
	}
	t := &walker{w: w, p: pkt{src: p.Src, dst: p.Dst, proto: p.Proto, dport: p.Port, srcMAC: port.MAC}}
	if !t.p.src.IsValid() {
		t.p.src = port.Addr.Addr()
	}
	t.instanceSends(port)
	return t.res, nil
}

// FromExternal walks p arriving from outside the cloud (its source an
// address behind the external gateway or on the external network).
func (w *World) FromExternal(p Packet) Result {
	t := &walker{w: w, p: pkt{src: p.Src, dst: p.Dst, proto: p.Proto, dport: p.Port, srcMAC: "upstream"}}
	t.hop("", "external network", "%s arrives from %s; the upstream router asks who has %s", t.describe(), p.Src, p.Dst)
	t.externalDeliver(p.Dst, "")
	return t.res
}

func (t *walker) describe() string {
	s := fmt.Sprintf("%s %s > %s", t.p.proto, t.p.src, t.p.dst)
	if t.p.dport != 0 {
		s += fmt.Sprintf(":%d", t.p.dport)
	}
	return s
}

func (w *World) port(id string) (Port, bool) {
	for _, p := range w.Ports {
		if p.ID == id || (p.Name != "" && p.Name == id) {
			return p, true
		}
	}
	return Port{}, false
}

// instanceSends is the instance's own stack: on-link destinations are
// resolved directly, others through the subnet's gateway.
func (t *walker) instanceSends(port Port) {
	h := t.w.Hosts[port.Host]
	if h == nil {
		t.drop(port.Host, "port "+port.ID, "the host has no plan")
		return
	}
	br := bridgeOfPort(h, port.Dev)
	if br == "" {
		t.drop(port.Host, port.Dev, "the tap is in no bridge (the port is not bound or down)")
		return
	}
	next := t.p.dst
	how := "on-link"
	if !port.Addr.Contains(t.p.dst) {
		if !port.Gateway.IsValid() {
			t.drop(port.Host, "instance "+port.ID, "no route: %s is off-link and the subnet has no gateway", t.p.dst)
			return
		}
		next, how = port.Gateway, "via gateway "+port.Gateway.String()
	}
	t.hop(port.Host, "port "+cmpOr(port.Name, port.ID), "%s leaves %s (%s)", t.describe(), port.Dev, how)
	mac, ok := t.arp(port.Host, br, port.Dev, next)
	if !ok {
		return
	}
	t.p.dstMAC = mac
	t.bridge(port.Host, br, port.Dev)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
