// Package desired is the host's desired data plane as plain data: what
// the pure plan functions produce and what apply reconciles the kernel
// to. Every list is sorted and de-duplicated by Normalize so that equal
// inputs give equal output, and String renders it as `ip`-style lines for
// `neutrino-agent plan` and for tests.
package desired

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Host is everything the agent manages on one host.
type Host struct {
	Bridges     []Bridge
	VXLANs      []VXLAN
	BridgePorts []BridgePort
	FDB         []FDB
	Neighs      []Neigh
	Namespaces  []Namespace
	Sysctls     []Sysctl
}

// Bridge is a network's Linux bridge in the host namespace.
type Bridge struct {
	Name string
	MTU  int
}

// VXLAN is a tunnel device enslaved to its network's bridge, with
// learning off (l2population fills the FDB) and, with the ARP responder,
// neigh_suppress on its bridge port.
type VXLAN struct {
	Name          string
	VNI           int
	Local         netip.Addr
	Bridge        string
	MTU           int
	NeighSuppress bool
}

// BridgePort is an existing interface (instance tap, physical interface)
// that belongs in a bridge. Taps are created by others (nova, the
// sandbox); until one exists its port stays DOWN.
type BridgePort struct {
	Name   string
	Bridge string
	MTU    int
	PortID string // the Neutron port it carries ("" for physical)
}

// FDB is a forwarding entry on a VXLAN device: Dst set = "self" entry
// towards a remote VTEP (MAC 00:00:00:00:00:00 = flood list); Master =
// the bridge's static entry pointing at the device.
type FDB struct {
	Dev    string
	MAC    string
	Dst    netip.Addr
	Master bool
}

// Neigh is a permanent neighbour entry (ARP responder: on the bridge).
type Neigh struct {
	Namespace string // "" = host namespace
	Dev       string
	IP        netip.Addr
	MAC       string
}

// Namespace is an agent-owned network namespace and what is inside it.
type Namespace struct {
	Name    string
	Veths   []Veth
	Routes  []Route
	Sysctls []Sysctl
	// Nft is the namespace's nftables table (nil = none).
	Nft *NftTable
	// GARP lists addresses to announce with gratuitous ARP when they are
	// added (address -> device).
	GARP []GARP
}

// GARP is a gratuitous ARP announcement of an address on a device.
type GARP struct {
	Dev  string
	Addr netip.Addr
}

// Veth is a pair with one end (Inner) in the namespace and the other
// (Outer) in the host namespace, enslaved to Bridge.
type Veth struct {
	Inner  string
	Outer  string
	Bridge string
	MAC    string
	MTU    int
	Addrs  []netip.Prefix
	PortID string
}

// Route is a route inside a namespace.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
	Dev string
}

// Sysctl is a /proc/sys setting ("net/ipv4/ip_forward" = "1").
type Sysctl struct {
	Key   string
	Value string
}

// Normalize sorts and de-duplicates every list.
func (h *Host) Normalize() {
	h.Bridges = sortDedup(h.Bridges, func(b Bridge) string { return b.Name })
	h.VXLANs = sortDedup(h.VXLANs, func(v VXLAN) string { return v.Name })
	h.BridgePorts = sortDedup(h.BridgePorts, func(p BridgePort) string { return p.Name })
	h.FDB = sortDedup(h.FDB, func(f FDB) string {
		k := f.Dev + " " + f.MAC + " " + f.Dst.String()
		if f.Master {
			k += " master"
		}
		return k
	})
	h.Neighs = sortDedup(h.Neighs, func(n Neigh) string { return n.Namespace + " " + n.Dev + " " + n.IP.String() })
	h.Sysctls = sortDedup(h.Sysctls, func(s Sysctl) string { return s.Key })
	for i := range h.Namespaces {
		ns := &h.Namespaces[i]
		ns.Veths = sortDedup(ns.Veths, func(v Veth) string { return v.Inner })
		ns.Routes = sortDedup(ns.Routes, func(r Route) string { return r.Dst.String() })
		ns.Sysctls = sortDedup(ns.Sysctls, func(s Sysctl) string { return s.Key })
	}
	h.Namespaces = sortDedup(h.Namespaces, func(n Namespace) string { return n.Name })
}

func sortDedup[T any](in []T, key func(T) string) []T {
	// Keys are computed once per element, not per comparison: with
	// thousands of FDB entries a key per comparison dominated the plan.
	type keyed struct {
		k string
		v T
	}
	ks := make([]keyed, len(in))
	for i, v := range in {
		ks[i] = keyed{key(v), v}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return strings.Compare(a.k, b.k) })
	ks = slices.CompactFunc(ks, func(a, b keyed) bool { return a.k == b.k })
	out := in[:0]
	for _, kv := range ks {
		out = append(out, kv.v)
	}
	return out
}

// String renders the desired state as `ip`/`bridge`-style lines.
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
	for _, ns := range h.Namespaces {
		fmt.Fprintf(&b, "netns %s\n", ns.Name)
		if ns.Nft != nil {
			for _, line := range strings.Split(strings.TrimSuffix(ns.Nft.String(), "\n"), "\n") {
				fmt.Fprintf(&b, "  %s\n", line)
			}
		}
		for _, s := range ns.Sysctls {
			fmt.Fprintf(&b, "  sysctl %s=%s\n", s.Key, s.Value)
		}
		for _, v := range ns.Veths {
			fmt.Fprintf(&b, "  veth %s (outer %s master %s) mac %s mtu %d", v.Inner, v.Outer, v.Bridge, v.MAC, v.MTU)
			for _, a := range v.Addrs {
				fmt.Fprintf(&b, " addr %s", a)
			}
			b.WriteString("\n")
		}
		for _, r := range ns.Routes {
			fmt.Fprintf(&b, "  route %s via %s dev %s\n", r.Dst, r.Via, r.Dev)
		}
	}
	return b.String()
}
