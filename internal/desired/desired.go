// Package desired is the contract between planning and the kernel: a
// host's desired data plane as plain data. The planners
// (internal/agent/plan) produce it and internal/dataplane reconciles the
// kernel to it. Normalize sorts and de-duplicates every list so that
// equal inputs give equal values, and String renders it as stable,
// sorted `ip`/`nft`-style text: what `neutrino-agent plan` prints and
// what golden tests compare whole.
//
// It can describe what legacy routers, DVR, security groups and HA need:
// namespaces; bridges, VXLAN devices and veth pairs, including pairs
// whose two ends sit in two named namespaces; addresses; routes in any
// table; ip rules; neighbours; FDB entries; sysctls; and nftables tables
// of family ip, inet or bridge with their chains, rules, typed sets and
// maps.
package desired

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Host is everything the agent manages on one host.
type Host struct {
	Bridges     []Bridge
	VXLANs      []VXLAN
	VLANs       []VLAN
	GRETaps     []GRETap
	BridgePorts []BridgePort
	FDB         []FDB
	Neighs      []Neigh
	Namespaces  []Namespace
	Sysctls     []Sysctl
	// Nft are nftables tables in the host namespace (the one the agent
	// manages bridges in), at most one per family and name: DVR's bridge
	// table that rewrites routed frames' source MAC to the host's DVR
	// MAC. As in a namespace, owned tables (NftOwnedPrefix) that are not
	// listed are removed (only when the apply may prune).
	Nft []NftTable
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

// VLAN is an 802.1Q sub-interface of a physical interface (the one its
// physical network maps to) enslaved to a VLAN network's bridge: frames
// of the bridge leave the host tagged with VID.
type VLAN struct {
	Name   string
	Parent string
	VID    int
	Bridge string
	MTU    int
}

// GRETap is an Ethernet-over-GRE tunnel to one remote host of a GRE
// network, keyed by the network's segmentation id and enslaved to its
// bridge with learning off (l2population's FDB entries point remote MACs
// at it) and isolated: the bridge never forwards from one tunnel port to
// another, so that a frame flooded to every remote host is not flooded
// back. NeighSuppress is the ARP responder, as on a VXLAN port.
//
// A GRETap without Remote is the network's receive tap ("remote any"):
// the kernel hands it the network's GRE packets from hosts that have no
// tap of their own here, such as a compute whose distributed router
// routes into the network while none of its instances are on it. It
// never sends (flooding off on its bridge port: a gretap without a
// remote cannot transmit).
type GRETap struct {
	Name          string
	GREKey        int
	Local, Remote netip.Addr
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

// FDB is a forwarding entry on a bridge port: Dst set = "self" entry
// on a VXLAN device towards a remote VTEP (MAC 00:00:00:00:00:00 =
// flood list); Master = the bridge's static entry pointing at the
// device, which may be any port of an agent bridge (a VXLAN device, an
// instance tap, a namespace veth's outer end: DVR pins the distributed
// gateway MAC to the host's own qr- port).
type FDB struct {
	Dev    string
	MAC    string
	Dst    netip.Addr
	Master bool
}

// Neigh is a permanent neighbour entry: on a bridge of the host
// namespace (ARP responder), or on a device inside one of the agent's
// namespaces (Namespace set; DVR's static ARP in qrouter-).
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
	Rules   []Rule
	Sysctls []Sysctl
	// Nft are the namespace's nftables tables, at most one per family
	// and name. Tables whose name starts with NftOwnedPrefix and that are
	// not listed are removed.
	Nft []NftTable
	// GARP lists addresses to announce with gratuitous ARP (address ->
	// device): an entry is announced when it is new in the plan (since
	// the namespace's last clean apply in this process) and whenever the
	// apply adds its address to a device. The address need not be on the
	// device: DVR's fip namespace answers for floating IPs by proxy ARP.
	GARP []GARP
}

// GARP is a gratuitous ARP announcement of an address on a device.
type GARP struct {
	Dev  string
	Addr netip.Addr
}

// Veth is a pair with one end (Inner) in the namespace and the other
// (Outer) in PeerNamespace ("" = the host namespace). An outer end in
// the host namespace is usually enslaved to Bridge; an outer end in
// another namespace (DVR's rfp-/fpr- pair) carries PeerAddrs.
type Veth struct {
	Inner         string
	Outer         string
	PeerNamespace string
	Bridge        string
	MAC           string
	MTU           int
	Addrs         []netip.Prefix
	PeerAddrs     []netip.Prefix
	PortID        string
}

// MainTable is the kernel's main routing table (RT_TABLE_MAIN).
const MainTable = 254

// Route is a route inside a namespace. Table 0 means the main table.
type Route struct {
	Table int
	Dst   netip.Prefix
	Via   netip.Addr
	Dev   string
}

// TableOrMain is the route's table with 0 read as the main table.
func (r Route) TableOrMain() int {
	if r.Table == 0 {
		return MainTable
	}
	return r.Table
}

// Rule is an ip rule (policy routing) inside a namespace: packets that
// match every set selector are looked up in Table. Priority identifies
// the rule; the kernel's own rules (0, 32766, 32767) are never ours.
type Rule struct {
	Priority int
	From     netip.Prefix // invalid = any source
	To       netip.Prefix // invalid = any destination
	IifName  string       // "" = any input interface
	Table    int
}

// Sysctl is a /proc/sys setting ("net/ipv4/ip_forward" = "1").
type Sysctl struct {
	Key   string
	Value string
}

// Normalize sorts and de-duplicates every list.
func (h *Host) Normalize() {
	h.Bridges = sortDedup(h.Bridges, Bridge.Key)
	h.VXLANs = sortDedup(h.VXLANs, VXLAN.Key)
	h.VLANs = sortDedup(h.VLANs, VLAN.Key)
	h.GRETaps = sortDedup(h.GRETaps, GRETap.Key)
	h.BridgePorts = sortDedup(h.BridgePorts, BridgePort.Key)
	h.FDB = sortDedup(h.FDB, FDB.Key)
	h.Neighs = sortDedup(h.Neighs, Neigh.Key)
	h.Sysctls = sortDedup(h.Sysctls, func(s Sysctl) string { return s.Key })
	h.Nft = normalizeNft(h.Nft)
	for i := range h.Namespaces {
		h.Namespaces[i].Normalize()
	}
	h.Namespaces = sortDedup(h.Namespaces, Namespace.Key)
}

// Normalize sorts and de-duplicates the namespace's lists.
func (ns *Namespace) Normalize() {
	ns.Veths = sortDedup(ns.Veths, func(v Veth) string { return v.Inner })
	ns.Routes = sortDedup(ns.Routes, func(r Route) string { return routeKey(r) })
	ns.Rules = sortDedup(ns.Rules, func(r Rule) string { return padInt(r.Priority) + " " + r.String() })
	ns.Sysctls = sortDedup(ns.Sysctls, func(s Sysctl) string { return s.Key })
	ns.Nft = normalizeNft(ns.Nft)
}

// normalizeNft sorts tables by family and name and normalizes each.
func normalizeNft(ts []NftTable) []NftTable {
	ts = sortDedup(ts, func(t NftTable) string { return t.FamilyOrIP() + " " + t.NameOrDefault() })
	for i := range ts {
		ts[i].Normalize()
	}
	return ts
}

// Normalize sorts the table's sets, maps and chains by name (a chain's
// rules keep their order: it is their meaning).
func (t *NftTable) Normalize() {
	t.Sets = sortDedup(t.Sets, func(s NftSet) string { return s.Name })
	t.Maps = sortDedup(t.Maps, func(m NftMap) string { return m.Name })
	t.Chains = sortDedup(t.Chains, func(c NftChain) string { return c.Name })
}

// routeKey identifies a route: one per table and destination.
func routeKey(r Route) string {
	return padInt(r.TableOrMain()) + " " + r.Dst.Masked().String()
}

// padInt makes non-negative numbers (priorities, table ids: u32) sort
// numerically as strings.
func padInt(n int) string {
	s := strings.Repeat("0", 10) + strconv.Itoa(n)
	return s[len(s)-10:]
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
