// Package secgroup plans security groups and port security for the
// instance ports of one host, as nftables tables in the host namespace
// (the design verified by shared/sg-lab, KERNEL.md §4.7). Pure: no
// kernel access.
//
// A bridged frame meets, in this order:
//   - table bridge neutrino-sg, chain prerouting (priority -200): the
//     input tap selects, through the verdict map src_ports, the port's
//     src-<tap> chain, which does anti-spoofing (source MAC and IP,
//     allowed address pairs, ARP sender, DHCP) and sets the mark's high
//     half to the port's index;
//   - table inet neutrino-sg, chain zone (priority raw): one conntrack
//     zone per bridge (network), so that overlapping addresses of two
//     networks never share a connection;
//   - table bridge neutrino-sg, chain forward (priority -200): the
//     output tap selects dst-<tap>, which ors the port's index into the
//     mark's low half (per-port chains: nft cannot or a map's value);
//   - table inet neutrino-sg, chains egress and ingress (forward, called
//     by br_netfilter): a zero half means an unfiltered port (router,
//     DHCP, tunnel) and is accepted; otherwise the half selects, through
//     the verdict maps egress_ports / ingress_ports, the port's eg-<tap>
//     or in-<tap> chain: conntrack state for stateful ports, the
//     built-in DHCP and ICMPv6 allowances, a jump to the chain of each
//     of its groups (sg-<id>-in / sg-<id>-eg, shared by every port using
//     the group, one rule per group rule), then drop.
//
// What changes with the cloud is small in the kernel: a rule added to a
// group is one rule in its chain (the group chains are unordered); a
// member joining a remote group is one set element (rg-<id>-v4/-v6); a
// port is one element in each of four maps and its own four chains.
// The Planner keeps the same small scale in Go: it replans only what a
// change touches and hands the unchanged chains over as the same slices.
package secgroup

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// Table is the name of both tables (bridge and inet family).
const Table = "neutrino-sg"

// Priorities: the bridge chains must run before br_netfilter's hooks
// (priority 0), the zone before conntrack (raw, -300).
const (
	bridgePriority = -200
	zonePriority   = -300
	egressPrio     = 0
	ingressPrio    = 10
)

// Mark halves: the source port's index in the high 16 bits, the
// destination port's in the low 16 bits.
const (
	srcMask = 0xffff0000
	dstMask = 0x0000ffff
)

// Port is a local instance port as the L2 plan plugs it: its tap and the
// bridge the tap joins.
type Port struct {
	ID     string
	Tap    string
	Bridge string
}

// Result is the host's security group share: host-namespace nftables
// tables, and whether any port is filtered (br_netfilter must then hand
// bridged IP traffic to the inet hooks: bridge-nf-call-iptables=1).
type Result struct {
	Tables   []desired.NftTable
	Filtered []string // ids of the filtered ports, sorted
	// Ports are the filtered ports' zones and addresses (for Shrunk), in
	// Filtered's order.
	Ports []PortState
	// Flush are the conntrack entries to delete after applying this
	// result, going from the previous result of the same Planner: what
	// Shrunk(previous, this) says (none after a first plan).
	Flush []Flush
}

// Filtered reports whether a port is filtered here: port security on
// and not a network: port (those are trusted, upstream).
func Filtered(p *model.Port) bool {
	return p.PortSecurityEnabled && !strings.HasPrefix(p.DeviceOwner, "network:")
}

// Plan computes the tables for the host's instance ports (ports) on its
// bridges. Ports without port security are left out: unfiltered,
// exactly like a router port. No filtered port: no tables. It is a
// fresh Planner's first plan (see Planner for planning change by
// change).
func Plan(s *hostmodel.Snapshot, ports []Port, bridges []string) Result {
	return NewPlanner(Options{}).Plan(s, ports, bridges, nil, true)
}

type localPort struct {
	Port
	p   *model.Port
	idx uint32 // 1..0xffff, the port's half of the mark
}

// allocate gives each id a number in 1..0xffff from a hash of the id,
// probing on in id order on a collision (conntrack zones of bridges).
func allocate(ids []string) map[string]uint32 {
	out := make(map[string]uint32, len(ids))
	used := map[uint32]bool{}
	for _, id := range ids {
		n := hashIndex(id)
		for used[n] {
			n = n%0xffff + 1
		}
		used[n] = true
		out[id] = n
	}
	return out
}

// hashIndex is where an id's number in 1..0xffff starts.
func hashIndex(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%0xffff + 1
}

func markKey(v uint32) string { return fmt.Sprintf("0x%08x", v) }

// Chain names of a port (by its tap: unique and short).
func srcChain(tap string) string { return "src-" + tap }
func dstChain(tap string) string { return "dst-" + tap }
func egChain(tap string) string  { return "eg-" + tap }
func inChain(tap string) string  { return "in-" + tap }

// Chain and set names of a group.
func groupChain(id, dir string) string { return "sg-" + id + "-" + dir }
func remoteSet(key, v string) string {
	if id, ok := strings.CutPrefix(key, agPrefix); ok {
		return "ag-" + id + "-" + v
	}
	return "rg-" + key + "-" + v
}

// agPrefix marks an address group among the remote groups the planner
// keeps sets of (group ids are UUIDs: no clash).
const agPrefix = "ag:"

func addrGroupKey(id string) string { return agPrefix + id }

// dispatch is a forward base chain: traffic whose half of the mark is
// zero is not this direction's business; the rest goes to its port's
// chain, and nothing returns from there (each port chain ends in drop).
func dispatch(name string, prio int, mask uint32, vmap string) desired.NftChain {
	return desired.NftChain{Name: name, Type: "filter", Hook: "forward", Priority: prio, Rules: []desired.NftRule{
		{MatchMark: true, MarkMask: mask, Mark: 0, Accept: true},
		{Vmap: vmap, VmapKey: "mark", VmapMask: mask},
		{Drop: true},
	}}
}

// EgressMap is the inet map whose elements (the high half of the mark
// to "jump eg-<tap>") tell which index each tap has in the kernel.
const EgressMap = "egress_ports"

// MarksByTap turns the kernel's EgressMap elements into mark indexes by
// tap, for Planner.Recover.
func MarksByTap(elems map[uint32]string) map[string]uint32 {
	out := map[string]uint32{}
	for mark, verdict := range elems {
		if tap, ok := strings.CutPrefix(verdict, "jump "+egChain("")); ok && tap != "" && mark&dstMask == 0 {
			out[tap] = mark >> 16
		}
	}
	return out
}
