package secgroup

import (
	"iter"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// Options are the host's security group settings.
type Options struct {
	// AllowARPSpoofing is [securitygroup] prevent_arp_spoofing = False:
	// ARP from a filtered port is not checked (as upstream's linuxbridge
	// agent); everything else still is.
	AllowARPSpoofing bool
}

// Planner plans the tables change by change. It keeps, per filtered
// port, per group and per remote group, what it rendered, and replans
// only what a change touches: a rule replans its group's two chains, a
// port replans its own chains and the member sets of its groups. The
// chains it did not replan go out as the very same slices, which the
// applier (internal/dataplane/nft) then skips without looking at them.
// So one rule or one member costs the same on a host with 1 or 1,000
// filtered ports and 5,000 rules.
//
// It also keeps each port's mark index for as long as the port stays
// filtered: a new port never moves an existing one (Recover carries the
// indexes over an agent restart).
type Planner struct {
	opt     Options
	planned bool
	ports   []Port          // as last given
	byID    map[string]Port // ports by id
	bridges []string
	zones   map[string]uint32
	idx     map[string]uint32 // mark index of each filtered port
	taken   map[uint32]string // and the other way round
	seeds   map[string]uint32 // mark indexes found in the kernel, by tap
	// rules and members index the whole view: rules by group and id,
	// ports by group and id.
	rules   map[string]map[string]*model.SecurityGroupRule
	members map[string]map[string]*model.Port
	addrs   map[string]*model.AddressGroup // address groups by id
	local   map[string]*portMemo           // filtered ports of the host
	users   map[string]map[string]bool     // group -> filtered ports in it
	groups  map[string]*groupMemo          // groups with users
	refs    map[string]int                 // remote group -> groups referring to it
	sets    map[string]*setMemo            // referred remote groups
	zoneUse map[uint32]int                 // zone -> filtered ports in it
	out     assembly
}

type portMemo struct {
	lp               localPort
	stateful         bool
	groups           []string
	zone             uint32
	src, dst, eg, in []desired.NftRule
	state            PortState
}

type groupMemo struct {
	in, eg []desired.NftRule
	remote []string
}

type setMemo struct {
	v4, v6 []netip.Prefix
	by     map[string]member // the members' prefixes, by port id
}

// member is what one port puts in a member set.
type member struct {
	p      *model.Port
	v4, v6 []netip.Prefix
}

// NewPlanner returns a planner that has planned nothing yet.
func NewPlanner(opt Options) *Planner {
	return &Planner{opt: opt, idx: map[string]uint32{}, taken: map[uint32]string{}, local: map[string]*portMemo{},
		users: map[string]map[string]bool{}, groups: map[string]*groupMemo{}, refs: map[string]int{}, sets: map[string]*setMemo{},
		zoneUse: map[uint32]int{}}
}

// Recover hands the planner the mark indexes the kernel's tables hold
// (by tap, from the egress_ports map) before its first plan: a port
// that is still there keeps its index over an agent restart.
func (p *Planner) Recover(byTap map[string]uint32) { p.seeds = byTap }

// dirty is what one Plan must replan, and what it changed.
type dirty struct {
	all      bool            // everything (first plan, unknown changes)
	allPorts bool            // every port (a group's existence or kind, the ports, the bridges)
	ports    map[string]bool // ports of the view that changed
	groups   map[string]bool // groups whose rules, existence or users changed
	// deltas are, per group, the rules added and removed that refer to
	// no remote group (ruledelta.go): patched into its chains.
	deltas  map[string][]ruleDelta
	members map[string]bool // groups whose members changed
	// What changed in the output.
	structural bool                         // a chain came or went
	chains     map[string][]desired.NftRule // chains replanned: their new rules
	portsOut   bool                         // Filtered and Ports
	setsOut    bool
	lost       map[string]bool // ports whose filtering lost a rule or a prefix
	gone       []netip.Addr    // single addresses that left a member set
}

// Plan returns the tables for snapshot s, given the changes since the
// previous Plan's snapshot; all (or a first call) replans everything.
func (p *Planner) Plan(s *hostmodel.Snapshot, ports []Port, bridges []string, changes []hostmodel.Change, all bool) Result {
	d := &dirty{all: all || !p.planned, ports: map[string]bool{}, groups: map[string]bool{}, members: map[string]bool{},
		chains: map[string][]desired.NftRule{}, lost: map[string]bool{}}
	p.planned = true
	if d.all {
		p.reindex(s)
		d.allPorts, d.setsOut = true, true
	} else {
		p.absorb(changes, d)
	}
	// The host's bridges come sorted: sorted and unique, they are
	// compared as they are (a copy, sorted, on every plan showed).
	if !strictlySorted(bridges) {
		bridges = slices.Clone(bridges)
		slices.Sort(bridges)
		bridges = slices.Compact(bridges)
	}
	if !slices.Equal(bridges, p.bridges) || p.zones == nil {
		bridges = slices.Clone(bridges) // the caller's may change
		p.bridges, p.zones = bridges, allocate(bridges)
		d.allPorts = true
		d.chains["zone"] = zoneRules(bridges, p.zones)
	}
	if d.allPorts || !slices.Equal(ports, p.ports) {
		p.ports = slices.Clone(ports)
		p.byID = make(map[string]Port, len(ports))
		for _, lp := range ports {
			p.byID[lp.ID] = lp
		}
		d.allPorts = true
	}
	p.planPorts(s, d)
	p.planGroups(d)
	p.planSets(d)
	return p.assemble(d)
}

// strictlySorted reports whether ss is sorted without duplicates.
func strictlySorted(ss []string) bool {
	for i := 1; i < len(ss); i++ {
		if ss[i-1] >= ss[i] {
			return false
		}
	}
	return true
}

// reindex builds the rule and member indexes from the whole view.
func (p *Planner) reindex(s *hostmodel.Snapshot) {
	p.rules = map[string]map[string]*model.SecurityGroupRule{}
	for _, r := range s.SGRules {
		p.addRule(r)
	}
	p.members = map[string]map[string]*model.Port{}
	for _, pt := range s.Ports {
		p.addMember(pt)
	}
	p.addrs = maps.Clone(s.AddressGroups)
	if p.addrs == nil {
		p.addrs = map[string]*model.AddressGroup{}
	}
}

func (p *Planner) addRule(r *model.SecurityGroupRule) {
	m := p.rules[r.SecurityGroupID]
	if m == nil {
		m = map[string]*model.SecurityGroupRule{}
		p.rules[r.SecurityGroupID] = m
	}
	m[r.ID] = r
}

func (p *Planner) addMember(pt *model.Port) {
	for _, g := range pt.SecurityGroups {
		m := p.members[g]
		if m == nil {
			m = map[string]*model.Port{}
			p.members[g] = m
		}
		m[pt.ID] = pt
	}
}

// absorb updates the indexes with the changes and marks what they touch.
func (p *Planner) absorb(changes []hostmodel.Change, d *dirty) {
	for _, c := range changes {
		if c.StatusOnly {
			continue
		}
		switch c.Key.Kind {
		case model.KindSGRule:
			if r, ok := c.Old.(*model.SecurityGroupRule); ok && r != nil {
				delete(p.rules[r.SecurityGroupID], r.ID)
				d.ruleChanged(r, false)
			}
			if r, ok := c.New.(*model.SecurityGroupRule); ok && r != nil {
				p.addRule(r)
				d.ruleChanged(r, true)
			}
		case model.KindPort:
			d.ports[c.Key.ID] = true
			if pt, ok := c.Old.(*model.Port); ok && pt != nil {
				for _, g := range pt.SecurityGroups {
					delete(p.members[g], pt.ID)
					d.members[g] = true
				}
			}
			if pt, ok := c.New.(*model.Port); ok && pt != nil {
				p.addMember(pt)
				for _, g := range pt.SecurityGroups {
					d.members[g] = true
				}
			}
		case model.KindAddressGroup:
			delete(p.addrs, c.Key.ID)
			if ag, ok := c.New.(*model.AddressGroup); ok && ag != nil {
				p.addrs[c.Key.ID] = ag
			}
			d.members[addrGroupKey(c.Key.ID)] = true
		case model.KindSG:
			// Whether a group exists and is stateful is in its ports'
			// chains (rare: replan them all).
			d.allPorts = true
			d.groups[c.Key.ID] = true
		}
	}
}

// planPorts replans the filtered ports that changed, adds new ones and
// drops those no longer filtered here.
func (p *Planner) planPorts(s *hostmodel.Snapshot, d *dirty) {
	ids := d.ports
	if d.allPorts {
		ids = make(map[string]bool, len(p.byID)+len(p.local))
		for id := range p.byID {
			ids[id] = true
		}
		for id := range p.local {
			ids[id] = true
		}
	}
	for id := range ids {
		lp, here := p.byID[id]
		mp := s.Ports[id]
		old := p.local[id]
		if !here || mp == nil || !Filtered(mp) {
			if old != nil {
				p.dropPort(old, d)
			}
			continue
		}
		groups, st, zone := portGroups(s, mp), stateful(s, mp), p.zones[lp.Bridge]
		if old != nil && old.lp.Port == lp && old.lp.p == mp && old.stateful == st && old.zone == zone && slices.Equal(old.groups, groups) {
			continue
		}
		p.setPort(old, p.renderPort(lp, mp, st, groups, zone), d)
	}
}

// renderPort renders a filtered port's chains.
func (p *Planner) renderPort(lp Port, mp *model.Port, st bool, groups []string, zone uint32) *portMemo {
	m := &portMemo{lp: localPort{Port: lp, p: mp, idx: p.index(lp)}, stateful: st, groups: groups, zone: zone}
	m.src = antiSpoof(m.lp, p.opt.AllowARPSpoofing)
	m.dst = []desired.NftRule{{SetMarkOp: "or", SetMark: m.lp.idx}}
	m.eg, m.in = portChains(st, groups)
	m.state = PortState{ID: lp.ID, Zone: uint16(zone), tap: lp.Tap}
	for _, s := range sources(m.lp) {
		if s.prefix.IsSingleIP() {
			m.state.Addrs = append(m.state.Addrs, s.prefix.Addr())
		}
	}
	return m
}

// setPort puts a replanned port in place of old (nil: a new port).
func (p *Planner) setPort(old, m *portMemo, d *dirty) {
	id := m.lp.ID
	d.portsOut = true
	p.zoneUse[m.zone]++
	if old != nil {
		p.unzone(old.zone)
		for _, g := range old.groups {
			p.leave(g, id, d)
		}
	}
	for _, g := range m.groups {
		if p.users[g] == nil {
			p.users[g] = map[string]bool{}
			d.groups[g] = true
		}
		p.users[g][id] = true
	}
	p.local[id] = m
	if old == nil || old.lp.Tap != m.lp.Tap || old.lp.idx != m.lp.idx {
		d.structural = true
		if old != nil {
			d.lost[id] = true // its filter moved to new chains
		}
		return
	}
	// The same chains: keep the slices that did not change (the
	// applier skips them by identity).
	for _, c := range []struct {
		name     string
		was, now *[]desired.NftRule
	}{{srcChain(m.lp.Tap), &old.src, &m.src}, {dstChain(m.lp.Tap), &old.dst, &m.dst},
		{egChain(m.lp.Tap), &old.eg, &m.eg}, {inChain(m.lp.Tap), &old.in, &m.in}} {
		if slices.Equal(*c.was, *c.now) {
			*c.now = *c.was
			continue
		}
		d.chains[c.name] = *c.now
	}
	if lost(old.eg, m.eg) || lost(old.in, m.in) || old.zone != m.zone {
		d.lost[id] = true
	}
}

func (p *Planner) unzone(z uint32) {
	if p.zoneUse[z]--; p.zoneUse[z] <= 0 {
		delete(p.zoneUse, z)
	}
}

// leave takes port id out of group g's users.
func (p *Planner) leave(g, id string, d *dirty) {
	delete(p.users[g], id)
	if len(p.users[g]) == 0 {
		delete(p.users, g)
		d.groups[g] = true
	}
}

func (p *Planner) dropPort(old *portMemo, d *dirty) {
	id := old.lp.ID
	for _, g := range old.groups {
		p.leave(g, id, d)
	}
	delete(p.local, id)
	p.unzone(old.zone)
	delete(p.taken, old.lp.idx)
	delete(p.idx, id)
	d.structural, d.portsOut = true, true
}

// index returns the port's mark index: the one it has; else the one the
// kernel had for its tap (Recover); else from a hash of its id, probing
// past the taken ones.
func (p *Planner) index(lp Port) uint32 {
	if n, ok := p.idx[lp.ID]; ok {
		return n
	}
	n, ok := p.seeds[lp.Tap]
	if !ok || n == 0 || n > 0xffff || p.taken[n] != "" {
		n = hashIndex(lp.ID)
		for p.taken[n] != "" {
			n = n%0xffff + 1
		}
	}
	delete(p.seeds, lp.Tap)
	p.idx[lp.ID], p.taken[n] = n, lp.ID
	return n
}

// planGroups replans the groups whose rules or users changed, and
// patches those that only gained or lost rules without remote groups.
func (p *Planner) planGroups(d *dirty) {
	ids := dirtyOrAll(d.groups, d.all, maps.Keys(p.users), maps.Keys(p.groups))
	for g := range ids {
		p.planGroup(g, d)
	}
	for g, ds := range d.deltas {
		if !ids[g] {
			p.patchGroup(g, ds, d)
		}
	}
}

// planGroup replans group g's chains from its rules.
func (p *Planner) planGroup(g string, d *dirty) {
	old := p.groups[g]
	if len(p.users[g]) == 0 {
		if old != nil {
			p.unref(old.remote, d)
			delete(p.groups, g)
			d.structural = true
		}
		return
	}
	in, eg, remote := groupChains(p.rules[g])
	m := &groupMemo{in: in, eg: eg, remote: remote}
	p.ref(remote, d)
	if old == nil {
		p.groups[g] = m
		d.structural = true
		return
	}
	p.unref(old.remote, d)
	for _, c := range []struct {
		name     string
		was, now *[]desired.NftRule
	}{{groupChain(g, "in"), &old.in, &m.in}, {groupChain(g, "eg"), &old.eg, &m.eg}} {
		if slices.Equal(*c.was, *c.now) {
			*c.now = *c.was
			continue
		}
		d.chains[c.name] = *c.now
		if lost(*c.was, *c.now) {
			for u := range p.users[g] {
				d.lost[u] = true
			}
		}
	}
	p.groups[g] = m
}

func (p *Planner) ref(remote []string, d *dirty) {
	for _, r := range remote {
		if p.refs[r]++; p.refs[r] == 1 {
			d.members[r] = true
		}
	}
}

func (p *Planner) unref(remote []string, d *dirty) {
	for _, r := range remote {
		if p.refs[r]--; p.refs[r] <= 0 {
			delete(p.refs, r)
			d.members[r] = true
		}
	}
}

// planSets replans the member sets of the remote groups whose members
// changed, or that are referred to anew or no more.
func (p *Planner) planSets(d *dirty) {
	ids := dirtyOrAll(d.members, d.all, maps.Keys(p.refs), maps.Keys(p.sets))
	for r := range ids {
		old := p.sets[r]
		if p.refs[r] == 0 {
			if old != nil {
				delete(p.sets, r)
				d.setsOut = true
			}
			continue
		}
		m := p.renderSet(r, old)
		if old != nil && slices.Equal(old.v4, m.v4) && slices.Equal(old.v6, m.v6) {
			old.by = m.by
			continue
		}
		p.sets[r] = m
		d.setsOut = true
		if old != nil {
			p.lostFromSet(r, old, m, d)
		}
	}
}

// renderSet renders a remote group's member sets, reusing the prefixes
// of the members that did not change.
func (p *Planner) renderSet(r string, old *setMemo) *setMemo {
	if id, ok := strings.CutPrefix(r, agPrefix); ok {
		return p.renderAddrGroup(id)
	}
	m := &setMemo{by: make(map[string]member, len(p.members[r]))}
	for id, pt := range p.members[r] {
		mb, ok := member{}, false
		if old != nil {
			mb, ok = old.by[id]
		}
		if !ok || mb.p != pt {
			mb.p = pt
			mb.v4, mb.v6 = memberPrefixes(pt)
		}
		m.by[id] = mb
		m.v4, m.v6 = append(m.v4, mb.v4...), append(m.v6, mb.v6...)
	}
	m.v4, m.v6 = dedup(m.v4), dedup(m.v6)
	return m
}

// renderAddrGroup renders an address group's sets: its CIDRs (none
// while the view lacks it: the rule then allows nothing).
func (p *Planner) renderAddrGroup(id string) *setMemo {
	m := &setMemo{}
	if ag := p.addrs[id]; ag != nil {
		for _, a := range ag.Addresses {
			if pf, ok := parsePrefix(a); ok && pf.Addr().Is4() {
				m.v4 = append(m.v4, pf)
			} else if ok {
				m.v6 = append(m.v6, pf)
			}
		}
	}
	m.v4, m.v6 = dedup(m.v4), dedup(m.v6)
	return m
}

// lostFromSet notes what a member set lost: single addresses are
// flushed by themselves (in every zone, see flush); a lost prefix needs
// every port that depends on the set flushed.
func (p *Planner) lostFromSet(r string, old, m *setMemo, d *dirty) {
	for _, l := range [][2][]netip.Prefix{{old.v4, m.v4}, {old.v6, m.v6}} {
		for _, pf := range removedPrefixes(l[0], l[1]) {
			if !pf.IsSingleIP() {
				p.lostMembers(r, d)
				continue
			}
			d.gone = append(d.gone, pf.Addr())
		}
	}
}

// lostMembers marks the users of every group that refers to remote
// group r.
func (p *Planner) lostMembers(r string, d *dirty) {
	for g, m := range p.groups {
		if _, ok := slices.BinarySearch(m.remote, r); ok {
			for u := range p.users[g] {
				d.lost[u] = true
			}
		}
	}
}

// lost reports whether a rule of was is not in now.
func lost(was, now []desired.NftRule) bool {
	is := make(map[desired.NftRule]bool, len(now))
	for _, r := range now {
		is[r] = true
	}
	for _, r := range was {
		if !is[r] {
			return true
		}
	}
	return false
}

// removedPrefixes are the prefixes of was (sorted) not in now (sorted).
func removedPrefixes(was, now []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	j := 0
	for _, w := range was {
		for j < len(now) && comparePrefix(now[j], w) < 0 {
			j++
		}
		if j == len(now) || now[j] != w {
			out = append(out, w)
		}
	}
	return out
}

// dirtyOrAll returns the dirty ids, or, on a full replan, a new set of
// them and every id the given key sequences hold.
func dirtyOrAll(dirty map[string]bool, all bool, known ...iter.Seq[string]) map[string]bool {
	if !all {
		return dirty
	}
	ids := maps.Clone(dirty)
	if ids == nil {
		ids = map[string]bool{}
	}
	for _, keys := range known {
		for id := range keys {
			ids[id] = true
		}
	}
	return ids
}
