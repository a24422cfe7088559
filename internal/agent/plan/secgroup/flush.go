package secgroup

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// PortState is what conntrack cleanup needs of a filtered port: the
// zone of its bridge and its addresses.
type PortState struct {
	ID    string
	Zone  uint16
	Addrs []netip.Addr
	tap   string
}

// Flush is a set of conntrack entries to delete: those in Zone that
// involve any of Addrs.
type Flush struct {
	Zone  uint16
	Addrs []netip.Addr
}

// deps are the chains and sets a port's filtering depends on in a
// result: its own inet chains, its groups' chains and their sets.
func deps(tap string, chains map[string]desired.NftChain) []string {
	var out []string
	for _, name := range []string{egChain(tap), inChain(tap)} {
		out = append(out, "chain "+name)
		for _, r := range chains[name].Rules {
			if r.Jump == "" || r.Jump == ctChain {
				continue
			}
			out = append(out, "chain "+r.Jump)
			for _, gr := range chains[r.Jump].Rules {
				for _, set := range []string{gr.SaddrSet, gr.DaddrSet, gr.Saddr6Set, gr.Daddr6Set} {
					if set != "" {
						out = append(out, "set "+set)
					}
				}
			}
		}
	}
	return out
}

// contents are a result's inet chains and sets as lines, by "chain x" /
// "set y", and its inet chains by name.
func contents(r Result) (map[string]map[string]bool, map[string]desired.NftChain) {
	out := map[string]map[string]bool{}
	chains := map[string]desired.NftChain{}
	for _, t := range r.Tables {
		if t.Family != desired.FamilyINet {
			continue
		}
		for _, c := range t.Chains {
			chains[c.Name] = c
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
	return out, chains
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
	was, oldChains := contents(old)
	is, newChains := contents(new)
	// A member set that lost single addresses needs only the entries
	// of those addresses deleted, in every zone of a filtered port; one
	// that lost a prefix (an allowed address pair), or a chain that lost
	// a rule, needs those of every port depending on it.
	var members []netip.Addr
	lost := func(name string) bool {
		if _, ok := is[name]; !ok && strings.HasPrefix(name, "set ") {
			return false // no longer referred to: its rule went
		}
		for line := range was[name] {
			if is[name][line] {
				continue
			}
			p, err := netip.ParsePrefix(line)
			if err == nil && p.IsSingleIP() {
				continue
			}
			return true
		}
		return false
	}
	for name, lines := range was {
		if _, ok := is[name]; !ok || !strings.HasPrefix(name, "set ") {
			continue
		}
		for line := range lines {
			if p, err := netip.ParsePrefix(line); err == nil && p.IsSingleIP() && !is[name][line] {
				members = append(members, p.Addr())
			}
		}
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
		ds := slices.Concat(deps(prev.tap, oldChains), deps(ps.tap, newChains))
		if slices.ContainsFunc(ds, func(d string) bool { return lost(d) }) || prev.Zone != ps.Zone {
			byZone[ps.Zone] = append(byZone[ps.Zone], ps.Addrs...)
		}
	}
	if len(members) > 0 {
		for _, ps := range new.Ports {
			byZone[ps.Zone] = append(byZone[ps.Zone], members...)
		}
	}
	return flushes(byZone)
}

// flushes sorts the addresses to flush per zone.
func flushes(byZone map[uint16][]netip.Addr) []Flush {
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
