package secgroup

import (
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// One-rule deltas. A rule added to or removed from a group every port
// shares reaches every agent at once: replanning the group's two chains
// (rendering and sorting every rule of the group, then comparing the
// old chains with the new ones, rule by rule through a map) was most of
// an agent's cost of it. A rule that refers to no remote group or
// address group changes nothing but its own place in one chain: it is
// rendered alone and put into (or taken out of) a copy of that chain,
// found by binary search. A rule that refers to a remote group also
// changes which member sets the group needs: its group is replanned.
//
// Why that is exact: groupChains sorts a group's rules by ID and every
// rendered rule's comment is "rule " + its ID, so each chain is sorted
// by comment, and the rule of an ID sits where a binary search for its
// comment lands. A rule this data plane cannot express is in no chain.

// ruleDelta is one rule added to (add) or removed from its group.
type ruleDelta struct {
	r   *model.SecurityGroupRule
	add bool
}

// ruleChanged marks what a rule's addition or removal touches: a delta
// for a rule without remote, else its group's replan.
func (d *dirty) ruleChanged(r *model.SecurityGroupRule, add bool) {
	g := r.SecurityGroupID
	if (r.RemoteGroupID != nil && *r.RemoteGroupID != "") || (r.RemoteAddressGroupID != nil && *r.RemoteAddressGroupID != "") {
		d.groups[g] = true
		return
	}
	if d.deltas == nil {
		d.deltas = map[string][]ruleDelta{}
	}
	d.deltas[g] = append(d.deltas[g], ruleDelta{r: r, add: add})
}

// patchGroup applies the deltas ds to group g's chains, as planGroup
// would find them: a chain that changed goes out as a new slice (the
// old one went to the applier), and the group's users are flushed when
// a rule that was there is there no more.
func (p *Planner) patchGroup(g string, ds []ruleDelta, d *dirty) {
	old := p.groups[g]
	if len(p.users[g]) == 0 {
		return // not planned: no chains (the rule index is up to date)
	}
	if old == nil {
		p.planGroup(g, d)
		return
	}
	m := &groupMemo{in: old.in, eg: old.eg, remote: old.remote}
	var cloned [2]bool
	var removed [2][]desired.NftRule
	for _, x := range ds {
		nr, _, ok := rule(x.r)
		if !ok {
			continue // in no chain
		}
		c, chain := 0, &m.in
		if x.r.Direction == "egress" {
			c, chain = 1, &m.eg
		}
		i, found := findRule(*chain, nr.Comment)
		if (x.add && found && (*chain)[i] == nr) || (!x.add && !found) {
			continue
		}
		if !cloned[c] {
			*chain, cloned[c] = slices.Clone(*chain), true
		}
		switch {
		case found:
			removed[c] = append(removed[c], (*chain)[i])
			if x.add {
				(*chain)[i] = nr
			} else {
				*chain = slices.Delete(*chain, i, i+1)
			}
		default:
			*chain = slices.Insert(*chain, i, nr)
		}
	}
	lostAny := false
	for c, ch := range []struct {
		name     string
		was, now *[]desired.NftRule
	}{{groupChain(g, "in"), &old.in, &m.in}, {groupChain(g, "eg"), &old.eg, &m.eg}} {
		if !cloned[c] || slices.Equal(*ch.was, *ch.now) {
			*ch.now = *ch.was
			continue
		}
		d.chains[ch.name] = *ch.now
		for _, r := range removed[c] {
			lostAny = lostAny || holds(*ch.was, r) && !holds(*ch.now, r)
		}
	}
	if lostAny {
		for u := range p.users[g] {
			d.lost[u] = true
		}
	}
	p.groups[g] = m
}

// findRule finds the rule with comment c in a group chain (sorted by
// comment), or where it would go.
func findRule(chain []desired.NftRule, c string) (int, bool) {
	return slices.BinarySearchFunc(chain, c, func(r desired.NftRule, c string) int { return strings.Compare(r.Comment, c) })
}

// holds reports whether a group chain holds rule r.
func holds(chain []desired.NftRule, r desired.NftRule) bool {
	i, ok := findRule(chain, r.Comment)
	return ok && chain[i] == r
}
