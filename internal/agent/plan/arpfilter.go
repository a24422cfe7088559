package plan

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// ARPFilterTable is the host's bridge-family table that keeps ARP for
// the host's own external addresses out of the gateway ports that do
// not own them.
//
// Why: a router's gateway port (qg-, DVR's fg-) is a veth whose outer
// end is a port of the external bridge, so every broadcast ARP on the
// external network (the upstream asking for a floating IP, each
// floating IP's gratuitous ARPs) is copied into every router's
// namespace: at 1,000 routers, about 5 ms of CPU per frame, and the
// 1,000 copies fill the CPU's backlog queue (net.core.netdev_max_backlog,
// 1,000 by default), so frames that arrive meanwhile (the upstream's
// ARP reply, a SYN) are dropped and wait for a retransmission, 1 s
// later (docs/performance.md, `neutrino bench netnode`).
//
// What: an ARP frame (any operation) whose target address is one the
// host's plan puts on a gateway port (its gateway IP, its floating IPs,
// the floating IPs a fip- namespace answers for) leaves the bridge
// through that port and through every port that is no gateway port
// (the uplink, a tunnel, an instance), but not through another
// gateway port. ARP for any other address (the upstream's own
// announcements, where sender = target, an address of another node)
// is not touched, and neither is anything going to the uplink, so
// other nodes, the upstream and an HA peer see all of it. A router
// reaching another router's floating IP over the external network
// (hairpin) still gets its request to the owner and the reply back.
// An address more than one port claims (two external networks with
// overlapping ranges) is left out: its ARP reaches every port.
//
// Shape: one rule and three sets of plain keys (no verdict elements:
// each added jump or goto element made the kernel revalidate the table,
// 48-107 ms at 1,000 gateway ports):
//
//	meta protocol arp oifname @gateway_ports arp daddr ip @ours
//	    oifname . arp daddr ip != @owned drop
//
// A floating IP's change is one element of ours and one of owned; a
// router's gateway port, one element of gateway_ports.
const ARPFilterTable = "neutrino-arp"

// arpFilterPriority is the table's forward chain priority (below 0,
// as the DVR table's: with br_netfilter loaded, bridge hooks above 0
// may not see what it hands back).
const arpFilterPriority = -90

// gatewayPrefixes name the gateway devices whose outer ends are
// shielded: legacy and SNAT gateways (qg-) and DVR's fip namespace
// gateway (fg-).
var gatewayPrefixes = []string{"qg-", "fg-"}

func isGatewayDev(name string) bool {
	return slices.ContainsFunc(gatewayPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
}

// ARPFilter returns the host's ARP filter table for the namespaces of
// its routers (nil when none has a gateway port on a bridge).
func ARPFilter(nss []desired.Namespace) *desired.NftTable {
	var a arpState
	a.update("", arpContribution(nss))
	a.flush()
	return a.table
}

// arpContrib is what one router adds to the filter: its gateway ports'
// outer ends and the addresses it announces on them.
type arpContrib struct {
	gw     []string
	claims []arpClaim
}

type arpClaim struct{ addr, outer string }

// arpContribution reads a router's namespaces (fip- shares included).
func arpContribution(nss []desired.Namespace) arpContrib {
	var c arpContrib
	for _, ns := range nss {
		outer := map[string]string{} // inner gateway device -> outer end
		for _, v := range ns.Veths {
			if v.PeerNamespace == "" && v.Bridge != "" && v.Outer != "" && isGatewayDev(v.Inner) {
				outer[v.Inner] = v.Outer
				c.gw = append(c.gw, v.Outer)
			}
		}
		for _, g := range ns.GARP {
			if o, ok := outer[g.Dev]; ok && g.Addr.Is4() {
				c.claims = append(c.claims, arpClaim{g.Addr.String(), o})
			}
		}
	}
	slices.Sort(c.gw)
	c.gw = slices.Compact(c.gw)
	slices.SortFunc(c.claims, func(x, y arpClaim) int {
		return cmp.Or(strings.Compare(x.addr, y.addr), strings.Compare(x.outer, y.outer))
	})
	c.claims = slices.Compact(c.claims)
	return c
}

// arpState keeps the filter up to date router by router, so that a
// floating IP's change costs new key lists (the applier wants new
// lists for what changed), not a walk of every router's namespaces
// (9 ms at 1,000 routers).
type arpState struct {
	contrib map[string]arpContrib
	gw      map[string]int            // outer end -> routers with it
	claims  map[string]map[string]int // address -> outer end -> claims
	owner   map[string]string         // address -> its one claimant
	table   *desired.NftTable
	// What updates changed since the last flush.
	gwChanged bool
	touched   map[string]bool
}

// update replaces router id's contribution; flush then rebuilds what
// changed of the table.
func (a *arpState) update(id string, c arpContrib) {
	if a.contrib == nil {
		a.contrib, a.gw, a.claims = map[string]arpContrib{}, map[string]int{}, map[string]map[string]int{}
		a.touched = map[string]bool{}
	}
	old := a.contrib[id]
	if slices.Equal(old.gw, c.gw) && slices.Equal(old.claims, c.claims) {
		return
	}
	if len(c.gw) == 0 && len(c.claims) == 0 {
		delete(a.contrib, id)
	} else {
		a.contrib[id] = c
	}
	// The new ports count before the old ones go: a port the router
	// keeps never drops to 0.
	for _, o := range c.gw {
		if a.gw[o]++; a.gw[o] == 1 {
			a.gwChanged = true
		}
	}
	for _, o := range old.gw {
		if a.gw[o]--; a.gw[o] == 0 {
			delete(a.gw, o)
			a.gwChanged = true
		}
	}
	touched := a.touched
	for _, cl := range old.claims {
		touched[cl.addr] = true
		m := a.claims[cl.addr]
		if m[cl.outer]--; m[cl.outer] == 0 {
			delete(m, cl.outer)
		}
		if len(m) == 0 {
			delete(a.claims, cl.addr)
		}
	}
	for _, cl := range c.claims {
		touched[cl.addr] = true
		if a.claims[cl.addr] == nil {
			a.claims[cl.addr] = map[string]int{}
		}
		a.claims[cl.addr][cl.outer]++
	}
}

// flush makes the table anew from the state after updates, reusing
// the lists that did not change; it reports whether the table changed.
func (a *arpState) flush() bool {
	gwChanged, touched := a.gwChanged, a.touched
	a.gwChanged, a.touched = false, map[string]bool{}
	if a.owner == nil {
		a.owner = map[string]string{}
	}
	ownersChanged := false
	for addr := range touched {
		w := ""
		if m := a.claims[addr]; len(m) == 1 {
			for o := range m {
				w = o
			}
		}
		if w == a.owner[addr] {
			continue
		}
		ownersChanged = true
		if w == "" {
			delete(a.owner, addr)
		} else {
			a.owner[addr] = w
		}
	}
	if len(a.gw) == 0 {
		changed := a.table != nil
		a.table = nil
		return changed
	}
	if a.table != nil && !gwChanged && !ownersChanged {
		return false
	}
	var gwSet, ours, owned desired.NftSet
	if a.table != nil {
		gwSet, ours, owned = a.table.Sets[0], a.table.Sets[1], a.table.Sets[2]
	}
	if a.table == nil || gwChanged {
		gwSet = desired.NftSet{Name: "gateway_ports", Type: desired.TypeIfname, Keys: slices.Sorted(maps.Keys(a.gw))}
	}
	if a.table == nil || ownersChanged {
		ours = desired.NftSet{Name: "ours", Type: desired.TypeIPv4Addr, Keys: make([]string, 0, len(a.owner))}
		owned = desired.NftSet{Name: "owned", Type: desired.TypeIfnameIPv4, Keys: make([]string, 0, len(a.owner))}
		for addr, o := range a.owner {
			ours.Keys = append(ours.Keys, addr)
			owned.Keys = append(owned.Keys, o+" . "+addr)
		}
	}
	a.table = &desired.NftTable{Family: desired.FamilyBridge, Name: ARPFilterTable, Chains: arpChains,
		Sets: []desired.NftSet{gwSet, ours, owned}}
	return true
}

// arpChains is the table's one chain (shared: never changed).
var arpChains = []desired.NftChain{{Name: "forward", Type: "filter", Hook: "forward", Priority: arpFilterPriority,
	Rules: []desired.NftRule{{L3Proto: "arp", OifNameSet: "gateway_ports", ARPTargetSet: "ours",
		NotOifARPTargetSet: "owned", Drop: true}}}}

// setARPFilter updates the filter for the routers replanned (all of
// them on a first plan) and puts it in the host's tables. An unchanged
// filter keeps its lists, so that the applier sees the very same table
// and skips it.
func (p *Planner) setARPFilter(first bool, dirty map[string]bool) {
	ids := dirty
	if first {
		ids = make(map[string]bool, len(p.routers))
		for id := range p.routers {
			ids[id] = true
		}
	}
	for id := range ids {
		var c arpContrib
		if u := p.routers[id]; u != nil {
			c = arpContribution(append([]desired.Namespace{u.router.Namespace}, u.router.Extra...))
		}
		p.arp.update(id, c)
	}
	p.arp.flush()
	tables := make([]desired.NftTable, 0, len(p.host.Nft)+1)
	for _, t := range p.host.Nft {
		if t.Name != ARPFilterTable {
			tables = append(tables, t)
		}
	}
	if p.arp.table != nil {
		tables = append(tables, *p.arp.table)
	}
	if len(tables) == 0 {
		tables = nil
	}
	p.host.Nft = tables
}
