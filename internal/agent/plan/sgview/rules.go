package sgview

import (
	"fmt"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// chain writes a chain's rules at indent, following jumps into the
// chains they reach (group chains) one level deeper, and listing the
// members of the sets a rule looks addresses up in.
func (v view) chain(b *strings.Builder, t *desired.NftTable, name string, depth int) {
	pad := strings.Repeat("  ", depth)
	c, ok := v.lookup(t, name)
	switch {
	case !ok:
		fmt.Fprintf(b, "%s(no chain %s in the planned tables)\n", pad, name)
		return
	case len(c.Rules) == 0:
		fmt.Fprintf(b, "%s(no rules: allows nothing)\n", pad)
		return
	}
	for _, r := range c.Rules {
		line := r
		line.Comment = ""
		note := v.note(r)
		if note != "" {
			note = "   # " + note
		}
		fmt.Fprintf(b, "%s%s%s\n", pad, line.String(), note)
		for _, set := range []string{r.SaddrSet, r.DaddrSet, r.Saddr6Set, r.Daddr6Set} {
			if set != "" {
				fmt.Fprintf(b, "%s    @%s = { %s }\n", pad, set, v.members(t, set))
			}
		}
		next := r.Jump
		if next == "" {
			next = r.Goto
		}
		if next != "" && depth < maxDepth {
			v.chain(b, t, next, depth+1)
		}
	}
}

// note explains a rule: the group rule it stands for, the group a jump
// enters, or the comment the planner gave it.
func (v view) note(r desired.NftRule) string {
	if id, ok := strings.CutPrefix(r.Comment, "rule "); ok {
		if sr := v.s.SGRules[id]; sr != nil {
			return "rule " + id + ": " + v.describe(sr)
		}
		return r.Comment
	}
	if r.Comment != "" {
		return r.Comment
	}
	target := r.Jump + r.Goto
	if target == "" {
		return ""
	}
	// The group whose id the chain name holds (the longest such id:
	// deterministic even if one id were part of another).
	best := ""
	for id := range v.s.SGs {
		if strings.Contains(target, id) && len(id) > len(best) {
			best = id
		}
	}
	if best == "" {
		return ""
	}
	return "group " + v.s.SGs[best].Name
}

// describe renders a group rule as the API shows it.
func (v view) describe(r *model.SecurityGroupRule) string {
	parts := []string{r.Direction, r.EtherType}
	proto := "any protocol"
	if r.Protocol != nil && *r.Protocol != "" {
		proto = *r.Protocol
	}
	parts = append(parts, proto)
	lo, hi := r.PortRangeMin, r.PortRangeMax
	switch {
	case lo != nil && hi != nil && *lo != *hi:
		parts = append(parts, fmt.Sprintf("%d-%d", *lo, *hi))
	case lo != nil:
		parts = append(parts, fmt.Sprint(*lo))
	}
	peer := "from"
	if r.Direction == "egress" {
		peer = "to"
	}
	switch {
	case r.RemoteGroupID != nil && *r.RemoteGroupID != "":
		name := *r.RemoteGroupID
		if sg := v.s.SGs[name]; sg != nil {
			name = sg.Name
		}
		parts = append(parts, peer, "group", name)
	case r.RemoteAddressGroupID != nil && *r.RemoteAddressGroupID != "":
		parts = append(parts, peer, "address group", *r.RemoteAddressGroupID, "(not enforced: allows nothing)")
	case r.RemoteIPPrefix != nil && *r.RemoteIPPrefix != "":
		parts = append(parts, peer, *r.RemoteIPPrefix)
	default:
		parts = append(parts, peer, "anywhere")
	}
	return strings.Join(parts, " ")
}

// members lists a set's elements, sorted ("empty" if none).
func (v view) members(t *desired.NftTable, name string) string {
	for _, s := range t.Sets {
		if s.Name != name {
			continue
		}
		var es []string
		for _, e := range s.Elements {
			if e.IsSingleIP() {
				es = append(es, e.Addr().String())
			} else {
				es = append(es, e.String())
			}
		}
		slices.Sort(es)
		if len(es) == 0 {
			return "empty"
		}
		return strings.Join(es, ", ")
	}
	return "missing"
}
