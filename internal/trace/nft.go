package trace

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// nfState is what an nftables evaluation sees besides the packet.
type nfState struct {
	host, where string
	iif, oif    string
	mark        uint32
}

// decision is the rule that ended a base chain's evaluation and the
// regular chains it passed through.
type decision struct {
	verdict string // "accept", "drop", "" (fell off the end: policy accept)
	rule    desired.NftRule
	chain   string
	jumped  []string
}

// baseChain is a hooked chain with its table.
type baseChain struct {
	tb *desired.NftTable
	c  *desired.NftChain
}

// hooked lists the base chains of the tables on hook (of the given
// families), in priority order, as the kernel runs them.
func hooked(tables []desired.NftTable, hook string, families ...string) []baseChain {
	var out []baseChain
	for i := range tables {
		tb := &tables[i]
		if !slices.Contains(families, tb.FamilyOrIP()) {
			continue
		}
		for j := range tb.Chains {
			if tb.Chains[j].Hook == hook {
				out = append(out, baseChain{tb, &tb.Chains[j]})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b baseChain) int { return a.c.Priority - b.c.Priority })
	return out
}

// runHook runs the chains in order; a drop ends it (false).
func (t *walker) runHook(chains []baseChain, st *nfState) (decision, bool) {
	for _, bc := range chains {
		var d decision
		t.runChain(bc.tb, bc.c.Name, st, &d, 0)
		if d.verdict == "drop" {
			return d, false
		}
	}
	return decision{}, true
}

// runChain evaluates one chain; done reports a final verdict (accept,
// drop, or a NAT statement, which ends its chain too).
func (t *walker) runChain(tb *desired.NftTable, name string, st *nfState, d *decision, depth int) (done bool) {
	c := findChain(tb, name)
	if c == nil || depth > 16 {
		return false
	}
	for _, r := range c.Rules {
		if !t.matches(tb, r, st) {
			continue
		}
		switch {
		case r.SetMarkOp == "or":
			st.mark |= r.SetMark
		case r.SetMarkOp != "":
			st.mark = r.SetMark
		case r.SetEtherSaddr != "":
			t.hop(st.host, st.where, "%s rewrites the source MAC %s to %s (%q)", tb.NameOrDefault(), t.p.srcMAC, r.SetEtherSaddr, r.Comment)
			t.p.srcMAC = r.SetEtherSaddr
		case r.DNATMap != "" || r.SNATMap != "" || r.SNATTo.IsValid() || r.RedirectTo != 0:
			if t.nat(tb, r, st) {
				d.verdict, d.rule, d.chain = "accept", r, name
				return true
			}
		case r.Accept || r.Drop:
			d.verdict, d.rule, d.chain = map[bool]string{true: "accept", false: "drop"}[r.Accept], r, name
			return true
		case r.Return:
			return false
		case r.Jump != "" || r.Goto != "":
			next := r.Jump + r.Goto
			d.jumped = append(d.jumped, next)
			if t.runChain(tb, next, st, d, depth+1) || r.Goto != "" {
				return true
			}
		case r.Vmap != "":
			v, ok := vmapLookup(tb, r, st)
			if !ok {
				continue
			}
			verb, next, _ := strings.Cut(v, " ")
			d.jumped = append(d.jumped, next)
			if t.runChain(tb, next, st, d, depth+1) || verb == "goto" {
				return true
			}
		}
	}
	return false
}

func findChain(tb *desired.NftTable, name string) *desired.NftChain {
	for i := range tb.Chains {
		if tb.Chains[i].Name == name {
			return &tb.Chains[i]
		}
	}
	return nil
}

func vmapLookup(tb *desired.NftTable, r desired.NftRule, st *nfState) (string, bool) {
	var key string
	switch r.VmapKey {
	case "iifname":
		key = st.iif
	case "oifname":
		key = st.oif
	default:
		m := st.mark
		if r.VmapMask != 0 {
			m &= r.VmapMask
		}
		key = fmt.Sprintf("0x%08x", m)
	}
	for _, m := range tb.Maps {
		if m.Name == r.Vmap {
			v, ok := m.Verdicts[key]
			return v, ok
		}
	}
	return "", false
}

// nat applies a NAT statement; a map without the address does not match.
func (t *walker) nat(tb *desired.NftTable, r desired.NftRule, st *nfState) bool {
	lookup := func(name string, k netip.Addr) (netip.Addr, bool) {
		for _, m := range tb.Maps {
			if m.Name == name {
				v, ok := m.Elements[k]
				return v, ok
			}
		}
		return netip.Addr{}, false
	}
	switch {
	case r.DNATMap != "":
		v, ok := lookup(r.DNATMap, t.p.dst)
		if !ok {
			return false
		}
		t.hop(st.host, st.where, "DNAT %s -> %s (@%s, %q)", t.p.dst, v, r.DNATMap, r.Comment)
		t.p.dst, t.p.dnatted = v, true
	case r.SNATMap != "":
		v, ok := lookup(r.SNATMap, t.p.src)
		if !ok {
			return false
		}
		t.hop(st.host, st.where, "SNAT %s -> %s (@%s, %q)", t.p.src, v, r.SNATMap, r.Comment)
		t.p.src = v
	case r.SNATTo.IsValid():
		t.hop(st.host, st.where, "SNAT %s -> %s (%q)", t.p.src, r.SNATTo, r.Comment)
		t.p.src = r.SNATTo
	case r.RedirectTo != 0:
		t.hop(st.host, st.where, "redirect to local port %d (%q)", r.RedirectTo, r.Comment)
		t.p.redirected = true
	}
	return true
}

// matches reports whether the (IPv4, first of its flow) packet matches
// every selector of r.
func (t *walker) matches(tb *desired.NftTable, r desired.NftRule, st *nfState) bool {
	p := &t.p
	inSet := func(name string, a netip.Addr) bool {
		for _, s := range tb.Sets {
			if s.Name == name {
				return slices.ContainsFunc(s.Elements, func(e netip.Prefix) bool { return e.Contains(a) })
			}
		}
		return false
	}
	// Hash sets (the DVR table's gateway MACs): single keys.
	inKeys := func(name, key string) bool {
		for _, s := range tb.Sets {
			if s.Name == name {
				return slices.ContainsFunc(s.Keys, func(k string) bool { return strings.EqualFold(k, key) })
			}
		}
		return false
	}
	proto := map[string]uint8{"icmp": 1, "tcp": 6, "udp": 17}[p.proto]
	checks := []bool{
		r.IifName == "" || globMatch(r.IifName, st.iif),
		r.OifName == "" || globMatch(r.OifName, st.oif),
		r.NotOifName == "" || !globMatch(r.NotOifName, st.oif),
		!r.MatchMark || st.mark&maskOr(r.MarkMask) == r.Mark,
		r.L3Proto == "" || r.L3Proto == "ip",
		r.EtherSaddr == "" || r.EtherSaddr == p.srcMAC,
		r.EtherDaddr == "" || r.EtherDaddr == p.dstMAC,
		r.EtherSaddrSet == "" || inKeys(r.EtherSaddrSet, p.srcMAC),
		r.EtherDaddrSet == "" || inKeys(r.EtherDaddrSet, p.dstMAC),
		r.ARPSenderMAC == "" && !r.ARPSenderIP.IsValid() && !r.ARPTargetIP.IsValid() && r.ARPTargetSet == "",
		!r.Saddr.IsValid() || r.Saddr.Contains(p.src),
		!r.Daddr.IsValid() || r.Daddr.Contains(p.dst),
		r.SaddrSet == "" || inSet(r.SaddrSet, p.src),
		r.DaddrSet == "" || inSet(r.DaddrSet, p.dst),
		r.NotDaddrSet == "" || !inSet(r.NotDaddrSet, p.dst),
		r.Saddr6Set == "" && r.Daddr6Set == "",
		r.L4Proto == 0 || r.L4Proto == proto,
		r.SportMin == 0 || (proto != 1 && ephemeralPort >= r.SportMin && ephemeralPort <= max(r.SportMax, r.SportMin)),
		r.DportMin == 0 || (proto != 1 && p.dport >= r.DportMin && p.dport <= max(r.DportMax, r.DportMin)),
		!r.MatchICMPType || (proto == 1 && r.ICMPType == 8),
		!r.MatchICMPCode || (proto == 1 && r.ICMPCode == 0),
		r.TCPDport == 0 || (proto == 6 && p.dport == r.TCPDport),
		r.CtState == "" || slices.Contains(strings.Split(r.CtState, ","), "new"),
		!r.CtStateNotDNAT || !p.dnatted,
		!r.CtStateDNAT || p.dnatted,
	}
	return !slices.Contains(checks, false)
}

// ephemeralPort is the source port of TCP and UDP packets the walk
// sends (ICMP packets are echo requests).
const ephemeralPort = 40000

func maskOr(m uint32) uint32 {
	if m == 0 {
		return 0xffffffff
	}
	return m
}
