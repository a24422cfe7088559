package desired

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// NftOwnedPrefix starts the name of every nftables table the agent owns;
// in its namespaces, an owned table that is not desired is removed.
const NftOwnedPrefix = "neutrino"

// Table families.
const (
	FamilyIP     = "ip"
	FamilyINet   = "inet"
	FamilyBridge = "bridge"
)

// Element types of sets and maps.
const (
	TypeIPv4Addr  = "ipv4_addr"
	TypeIPv6Addr  = "ipv6_addr"
	TypeEtherAddr = "ether_addr" // hash sets (NftSet.Hash): MAC addresses
	TypeIfname    = "ifname"     // map keys: an interface name
	TypeMark      = "mark"       // map keys: a packet mark ("0x00010000")
	TypeVerdict   = "verdict"    // map values: "jump <chain>" or "goto <chain>"
)

// NftTable is one nftables table the agent owns in a namespace: family
// ip, inet or bridge ("" = ip) and a name starting with NftOwnedPrefix
// ("" = "neutrino", the legacy router's table). Its chains are static
// and small; what grows with the cloud (floating IPs) lives in maps, so
// adding the 10,000th floating IP costs what the first did.
//
// The slices and maps of a table handed to the applier must not be
// changed afterwards: it remembers them by identity, so that a plan that
// reuses the unchanged ones costs nothing for them (build new ones for
// what changes).
type NftTable struct {
	Family string
	Name   string
	Chains []NftChain
	Maps   []NftMap
	Sets   []NftSet
}

// FamilyOrIP is the table's family with "" read as ip.
func (t *NftTable) FamilyOrIP() string {
	if t.Family == "" {
		return FamilyIP
	}
	return t.Family
}

// NameOrDefault is the table's name with "" read as "neutrino".
func (t *NftTable) NameOrDefault() string {
	if t.Name == "" {
		return NftOwnedPrefix
	}
	return t.Name
}

// NftChain is a chain with typed rules, applied in order: a base chain
// (Hook set) or, with Type and Hook "", a regular chain that rules reach
// by jump, goto or a verdict map.
type NftChain struct {
	Name     string // e.g. "prerouting"
	Type     string // "nat" | "filter" ("" for a regular chain)
	Hook     string // "prerouting" | "input" | "forward" | "output" | "postrouting" | ""
	Priority int    // e.g. -100 (dstnat), 100 (srcnat)
	Rules    []NftRule
	// Unordered says the rules are independent of their order (each
	// one only accepts what it matches, as a security group's rules
	// do): the applier then adds and deletes single rules instead of
	// refilling the chain, so one rule's change costs the same in a
	// chain of 10 rules or of 10,000. Regular chains only.
	Unordered bool
}

// IsBase reports whether the chain is attached to a hook.
func (c *NftChain) IsBase() bool { return c.Hook != "" }

// NftMap is a typed map; KeyType and ValueType "" read as ipv4_addr.
// Two kinds exist: ipv4_addr : ipv4_addr (floating IPs, in Elements) and
// verdict maps keyed by ifname or mark (in Verdicts: key as rendered,
// "tap1" or "0x00010000", to "jump <chain>" or "goto <chain>"), which
// dispatch to one chain per port so that a port's rules change alone.
type NftMap struct {
	Name      string
	KeyType   string
	ValueType string
	Elements  map[netip.Addr]netip.Addr
	Verdicts  map[string]string
}

// Types returns the map's key and value types with defaults applied.
func (m *NftMap) Types() (key, value string) {
	return orIPv4(m.KeyType), orIPv4(m.ValueType)
}

// NftSet is a typed interval set of prefixes: Type "" or ipv4_addr, or
// ipv6_addr; or, with Hash, a hash set of single keys.
type NftSet struct {
	Name     string
	Type     string
	Elements []netip.Prefix
	// Hash makes it a set of single keys, in Keys as nft writes them
	// (ipv4_addr "192.0.2.1", ether_addr "fa:16:3e:00:00:01"), not of
	// ranges: the kernel looks a key up in a hash table, one lookup
	// whatever the number of elements (an interval set is a tree).
	// ether_addr sets are always hash sets.
	Hash bool
	Keys []string
}

func orIPv4(t string) string {
	if t == "" {
		return TypeIPv4Addr
	}
	return t
}

// String renders the table as `nft list`-like text.
func (t *NftTable) String() string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", t.FamilyOrIP(), t.NameOrDefault())
	for _, s := range t.Sets {
		if s.Hash {
			els := slices.Sorted(slices.Values(s.Keys))
			fmt.Fprintf(&b, "  set %s { type %s; elements = { %s } }\n", s.Name, orIPv4(s.Type), strings.Join(els, ", "))
			continue
		}
		els := make([]string, len(s.Elements))
		for i, e := range s.Elements {
			els[i] = e.String()
		}
		slices.Sort(els)
		fmt.Fprintf(&b, "  set %s { type %s; flags interval; elements = { %s } }\n", s.Name, orIPv4(s.Type), strings.Join(els, ", "))
	}
	for _, m := range t.Maps {
		var els []string
		for k, v := range m.Elements {
			els = append(els, k.String()+" : "+v.String())
		}
		for k, v := range m.Verdicts {
			if m.KeyType == TypeIfname {
				k = fmt.Sprintf("%q", k)
			}
			els = append(els, k+" : "+v)
		}
		slices.Sort(els)
		kt, vt := m.Types()
		fmt.Fprintf(&b, "  map %s { type %s : %s; elements = { %s } }\n", m.Name, kt, vt, strings.Join(els, ", "))
	}
	for _, c := range t.Chains {
		if c.IsBase() {
			fmt.Fprintf(&b, "  chain %s { type %s hook %s priority %d;\n", c.Name, c.Type, c.Hook, c.Priority)
		} else {
			fmt.Fprintf(&b, "  chain %s {\n", c.Name)
		}
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "    %s\n", r)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}
