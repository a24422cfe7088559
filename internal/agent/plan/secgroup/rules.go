package secgroup

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// stateful reports whether a port's traffic is filtered statefully: a
// port's groups are all stateful or all stateless (upstream refuses a
// mix); an unknown group counts as stateful.
func stateful(s *hostmodel.Snapshot, p *model.Port) bool {
	for _, id := range p.SecurityGroups {
		if sg := s.SGs[id]; sg != nil && !sg.Stateful {
			return false
		}
	}
	return true
}

// portGroups are the port's groups that the view has, sorted: a group
// not (yet) in the view has no rules and allows nothing.
func portGroups(s *hostmodel.Snapshot, p *model.Port) []string {
	var out []string
	for _, id := range p.SecurityGroups {
		if s.SGs[id] != nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Shared chains every port chain jumps to: the conntrack state checks
// (stateful ports) and the built-in allowances. Shared, so that a port
// chain is a handful of rules: the kernel validates every chain a rule
// change can reach, and a port's own rules are what grows with the host.
const (
	ctChain       = "ct-state"
	builtinEgress = "builtin-eg"
	builtinIngr   = "builtin-in"
)

// sharedChains are ctChain and the two built-in chains.
func sharedChains() []desired.NftChain {
	ct := desired.NftChain{Name: ctChain, Rules: []desired.NftRule{
		{CtState: "established,related", Accept: true},
		{CtState: "invalid", Drop: true},
	}}
	// Built in, as upstream: DHCP and DHCPv6 clients, the ICMPv6 a host
	// needs (router and neighbour discovery, MLD).
	eg := desired.NftChain{Name: builtinEgress, Rules: []desired.NftRule{
		{L3Proto: "ip", L4Proto: protoUDP, SportMin: dhcpClient, DportMin: dhcpServer, Accept: true},
		{L3Proto: "ip6", L4Proto: protoUDP, SportMin: dhcp6Client, DportMin: dhcp6Server, Accept: true}}}
	in := desired.NftChain{Name: builtinIngr, Rules: []desired.NftRule{
		{L3Proto: "ip", L4Proto: protoUDP, SportMin: dhcpServer, DportMin: dhcpClient, Accept: true},
		{L3Proto: "ip6", L4Proto: protoUDP, SportMin: dhcp6Server, DportMin: dhcp6Client, Accept: true}}}
	for _, t := range []uint8{icmp6RouterSol, icmp6NeighSol, icmp6NeighA, icmp6MLDReport, icmp6MLDDone, icmp6MLDv2Report} {
		eg.Rules = append(eg.Rules, icmp6(t))
	}
	for _, t := range []uint8{icmp6MLDQuery, icmp6RouterAdvert, icmp6NeighSol, icmp6NeighA} {
		in.Rules = append(in.Rules, icmp6(t))
	}
	return []desired.NftChain{ct, eg, in}
}

// portChains returns the rules of the port's eg- and in- chains: the
// conntrack state (stateful ports), the built-in allowances, a jump to
// each of its groups, drop.
func portChains(stateful bool, groups []string) (egress, ingress []desired.NftRule) {
	if stateful {
		egress = append(egress, desired.NftRule{Jump: ctChain})
		ingress = append(ingress, desired.NftRule{Jump: ctChain})
	}
	egress = append(egress, desired.NftRule{Jump: builtinEgress})
	ingress = append(ingress, desired.NftRule{Jump: builtinIngr})
	for _, id := range groups {
		egress = append(egress, desired.NftRule{Jump: groupChain(id, "eg")})
		ingress = append(ingress, desired.NftRule{Jump: groupChain(id, "in")})
	}
	egress = append(egress, desired.NftRule{Drop: true})
	ingress = append(ingress, desired.NftRule{Drop: true})
	return egress, ingress
}

func icmp6(t uint8) desired.NftRule {
	return desired.NftRule{L3Proto: "ip6", L4Proto: protoICMPv6, MatchICMPType: true, ICMPType: t, Accept: true}
}

// groupChains returns the rules of a group's -in and -eg chains and the
// remote groups they refer to (sorted). Every rule accepts: the chains
// are unordered, and a rule added or removed is one rule in the kernel.
func groupChains(rules map[string]*model.SecurityGroupRule) (in, eg []desired.NftRule, remote []string) {
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r := rules[id]
		nr, rg, ok := rule(r)
		if !ok {
			continue
		}
		if rg != "" {
			remote = append(remote, rg)
		}
		if r.Direction == "egress" {
			eg = append(eg, nr)
		} else {
			in = append(in, nr)
		}
	}
	slices.Sort(remote)
	return in, eg, slices.Compact(remote)
}

// protocols maps upstream's protocol names to numbers.
var protocols = map[string]uint8{
	"icmp": 1, "igmp": 2, "tcp": 6, "egp": 8, "udp": 17, "ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44,
	"rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
	"ospf": 89, "pgm": 113, "vrrp": 112, "sctp": 132, "dccp": 33, "udplite": 136,
}

// hasPorts is whether a protocol's rules take a port range.
func hasPorts(p uint8) bool {
	return p == protoTCP || p == protoUDP || p == 132 || p == 33 || p == 136
}

// rule translates one group rule into one nft rule that accepts what it
// allows, and the set it refers to (a remote group's id, or an address
// group's addrGroupKey); ok is false for rules this data plane cannot
// express, which then allow nothing.
func rule(r *model.SecurityGroupRule) (nr desired.NftRule, remote string, ok bool) {
	nr, ok = ruleMatch(r)
	switch {
	case !ok:
		return nr, "", false
	case r.RemoteGroupID != nil && *r.RemoteGroupID != "":
		remote = *r.RemoteGroupID
	case r.RemoteAddressGroupID != nil && *r.RemoteAddressGroupID != "":
		remote = addrGroupKey(*r.RemoteAddressGroupID)
	default:
		return nr, "", true
	}
	v6 := nr.L3Proto == "ip6"
	set := remoteSet(remote, "v4")
	if v6 {
		set = remoteSet(remote, "v6")
	}
	switch {
	case r.Direction != "egress" && v6:
		nr.Saddr6Set = set
	case r.Direction != "egress":
		nr.SaddrSet = set
	case v6:
		nr.Daddr6Set = set
	default:
		nr.DaddrSet = set
	}
	return nr, remote, true
}

// ruleMatch is a rule's protocol, ports and remote prefix.
func ruleMatch(r *model.SecurityGroupRule) (desired.NftRule, bool) {
	v6 := strings.EqualFold(r.EtherType, "IPv6")
	nr := desired.NftRule{L3Proto: "ip", Accept: true, Comment: "rule " + r.ID}
	if v6 {
		nr.L3Proto = "ip6"
	}
	if r.Protocol != nil {
		p := strings.ToLower(*r.Protocol)
		n, ok := protocols[p]
		if !ok && p != "" && p != "any" {
			v, err := strconv.ParseUint(p, 10, 8)
			if err != nil {
				return nr, false
			}
			n = uint8(v)
		}
		if n == protoICMP && v6 {
			n = protoICMPv6 // upstream: icmp with IPv6 is ICMPv6
		}
		nr.L4Proto = n
	}
	lo, hi := intOr(r.PortRangeMin), intOr(r.PortRangeMax)
	switch {
	case hasPorts(nr.L4Proto) && lo > 0:
		nr.DportMin, nr.DportMax = uint16(lo), uint16(max(hi, lo))
		if nr.DportMax == nr.DportMin {
			nr.DportMax = 0
		}
	case nr.L4Proto == protoICMP || nr.L4Proto == protoICMPv6:
		// port_range_min is the ICMP type, port_range_max its code.
		if r.PortRangeMin != nil {
			nr.MatchICMPType, nr.ICMPType = true, uint8(lo)
			if r.PortRangeMax != nil {
				nr.MatchICMPCode, nr.ICMPCode = true, uint8(hi)
			}
		}
	}
	ingress := r.Direction != "egress"
	if r.RemoteIPPrefix != nil && *r.RemoteIPPrefix != "" {
		p, ok := parsePrefix(*r.RemoteIPPrefix)
		if !ok || p.Addr().Is6() != v6 {
			return nr, false
		}
		if p.Bits() > 0 {
			if ingress {
				nr.Saddr = p
			} else {
				nr.Daddr = p
			}
		}
	}
	return nr, true
}

func intOr(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// memberPrefixes are what a port adds to the member sets of its
// groups: its fixed IPs and allowed address pairs.
func memberPrefixes(p *model.Port) (v4, v6 []netip.Prefix) {
	for _, s := range sources(localPort{p: p}) {
		if s.prefix.Addr().Is4() {
			v4 = append(v4, s.prefix)
		} else {
			v6 = append(v6, s.prefix)
		}
	}
	return v4, v6
}

// dedup sorts prefixes (comparePrefix) and drops duplicates.
func dedup(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, comparePrefix)
	return slices.Compact(ps)
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
