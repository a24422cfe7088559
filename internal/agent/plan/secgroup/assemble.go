package secgroup

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// assembly is the last output: the next one is the same tables with the
// replanned chains patched in, unless chains came or went.
type assembly struct {
	res Result
	pos map[string]int // chain name -> its index in its table's Chains
	// recent are the last chains patched, where patchChains looks
	// first: a rule of a group every port shares patches that group's
	// two chains on every change, and a lookup in pos (hundreds of
	// names) cost as much as the patch. An entry is used only when the
	// chain at its index still has its name.
	recent [4]chainPos
	next   int // the entry of recent to replace
}

// chainPos is a chain's index in its table's Chains.
type chainPos struct {
	name string
	i    int
}

// Indexes of the two tables in Result.Tables.
const (
	bridgeT = 0
	inetT   = 1
)

// assemble builds the result from the memos.
func (p *Planner) assemble(d *dirty) Result {
	if len(p.local) == 0 {
		p.out = assembly{}
		return Result{}
	}
	prev := p.out.res
	res := Result{Tables: []desired.NftTable{{Family: desired.FamilyBridge, Name: Table}, {Family: desired.FamilyINet, Name: Table}}}
	if d.structural || prev.Tables == nil {
		p.buildChains(res.Tables)
		p.buildMaps(res.Tables)
	} else {
		for i := range res.Tables {
			res.Tables[i].Chains = prev.Tables[i].Chains
			res.Tables[i].Maps = prev.Tables[i].Maps
		}
		if !p.patchChains(res.Tables, d.chains) {
			p.buildChains(res.Tables)
		}
	}
	res.Tables[inetT].Sets = prev.tableSets()
	if d.setsOut || prev.Tables == nil {
		res.Tables[inetT].Sets = p.buildSets()
	}
	res.Filtered, res.Ports = prev.Filtered, prev.Ports
	if d.portsOut || prev.Tables == nil {
		res.Filtered, res.Ports = p.buildPorts()
	}
	res.Flush = p.flush(d)
	p.out.res = res
	return res
}

func (r Result) tableSets() []desired.NftSet {
	if len(r.Tables) <= inetT {
		return nil
	}
	return r.Tables[inetT].Sets
}

// buildChains lays out every chain, sorted by name (as Normalize would).
func (p *Planner) buildChains(ts []desired.NftTable) {
	var br, in []desired.NftChain
	for _, m := range p.local {
		tap := m.lp.Tap
		br = append(br, desired.NftChain{Name: srcChain(tap), Rules: m.src}, desired.NftChain{Name: dstChain(tap), Rules: m.dst})
		in = append(in, desired.NftChain{Name: egChain(tap), Rules: m.eg}, desired.NftChain{Name: inChain(tap), Rules: m.in})
	}
	br = append(br,
		desired.NftChain{Name: "prerouting", Type: "filter", Hook: "prerouting", Priority: bridgePriority, Rules: []desired.NftRule{
			// The mark is ours in the host namespace: start from zero.
			{SetMarkOp: "set", SetMark: 0},
			{Vmap: "src_ports", VmapKey: "iifname"},
		}},
		desired.NftChain{Name: "forward", Type: "filter", Hook: "forward", Priority: bridgePriority, Rules: []desired.NftRule{
			{Vmap: "dst_ports", VmapKey: "oifname"},
		}})
	in = append(in,
		desired.NftChain{Name: "zone", Type: "filter", Hook: "prerouting", Priority: zonePriority, Rules: zoneRules(p.bridges, p.zones)},
		dispatch("egress", egressPrio, srcMask, "egress_ports"),
		dispatch("ingress", ingressPrio, dstMask, "ingress_ports"))
	in = append(in, sharedChains()...)
	for g, m := range p.groups {
		in = append(in, desired.NftChain{Name: groupChain(g, "in"), Rules: m.in, Unordered: true},
			desired.NftChain{Name: groupChain(g, "eg"), Rules: m.eg, Unordered: true})
	}
	byName := func(a, b desired.NftChain) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(br, byName)
	slices.SortFunc(in, byName)
	ts[bridgeT].Chains, ts[inetT].Chains = br, in
	p.out.pos = make(map[string]int, len(br)+len(in))
	for _, cs := range [][]desired.NftChain{br, in} {
		for i, c := range cs {
			p.out.pos[c.Name] = i
		}
	}
}

// patchChains puts the replanned chains' rules in place, on copies of
// the Chains slices (the previous ones went to the applier); false if a
// chain is not there.
func (p *Planner) patchChains(ts []desired.NftTable, chains map[string][]desired.NftRule) bool {
	cloned := [2]bool{}
	for name, rules := range chains {
		t := inetT
		if strings.HasPrefix(name, "src-") || strings.HasPrefix(name, "dst-") {
			t = bridgeT
		}
		i, ok := p.recentPos(ts[t].Chains, name)
		if !ok {
			if i, ok = p.out.pos[name]; !ok {
				return false
			}
			p.out.recent[p.out.next] = chainPos{name, i}
			p.out.next = (p.out.next + 1) % len(p.out.recent)
		}
		if !cloned[t] {
			ts[t].Chains = slices.Clone(ts[t].Chains)
			cloned[t] = true
		}
		if ts[t].Chains[i].Name != name {
			return false
		}
		ts[t].Chains[i].Rules = rules
	}
	return true
}

// recentPos is the index of chain name in chains if one of the recent
// entries has it, checked against the chain there.
func (p *Planner) recentPos(chains []desired.NftChain, name string) (int, bool) {
	for _, c := range p.out.recent {
		if c.name == name && c.i < len(chains) && chains[c.i].Name == name {
			return c.i, true
		}
	}
	return 0, false
}

// buildMaps builds the four dispatch maps (when ports come or go).
func (p *Planner) buildMaps(ts []desired.NftTable) {
	n := len(p.local)
	src := desired.NftMap{Name: "src_ports", KeyType: desired.TypeIfname, ValueType: desired.TypeVerdict, Verdicts: make(map[string]string, n)}
	dst := desired.NftMap{Name: "dst_ports", KeyType: desired.TypeIfname, ValueType: desired.TypeVerdict, Verdicts: make(map[string]string, n)}
	eg := desired.NftMap{Name: EgressMap, KeyType: desired.TypeMark, ValueType: desired.TypeVerdict, Verdicts: make(map[string]string, n)}
	in := desired.NftMap{Name: "ingress_ports", KeyType: desired.TypeMark, ValueType: desired.TypeVerdict, Verdicts: make(map[string]string, n)}
	for _, m := range p.local {
		tap, idx := m.lp.Tap, m.lp.idx
		src.Verdicts[tap] = "jump " + srcChain(tap)
		dst.Verdicts[tap] = "jump " + dstChain(tap)
		eg.Verdicts[markKey(idx<<16)] = "jump " + egChain(tap)
		in.Verdicts[markKey(idx)] = "jump " + inChain(tap)
	}
	ts[bridgeT].Maps = []desired.NftMap{dst, src}
	ts[inetT].Maps = []desired.NftMap{eg, in}
}

// buildSets lists the member sets, sorted by name.
func (p *Planner) buildSets() []desired.NftSet {
	out := make([]desired.NftSet, 0, 2*len(p.sets))
	for r, m := range p.sets {
		out = append(out,
			desired.NftSet{Name: remoteSet(r, "v4"), Type: desired.TypeIPv4Addr, Elements: m.v4},
			desired.NftSet{Name: remoteSet(r, "v6"), Type: desired.TypeIPv6Addr, Elements: m.v6})
	}
	slices.SortFunc(out, func(a, b desired.NftSet) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// buildPorts lists the filtered ports and their states, by id.
func (p *Planner) buildPorts() ([]string, []PortState) {
	ids := make([]string, 0, len(p.local))
	for id := range p.local {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	states := make([]PortState, len(ids))
	for i, id := range ids {
		states[i] = p.local[id].state
	}
	return ids, states
}

// flush turns what was lost into conntrack deletions, by zone: the
// addresses of the ports that lost a rule, and the addresses that left
// a member set in every zone of a filtered port (the entries between
// any port and a former member: a flow that a rule still allows comes
// back as a new one).
func (p *Planner) flush(d *dirty) []Flush {
	byZone := map[uint16][]netip.Addr{}
	for id := range d.lost {
		if m := p.local[id]; m != nil {
			byZone[m.state.Zone] = append(byZone[m.state.Zone], m.state.Addrs...)
		}
	}
	if len(d.gone) > 0 {
		for z := range p.zoneUse {
			byZone[uint16(z)] = append(byZone[uint16(z)], d.gone...)
		}
	}
	return flushes(byZone)
}

func zoneRules(bridges []string, zones map[string]uint32) []desired.NftRule {
	var out []desired.NftRule
	for _, b := range bridges {
		out = append(out, desired.NftRule{IifName: b, SetCtZone: uint16(zones[b])})
	}
	return out
}
