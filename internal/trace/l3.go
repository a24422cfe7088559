package trace

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// iface is a device inside a namespace: its own veth end, or the outer
// end of another namespace's veth that sits here (DVR's fpr-).
type iface struct {
	name   string
	addrs  []netip.Prefix
	mac    string
	bridge string // host bridge of the outer end ("" if none)
	outer  string // the outer end in the host namespace
	peerNS string // the other end's namespace ("" = the host's)
	peer   string // the other end's name
}

func findNS(h *desired.Host, name string) *desired.Namespace {
	for i := range h.Namespaces {
		if h.Namespaces[i].Name == name {
			return &h.Namespaces[i]
		}
	}
	return nil
}

func ifaces(h *desired.Host, ns string) []iface {
	var out []iface
	for _, n := range h.Namespaces {
		for _, v := range n.Veths {
			switch {
			case n.Name == ns:
				out = append(out, iface{name: v.Inner, addrs: v.Addrs, mac: v.MAC, bridge: v.Bridge, outer: v.Outer, peerNS: v.PeerNamespace, peer: v.Outer})
			case v.PeerNamespace == ns:
				out = append(out, iface{name: v.Outer, addrs: v.PeerAddrs, peerNS: n.Name, peer: v.Inner})
			}
		}
	}
	return out
}

// namespace routes the packet that entered namespace ns of host by iif:
// prerouting NAT, local delivery, ip rules and tables, postrouting NAT,
// then out by the chosen device.
func (t *walker) namespace(host, ns, iif string) {
	if t.tooLong() {
		return
	}
	h := t.w.Hosts[host]
	n := findNS(h, ns)
	if n == nil {
		t.drop(host, ns, "no such namespace in the plan")
		return
	}
	t.hop(host, ns, "in by %s: %s", iif, t.describe())
	st := &nfState{host: host, where: ns, iif: iif}
	if d, ok := t.runHook(hooked(n.Nft, "prerouting", "ip", "inet"), st); !ok {
		t.drop(host, ns, "%s", ruleText(d))
		return
	}
	ifs := ifaces(h, ns)
	for _, f := range ifs {
		if hasAddr(f.addrs, t.p.dst) || t.p.redirected {
			t.localDelivery(host, n, st, f.name)
			return
		}
	}
	rt, how, ok := lookupRoute(n, ifs, t.p.src, t.p.dst, iif)
	if !ok {
		t.drop(host, ns, "no route to %s (%s)", t.p.dst, how)
		return
	}
	t.hop(host, ns, "%s", how)
	st.oif = rt.Dev
	chains := append(hooked(n.Nft, "forward", "ip", "inet"), hooked(n.Nft, "postrouting", "ip", "inet")...)
	if d, ok := t.runHook(chains, st); !ok {
		t.drop(host, ns, "%s", ruleText(d))
		return
	}
	t.egress(host, n, ifs, rt)
}

func (t *walker) localDelivery(host string, n *desired.Namespace, st *nfState, dev string) {
	if d, ok := t.runHook(hooked(n.Nft, "input", "ip", "inet"), st); !ok {
		t.drop(host, n.Name, "%s", ruleText(d))
		return
	}
	t.deliver(host, "", "delivered to namespace %s on host %s (its address %s on %s)", n.Name, host, t.p.dst, dev)
}

// egress sends the routed packet out of dev towards the route's next hop.
func (t *walker) egress(host string, n *desired.Namespace, ifs []iface, rt desired.Route) {
	i := slices.IndexFunc(ifs, func(f iface) bool { return f.name == rt.Dev })
	if i < 0 {
		t.drop(host, n.Name, "route %s: no device %s", rt.Dst, rt.Dev)
		return
	}
	f := ifs[i]
	next := t.p.dst
	if rt.Via.IsValid() {
		next = rt.Via
	}
	if f.bridge == "" {
		// A veth between two namespaces: no ARP worth showing.
		t.namespace(host, cmpOr(f.peerNS, ""), f.peer)
		return
	}
	t.p.srcMAC = f.mac
	for _, nb := range t.w.Hosts[host].Neighs {
		if nb.Namespace == n.Name && nb.Dev == f.name && nb.IP == next {
			t.hop(host, n.Name, "static ARP: %s is-at %s on %s", next, nb.MAC, f.name)
			t.p.dstMAC = nb.MAC
			t.bridge(host, f.bridge, f.outer)
			return
		}
	}
	mac, ok := t.arp(host, f.bridge, f.outer, next)
	if !ok {
		return
	}
	t.p.dstMAC = mac
	t.bridge(host, f.bridge, f.outer)
}

// lookupRoute runs the ip rules by priority (the namespace's and the
// kernel's main and default rules) and longest-prefix matches in each
// table they name; the main table also has the connected routes.
func lookupRoute(n *desired.Namespace, ifs []iface, src, dst netip.Addr, iif string) (desired.Route, string, bool) {
	rules := slices.Clone(n.Rules)
	rules = append(rules, desired.Rule{Priority: 32766, Table: desired.MainTable}, desired.Rule{Priority: 32767, Table: 253})
	slices.SortStableFunc(rules, func(a, b desired.Rule) int { return cmpInt(a.Priority, b.Priority) })
	var tried []string
	for _, r := range rules {
		if (r.From.IsValid() && !r.From.Contains(src)) || (r.To.IsValid() && !r.To.Contains(dst)) || (r.IifName != "" && r.IifName != iif) {
			continue
		}
		if rt, ok := longest(tableRoutes(n, ifs, r.Table), dst); ok {
			return rt, fmt.Sprintf("%s -> %s", ruleName(r), routeText(rt)), true
		}
		tried = append(tried, tableName(r.Table))
	}
	return desired.Route{}, "tables tried: " + fmtList(tried), false
}

// ruleName is the rule as `ip rule` shows it, the kernel's own by name.
func ruleName(r desired.Rule) string {
	switch r.Priority {
	case 32766:
		return "rule pref 32766 lookup main"
	case 32767:
		return "rule pref 32767 lookup default"
	}
	return r.String()
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fmtList(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

func tableName(t int) string {
	switch t {
	case desired.MainTable:
		return "main"
	case 253:
		return "default"
	}
	return fmt.Sprint(t)
}

func tableRoutes(n *desired.Namespace, ifs []iface, table int) []desired.Route {
	var rs []desired.Route
	for _, r := range n.Routes {
		if r.TableOrMain() == table {
			rs = append(rs, r)
		}
	}
	if table == desired.MainTable {
		for _, f := range ifs {
			for _, a := range f.addrs {
				if a.Bits() < 32 {
					rs = append(rs, desired.Route{Dst: a.Masked(), Dev: f.name})
				}
			}
		}
	}
	return rs
}

func longest(rs []desired.Route, dst netip.Addr) (desired.Route, bool) {
	best, found := desired.Route{}, false
	for _, r := range rs {
		if r.Dst.Contains(dst) && (!found || r.Dst.Bits() > best.Dst.Bits()) {
			best, found = r, true
		}
	}
	return best, found
}

func routeText(r desired.Route) string {
	s := "route " + r.Dst.String()
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	s += " dev " + r.Dev
	if r.TableOrMain() != desired.MainTable {
		s += fmt.Sprintf(" table %d", r.TableOrMain())
	} else {
		s += " table main"
	}
	return s
}

// ruleText names the rule that decided, with its chain.
func ruleText(d decision) string {
	s := fmt.Sprintf("%q in chain %s", d.rule.String(), d.chain)
	return s
}
