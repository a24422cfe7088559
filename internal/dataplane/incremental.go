package dataplane

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// Incremental applies. On a network node with hundreds of routers a
// full apply reads back every namespace (links, addresses, routes,
// rules, neighbours, nftables) and every bridge's neighbours, which
// takes seconds, while a floating IP change concerns one namespace. A
// Memory keeps, per agent namespace, the desired state of its last
// clean apply, and the host namespace's own parts likewise: an apply
// given the Memory touches only what differs from it (structural
// equality of the desired state). What fails is forgotten, so that it is
// applied again (on its retry); drift in the kernel (something deleted
// behind the agent's back) is repaired by verifying namespaces anyway
// (Options.Verify), which the agent does a few at a time.

// Memory is what an agent's applies last put in place. It is not safe
// for concurrent use (one reconcile loop owns it).
type Memory struct {
	ns   map[string]*nsMemo
	host *hostMemo
}

// nsInput is everything a namespace's apply depends on: its desired
// state, the outer ends of other namespaces' pairs that live in it (not
// its to prune) and the neighbours desired in it.
type nsInput struct {
	ns     desired.Namespace
	peers  map[string]bool
	neighs []desired.Neigh
}

type nsMemo struct {
	in      nsInput
	plugged []string
	at      time.Time // last applied or verified
}

// hostInput is what the host namespace's own parts depend on: the
// host's lists but the namespaces, of which only the names (pruning)
// and the outer ends in bridges (their FDB entries are the host's)
// count. Copies: the planner may change its host lists in place (not
// the tables' own lists).
type hostInput struct {
	prune   bool
	sysctls []desired.Sysctl
	bridges []desired.Bridge
	vxlans  []desired.VXLAN
	ports   []desired.BridgePort
	fdb     []desired.FDB
	neighs  []desired.Neigh // the host namespace's
	// nft are the host's tables: like the applier's (see
	// desired.NftTable), compared by the identity of their lists, which
	// the planner never changes once handed over.
	nft    []desired.NftTable
	names  []string
	outers []bridgedEnd
}

type hostMemo struct {
	in      hostInput
	plugged []string
}

// NewMemory returns an empty memory: the first apply given it is full.
func NewMemory() *Memory { return &Memory{ns: map[string]*nsMemo{}} }

// Forget makes the next apply reconcile namespace name.
func (m *Memory) Forget(name string) { delete(m.ns, name) }

// ForgetHost makes the next apply reconcile the host namespace's own
// parts (an interface appeared: a tap to plug).
func (m *Memory) ForgetHost() { m.host = nil }

// ForgetAll makes the next apply a full one.
func (m *Memory) ForgetAll() {
	clear(m.ns)
	m.host = nil
}

// Len is the number of namespaces remembered.
func (m *Memory) Len() int { return len(m.ns) }

// Oldest returns up to n remembered namespaces, those applied or
// verified longest ago first.
func (m *Memory) Oldest(n int) []string {
	names := slices.Collect(maps.Keys(m.ns))
	slices.SortFunc(names, func(a, b string) int {
		if c := m.ns[a].at.Compare(m.ns[b].at); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return names[:min(n, len(names))]
}

// unchanged reports whether a namespace's input is the one of its last
// clean apply. The planner gives a namespace it did not replan with the
// very same lists, which DeepEqual recognises without walking them.
func (m *Memory) unchanged(in nsInput) bool {
	old := m.ns[in.ns.Name]
	return old != nil && maps.Equal(old.in.peers, in.peers) && slices.Equal(old.in.neighs, in.neighs) &&
		(sameLists(old.in.ns, in.ns) || reflect.DeepEqual(old.in.ns, in.ns))
}

// sameLists reports whether two namespaces have the very same lists
// (backing array and length), which makes them equal. DeepEqual finds
// that too, but not cheaply: it records every list it visits in a map
// first, and a network node's apply asks it for every namespace (1,500
// at 1,000 routers), a seventh of the agent's CPU while routers were
// being added. TestSameListsCoversNamespace keeps the fields in step.
func sameLists(a, b desired.Namespace) bool {
	return a.Name == b.Name && sameSlice(a.Veths, b.Veths) && sameSlice(a.Routes, b.Routes) &&
		sameSlice(a.Rules, b.Rules) && sameSlice(a.Sysctls, b.Sysctls) && sameSlice(a.Nft, b.Nft) &&
		sameSlice(a.GARP, b.GARP)
}

func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.SliceData(a) == unsafe.SliceData(b))
}

// record notes a namespace's clean apply (or verification).
func (m *Memory) record(in nsInput, plugged []string, now time.Time) {
	in.peers = maps.Clone(in.peers)
	in.neighs = slices.Clone(in.neighs)
	m.ns[in.ns.Name] = &nsMemo{in: in, plugged: plugged, at: now}
}

// keepOnly forgets the namespaces that are no longer desired (a
// namespace deleted and desired again later is applied anew).
func (m *Memory) keepOnly(h *desired.Host) {
	want := make(map[string]bool, len(h.Namespaces))
	for _, ns := range h.Namespaces {
		want[ns.Name] = true
	}
	maps.DeleteFunc(m.ns, func(name string, _ *nsMemo) bool { return !want[name] })
}

// hostUnchanged reports whether the host namespace's own parts of h
// are those of the last clean apply. It compares h with the memory in
// place: copying the host's lists (tens of thousands of FDB entries and
// neighbours on a network node) for every reconcile cost a floating IP
// change milliseconds before its namespace was applied; the copy
// (hostInputOf) is made only when the host's parts are applied.
func (m *Memory) hostUnchanged(h *desired.Host, prune bool) bool {
	old := m.host
	if old == nil || old.in.prune != prune || !reflect.DeepEqual(old.in.nft, h.Nft) ||
		!slices.Equal(old.in.sysctls, h.Sysctls) || !slices.Equal(old.in.bridges, h.Bridges) ||
		!slices.Equal(old.in.vxlans, h.VXLANs) || !slices.Equal(old.in.ports, h.BridgePorts) ||
		!slices.Equal(old.in.fdb, h.FDB) || len(old.in.names) != len(h.Namespaces) {
		return false
	}
	i := 0
	for _, n := range h.Neighs {
		if n.Namespace != "" {
			continue
		}
		if i == len(old.in.neighs) || old.in.neighs[i] != n {
			return false
		}
		i++
	}
	if i != len(old.in.neighs) {
		return false
	}
	j := 0
	for k, ns := range h.Namespaces {
		if old.in.names[k] != ns.Name {
			return false
		}
		for _, v := range ns.Veths {
			if v.PeerNamespace == "" && v.Bridge != "" {
				if j == len(old.in.outers) || old.in.outers[j] != (bridgedEnd{v.Outer, v.Bridge}) {
					return false
				}
				j++
			}
		}
	}
	return j == len(old.in.outers)
}

// bridgedEnd is the outer end of a namespace's pair in a host bridge.
type bridgedEnd struct{ dev, bridge string }

// hostInputOf copies what the host namespace's parts depend on; names
// and outers in the order of h's namespaces (the planner keeps them
// sorted by name; another order only makes the host's parts applied
// again).
func hostInputOf(h *desired.Host, prune bool) *hostInput {
	in := &hostInput{prune: prune, sysctls: slices.Clone(h.Sysctls), bridges: slices.Clone(h.Bridges),
		vxlans: slices.Clone(h.VXLANs), ports: slices.Clone(h.BridgePorts), fdb: slices.Clone(h.FDB)}
	for _, n := range h.Neighs {
		if n.Namespace == "" {
			in.neighs = append(in.neighs, n)
		}
	}
	in.nft = slices.Clone(h.Nft)
	in.names = make([]string, 0, len(h.Namespaces))
	for _, ns := range h.Namespaces {
		in.names = append(in.names, ns.Name)
		for _, v := range ns.Veths {
			if v.PeerNamespace == "" && v.Bridge != "" {
				in.outers = append(in.outers, bridgedEnd{v.Outer, v.Bridge})
			}
		}
	}
	return in
}

// neighsByNamespace groups the desired neighbours of agent namespaces
// by namespace (one pass, rather than one per namespace). The planner
// sorts them by namespace first (desired.Neigh.Key), so each group is
// a part of h.Neighs, not a copy (the Memory copies what it keeps);
// another order is grouped by copying.
func neighsByNamespace(h *desired.Host) map[string][]desired.Neigh {
	out := make(map[string][]desired.Neigh, len(h.Namespaces))
	start := 0
	for i, n := range h.Neighs {
		if i > start && n.Namespace != h.Neighs[start].Namespace {
			start = i
		}
		if n.Namespace == "" {
			continue
		}
		if i == start && out[n.Namespace] != nil {
			return neighsByNamespaceCopy(h) // not grouped
		}
		out[n.Namespace] = h.Neighs[start : i+1 : i+1]
	}
	return out
}

func neighsByNamespaceCopy(h *desired.Host) map[string][]desired.Neigh {
	out := map[string][]desired.Neigh{}
	for _, n := range h.Neighs {
		if n.Namespace != "" {
			out[n.Namespace] = append(out[n.Namespace], n)
		}
	}
	return out
}
