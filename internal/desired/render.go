package desired

import (
	"fmt"
	"slices"
	"strings"
)

// String renders the desired state as `ip`/`bridge`/`nft`-style lines,
// in Normalize's order. Call Normalize first for stable text.
func (h *Host) String() string {
	var b strings.Builder
	for _, s := range h.Sysctls {
		fmt.Fprintf(&b, "sysctl %s=%s\n", s.Key, s.Value)
	}
	for _, br := range h.Bridges {
		fmt.Fprintf(&b, "link %s type bridge mtu %d\n", br.Name, br.MTU)
	}
	for _, v := range h.VXLANs {
		fmt.Fprintf(&b, "link %s type vxlan id %d local %s dstport 4789 nolearning mtu %d master %s learning off neigh_suppress %v\n", v.Name, v.VNI, v.Local, v.MTU, v.Bridge, v.NeighSuppress)
	}
	for _, v := range h.VLANs {
		fmt.Fprintf(&b, "link %s link %s type vlan id %d mtu %d master %s\n", v.Name, v.Parent, v.VID, v.MTU, v.Bridge)
	}
	for _, g := range h.GRETaps {
		if !g.Remote.IsValid() {
			fmt.Fprintf(&b, "link %s type gretap key %d local %s remote any mtu %d master %s learning off isolated on flood off neigh_suppress %v\n",
				g.Name, g.GREKey, g.Local, g.MTU, g.Bridge, g.NeighSuppress)
			continue
		}
		fmt.Fprintf(&b, "link %s type gretap key %d local %s remote %s mtu %d master %s learning off isolated on neigh_suppress %v\n",
			g.Name, g.GREKey, g.Local, g.Remote, g.MTU, g.Bridge, g.NeighSuppress)
	}
	for _, p := range h.BridgePorts {
		fmt.Fprintf(&b, "link %s master %s mtu %d", p.Name, p.Bridge, p.MTU)
		if p.PortID != "" {
			fmt.Fprintf(&b, " # port %s", p.PortID)
		}
		b.WriteString("\n")
	}
	for _, f := range h.FDB {
		if f.Master {
			fmt.Fprintf(&b, "fdb %s dev %s master static\n", f.MAC, f.Dev)
		} else {
			fmt.Fprintf(&b, "fdb %s dev %s dst %s self permanent\n", f.MAC, f.Dev, f.Dst)
		}
	}
	for _, n := range h.Neighs {
		ns := ""
		if n.Namespace != "" {
			ns = "netns " + n.Namespace + " "
		}
		fmt.Fprintf(&b, "%sneigh %s lladdr %s dev %s nud permanent\n", ns, n.IP, n.MAC, n.Dev)
	}
	for i := range h.Nft {
		b.WriteString(h.Nft[i].String())
	}
	for i := range h.Namespaces {
		h.Namespaces[i].render(&b)
	}
	return b.String()
}

func (ns *Namespace) render(b *strings.Builder) {
	fmt.Fprintf(b, "netns %s\n", ns.Name)
	for i := range ns.Nft {
		for _, line := range strings.Split(strings.TrimSuffix(ns.Nft[i].String(), "\n"), "\n") {
			fmt.Fprintf(b, "  %s\n", line)
		}
	}
	for _, s := range ns.Sysctls {
		fmt.Fprintf(b, "  sysctl %s=%s\n", s.Key, s.Value)
	}
	for _, v := range ns.Veths {
		fmt.Fprintf(b, "  %s\n", v)
	}
	for _, r := range ns.Rules {
		fmt.Fprintf(b, "  %s\n", r)
	}
	for _, r := range ns.Routes {
		fmt.Fprintf(b, "  %s\n", r)
	}
	garp := make([]string, len(ns.GARP))
	for i, g := range ns.GARP {
		garp[i] = fmt.Sprintf("  garp %s dev %s\n", g.Addr, g.Dev)
	}
	slices.Sort(garp)
	for _, g := range slices.Compact(garp) {
		b.WriteString(g)
	}
}

func (v Veth) String() string {
	var b strings.Builder
	switch {
	case v.PeerNamespace != "" && v.Bridge != "":
		fmt.Fprintf(&b, "veth %s (outer %s in netns %s master %s)", v.Inner, v.Outer, v.PeerNamespace, v.Bridge)
	case v.PeerNamespace != "":
		fmt.Fprintf(&b, "veth %s (outer %s in netns %s)", v.Inner, v.Outer, v.PeerNamespace)
	default:
		fmt.Fprintf(&b, "veth %s (outer %s master %s)", v.Inner, v.Outer, v.Bridge)
	}
	if v.MAC != "" {
		fmt.Fprintf(&b, " mac %s", v.MAC)
	}
	fmt.Fprintf(&b, " mtu %d", v.MTU)
	for _, a := range v.Addrs {
		fmt.Fprintf(&b, " addr %s", a)
	}
	for _, a := range v.PeerAddrs {
		fmt.Fprintf(&b, " peer-addr %s", a)
	}
	return b.String()
}

func (r Route) String() string {
	s := fmt.Sprintf("route %s via %s dev %s", r.Dst, r.Via, r.Dev)
	if r.TableOrMain() != MainTable {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	return s
}

func (r Rule) String() string {
	s := fmt.Sprintf("rule pref %d", r.Priority)
	if r.From.IsValid() {
		s += " from " + r.From.String()
	}
	if r.To.IsValid() {
		s += " to " + r.To.String()
	}
	if r.IifName != "" {
		s += " iif " + r.IifName
	}
	return s + fmt.Sprintf(" lookup %d", r.Table)
}
