package plan

import (
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
// Shape: a verdict map keyed by target address sends the frame to
// the owner's chain, which drops it when it leaves by a gateway port
// other than the owner's (one more verdict map, keyed by port). A
// floating IP's change is one element of the first map; a router's
// gateway port, one chain and one element.
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

// arpFilter returns the host's ARP filter table for the namespaces of
// its routers (nil when none has a gateway port on a bridge).
func arpFilter(nss []desired.Namespace) *desired.NftTable {
	gw := map[string]bool{}        // outer ends of gateway ports
	owner := map[string]string{}   // address -> outer end
	ambiguous := map[string]bool{} // claimed by two ports
	for _, ns := range nss {
		outer := map[string]string{} // inner gateway device -> outer end
		for _, v := range ns.Veths {
			if v.PeerNamespace == "" && v.Bridge != "" && v.Outer != "" && isGatewayDev(v.Inner) {
				outer[v.Inner] = v.Outer
				gw[v.Outer] = true
			}
		}
		for _, g := range ns.GARP {
			o, ok := outer[g.Dev]
			if !ok || !g.Addr.Is4() {
				continue
			}
			a := g.Addr.String()
			if prev, seen := owner[a]; seen && prev != o {
				ambiguous[a] = true
			}
			owner[a] = o
		}
	}
	if len(gw) == 0 {
		return nil
	}
	gwPorts := &desired.NftMap{Name: "gateway_ports", KeyType: desired.TypeIfname, ValueType: desired.TypeVerdict,
		Verdicts: make(map[string]string, len(gw))}
	for o := range gw {
		gwPorts.Verdicts[o] = "goto drop"
	}
	owners := &desired.NftMap{Name: "owner", KeyType: desired.TypeIPv4Addr, ValueType: desired.TypeVerdict,
		Verdicts: make(map[string]string, len(owner))}
	chainOf := map[string]bool{}
	for a, o := range owner {
		if ambiguous[a] {
			continue
		}
		owners.Verdicts[a] = "goto own-" + o
		chainOf[o] = true
	}
	chains := []desired.NftChain{
		{Name: "drop", Rules: []desired.NftRule{{Drop: true}}},
		{Name: "forward", Type: "filter", Hook: "forward", Priority: arpFilterPriority,
			Rules: []desired.NftRule{{L3Proto: "arp", Vmap: "owner", VmapKey: "arp daddr ip"}}},
	}
	for _, o := range slices.Sorted(maps.Keys(chainOf)) {
		chains = append(chains, desired.NftChain{Name: "own-" + o,
			Rules: []desired.NftRule{{NotOifName: o, Vmap: "gateway_ports", VmapKey: "oifname"}}})
	}
	slices.SortFunc(chains, func(a, b desired.NftChain) int { return strings.Compare(a.Name, b.Name) })
	return &desired.NftTable{Family: desired.FamilyBridge, Name: ARPFilterTable, Chains: chains,
		Maps: []desired.NftMap{*gwPorts, *owners}}
}

// sameARPFilter reports whether two filter tables hold the same ports,
// owners and chains (built by arpFilter: comparing the maps says it).
func sameARPFilter(a, b *desired.NftTable) bool {
	if a == nil || b == nil {
		return a == b
	}
	for i := range a.Maps {
		if !maps.Equal(a.Maps[i].Verdicts, b.Maps[i].Verdicts) {
			return false
		}
	}
	return true
}

// routerNamespaces lists every router unit's namespaces (fip- shares
// once per router: arpFilter only reads their gateway ports and GARPs).
func (p *Planner) routerNamespaces() []desired.Namespace {
	var out []desired.Namespace
	for _, u := range p.routers {
		out = append(out, u.router.Namespace)
		out = append(out, u.router.Extra...)
	}
	return out
}

// setARPFilter recomputes the ARP filter (when recompute) and puts it
// in the host's tables. An unchanged filter keeps its lists, so that
// the applier sees the very same table and skips it.
func (p *Planner) setARPFilter(recompute bool) {
	if recompute {
		if t := arpFilter(p.routerNamespaces()); !sameARPFilter(t, p.arp) {
			p.arp = t
		}
	}
	tables := make([]desired.NftTable, 0, len(p.host.Nft)+1)
	for _, t := range p.host.Nft {
		if t.Name != ARPFilterTable {
			tables = append(tables, t)
		}
	}
	if p.arp != nil {
		tables = append(tables, *p.arp)
	}
	if len(tables) == 0 {
		tables = nil
	}
	p.host.Nft = tables
}
