package secgroup

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// PortState is what conntrack cleanup needs of a filtered port: the
// zone of its bridge, its addresses, and the chains and sets its
// filtering depends on.
type PortState struct {
	ID    string
	Zone  uint16
	Addrs []netip.Addr
	deps  []string // chain and set names ("chain x", "set y")
}

// Flush is a set of conntrack entries to delete: those in Zone that
// involve any of Addrs.
type Flush struct {
	Zone  uint16
	Addrs []netip.Addr
}

// portStates fills Result.Ports once the inet table is planned.
func portStates(ports []localPort, zones map[string]uint32, in desired.NftTable) []PortState {
	chains := map[string]desired.NftChain{}
	for _, c := range in.Chains {
		chains[c.Name] = c
	}
	out := make([]PortState, 0, len(ports))
	for _, lp := range ports {
		ps := PortState{ID: lp.ID, Zone: uint16(zones[lp.Bridge])}
		for _, s := range sources(lp) {
			if s.prefix.IsSingleIP() {
				ps.Addrs = append(ps.Addrs, s.prefix.Addr())
			}
		}
		for _, name := range []string{egChain(lp.Tap), inChain(lp.Tap)} {
			ps.deps = append(ps.deps, "chain "+name)
			for _, r := range chains[name].Rules {
				if r.Jump == "" {
					continue
				}
				ps.deps = append(ps.deps, "chain "+r.Jump)
				for _, gr := range chains[r.Jump].Rules {
					for _, set := range []string{gr.SaddrSet, gr.DaddrSet, gr.Saddr6Set, gr.Daddr6Set} {
						if set != "" {
							ps.deps = append(ps.deps, "set "+set)
						}
					}
				}
			}
		}
		slices.Sort(ps.deps)
		ps.deps = slices.Compact(ps.deps)
		out = append(out, ps)
	}
	return out
}

// contents are a table's chains and sets as lines, by "chain x" / "set y".
func contents(r Result) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, t := range r.Tables {
		if t.Family != desired.FamilyINet {
			continue
		}
		for _, c := range t.Chains {
			m := map[string]bool{}
			for _, rule := range c.Rules {
				m[rule.String()] = true
			}
			out["chain "+c.Name] = m
		}
		for _, s := range t.Sets {
			m := map[string]bool{}
			for _, e := range s.Elements {
				m[e.String()] = true
			}
			out["set "+s.Name] = m
		}
	}
	return out
}

// Shrunk returns the conntrack entries to delete after going from old
// to new: for every port still filtered whose own chains, group chains
// or remote group sets lost a rule or an element, the entries of its
// addresses in its zone. Established flows would otherwise outlive the
// rule that let them in (sg-lab check C6.3). Deleting a flow that
// another rule still allows costs nothing: its next packet is a new
// flow (TCP is picked up mid-stream) and passes the rules again.
func Shrunk(old, new Result) []Flush {
	if len(old.Ports) == 0 {
		return nil
	}
	was, is := contents(old), contents(new)
	lost := func(name string) bool {
		for line := range was[name] {
			if !is[name][line] {
				return true
			}
		}
		return false
	}
	before := map[string]PortState{}
	for _, ps := range old.Ports {
		before[ps.ID] = ps
	}
	byZone := map[uint16][]netip.Addr{}
	for _, ps := range new.Ports {
		prev, ok := before[ps.ID]
		if !ok {
			continue // newly filtered: it had no rules to lose
		}
		deps := slices.Concat(prev.deps, ps.deps)
		if slices.ContainsFunc(deps, func(d string) bool { return lost(d) }) || prev.Zone != ps.Zone {
			byZone[ps.Zone] = append(byZone[ps.Zone], ps.Addrs...)
		}
	}
	var out []Flush
	for z, addrs := range byZone {
		slices.SortFunc(addrs, netip.Addr.Compare)
		out = append(out, Flush{Zone: z, Addrs: slices.Compact(addrs)})
	}
	slices.SortFunc(out, func(a, b Flush) int { return int(a.Zone) - int(b.Zone) })
	return out
}

func (f Flush) String() string {
	var as []string
	for _, a := range f.Addrs {
		as = append(as, a.String())
	}
	return "zone " + strconv.Itoa(int(f.Zone)) + " " + strings.Join(as, ",")
}
