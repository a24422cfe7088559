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
	TypeIPv4Addr = "ipv4_addr"
)

// NftTable is one nftables table the agent owns in a namespace: family
// ip, inet or bridge ("" = ip) and a name starting with NftOwnedPrefix
// ("" = "neutrino", the legacy router's table). Its chains are static
// and small; what grows with the cloud (floating IPs) lives in maps, so
// adding the 10,000th floating IP costs what the first did.
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

// NftChain is a base chain with typed rules, applied in order.
type NftChain struct {
	Name     string // e.g. "prerouting"
	Type     string // "nat" | "filter"
	Hook     string // "prerouting" | "input" | "forward" | "output" | "postrouting"
	Priority int    // e.g. -100 (dstnat), 100 (srcnat)
	Rules    []NftRule
}

// NftRule is one rule; exactly one action field is set. Matches are ANDed.
type NftRule struct {
	// Matches.
	IifName        string       // input interface (exact, or prefix with trailing "*")
	OifName        string       // output interface (exact, or prefix with trailing "*")
	NotOifName     string       // oifname != <name>
	SaddrSet       string       // ip saddr @set
	DaddrSet       string       // ip daddr @set
	NotDaddrSet    string       // ip daddr != @set
	Daddr          netip.Prefix // ip daddr <prefix>
	TCPDport       uint16       // tcp dport <n>
	CtStateNotDNAT bool         // ct status != dnat (do not SNAT what was DNATed in)
	CtStateDNAT    bool         // ct status dnat
	// Bridge family only: Ethernet addresses ("fa:16:3e:00:00:01") and
	// the target protocol address of an ARP packet (any ARP op).
	EtherSaddr  string     // ether saddr <mac>
	EtherDaddr  string     // ether daddr <mac>
	ARPTargetIP netip.Addr // arp daddr ip <addr>

	// Actions.
	DNATMap    string     // dnat to ip daddr map @<map>
	SNATMap    string     // snat to ip saddr map @<map>
	SNATTo     netip.Addr // snat to <addr>
	RedirectTo uint16     // redirect to :<port>
	Accept     bool
	Drop       bool
	// SetEtherSaddr rewrites the frame's source MAC (bridge family
	// only). It is a statement, not a verdict: the frame goes on through
	// the chain, so it is the rule's only action.
	SetEtherSaddr string // ether saddr set <mac>
	Comment       string // shown in `nft list`; identifies the rule
}

// NftMap is a typed map; KeyType and ValueType "" read as ipv4_addr,
// the one type the data plane implements today (floating IPs).
type NftMap struct {
	Name      string
	KeyType   string
	ValueType string
	Elements  map[netip.Addr]netip.Addr
}

// Types returns the map's key and value types with defaults applied.
func (m *NftMap) Types() (key, value string) {
	return orIPv4(m.KeyType), orIPv4(m.ValueType)
}

// NftSet is a typed interval set; Type "" reads as ipv4_addr (prefixes).
type NftSet struct {
	Name     string
	Type     string
	Elements []netip.Prefix
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
		slices.Sort(els)
		kt, vt := m.Types()
		fmt.Fprintf(&b, "  map %s { type %s : %s; elements = { %s } }\n", m.Name, kt, vt, strings.Join(els, ", "))
	}
	for _, c := range t.Chains {
		fmt.Fprintf(&b, "  chain %s { type %s hook %s priority %d;\n", c.Name, c.Type, c.Hook, c.Priority)
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "    %s\n", r)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (r NftRule) String() string {
	var parts []string
	add := func(f string, a ...any) { parts = append(parts, fmt.Sprintf(f, a...)) }
	if r.IifName != "" {
		add("iifname %q", r.IifName)
	}
	if r.OifName != "" {
		add("oifname %q", r.OifName)
	}
	if r.NotOifName != "" {
		add("oifname != %q", r.NotOifName)
	}
	if r.SaddrSet != "" {
		add("ip saddr @%s", r.SaddrSet)
	}
	if r.DaddrSet != "" {
		add("ip daddr @%s", r.DaddrSet)
	}
	if r.NotDaddrSet != "" {
		add("ip daddr != @%s", r.NotDaddrSet)
	}
	if r.Daddr.IsValid() {
		add("ip daddr %s", r.Daddr)
	}
	if r.TCPDport != 0 {
		add("tcp dport %d", r.TCPDport)
	}
	if r.CtStateNotDNAT {
		add("ct status != dnat")
	}
	if r.CtStateDNAT {
		add("ct status dnat")
	}
	if r.EtherSaddr != "" {
		add("ether saddr %s", r.EtherSaddr)
	}
	if r.EtherDaddr != "" {
		add("ether daddr %s", r.EtherDaddr)
	}
	if r.ARPTargetIP.IsValid() {
		add("arp daddr ip %s", r.ARPTargetIP)
	}
	switch {
	case r.DNATMap != "":
		add("dnat to ip daddr map @%s", r.DNATMap)
	case r.SNATMap != "":
		add("snat to ip saddr map @%s", r.SNATMap)
	case r.SNATTo.IsValid():
		add("snat to %s", r.SNATTo)
	case r.RedirectTo != 0:
		add("redirect to :%d", r.RedirectTo)
	case r.Accept:
		add("accept")
	case r.Drop:
		add("drop")
	case r.SetEtherSaddr != "":
		add("ether saddr set %s", r.SetEtherSaddr)
	}
	if r.Comment != "" {
		add("comment %q", r.Comment)
	}
	return strings.Join(parts, " ")
}
