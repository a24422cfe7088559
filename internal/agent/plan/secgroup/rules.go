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

// groups collects, while the ports' chains are planned, the groups they
// use and the remote groups those groups' rules refer to.
type groups struct {
	s      *hostmodel.Snapshot
	rules  map[string][]*model.SecurityGroupRule // by group, sorted by id
	used   map[string]bool                       // groups of local ports
	remote map[string]bool                       // remote_group_id of used groups' rules
}

func newGroups(s *hostmodel.Snapshot) *groups {
	g := &groups{s: s, rules: map[string][]*model.SecurityGroupRule{}, used: map[string]bool{}, remote: map[string]bool{}}
	for _, r := range s.SGRules {
		g.rules[r.SecurityGroupID] = append(g.rules[r.SecurityGroupID], r)
	}
	for _, rs := range g.rules {
		slices.SortFunc(rs, func(a, b *model.SecurityGroupRule) int { return strings.Compare(a.ID, b.ID) })
	}
	return g
}

// stateful reports whether a port's traffic is filtered statefully: a
// port's groups are all stateful or all stateless (upstream refuses a
// mix); an unknown group counts as stateful.
func (g *groups) stateful(p *model.Port) bool {
	for _, id := range p.SecurityGroups {
		if sg := g.s.SGs[id]; sg != nil && !sg.Stateful {
			return false
		}
	}
	return true
}

// portChains returns the port's eg- and in- chains.
func (g *groups) portChains(lp localPort) (egress, ingress desired.NftChain) {
	egress = desired.NftChain{Name: egChain(lp.Tap)}
	ingress = desired.NftChain{Name: inChain(lp.Tap)}
	if g.stateful(lp.p) {
		ct := []desired.NftRule{
			{CtState: "established,related", Accept: true},
			{CtState: "invalid", Drop: true},
		}
		egress.Rules = append(egress.Rules, ct...)
		ingress.Rules = append(ingress.Rules, ct...)
	}
	// Built in, as upstream: DHCP and DHCPv6 clients, the ICMPv6 a host
	// needs (router and neighbour discovery, MLD).
	egress.Rules = append(egress.Rules,
		desired.NftRule{L3Proto: "ip", L4Proto: protoUDP, SportMin: dhcpClient, DportMin: dhcpServer, Accept: true},
		desired.NftRule{L3Proto: "ip6", L4Proto: protoUDP, SportMin: dhcp6Client, DportMin: dhcp6Server, Accept: true})
	ingress.Rules = append(ingress.Rules,
		desired.NftRule{L3Proto: "ip", L4Proto: protoUDP, SportMin: dhcpServer, DportMin: dhcpClient, Accept: true},
		desired.NftRule{L3Proto: "ip6", L4Proto: protoUDP, SportMin: dhcp6Server, DportMin: dhcp6Client, Accept: true})
	for _, t := range []uint8{icmp6RouterSol, icmp6NeighSol, icmp6NeighA, icmp6MLDReport, icmp6MLDDone, icmp6MLDv2Report} {
		egress.Rules = append(egress.Rules, icmp6(t))
	}
	for _, t := range []uint8{icmp6MLDQuery, icmp6RouterAdvert, icmp6NeighSol, icmp6NeighA} {
		ingress.Rules = append(ingress.Rules, icmp6(t))
	}
	ids := slices.Clone(lp.p.SecurityGroups)
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if g.s.SGs[id] == nil {
			continue // not (yet) in the view: no rules, nothing allowed
		}
		g.used[id] = true
		egress.Rules = append(egress.Rules, desired.NftRule{Jump: groupChain(id, "eg")})
		ingress.Rules = append(ingress.Rules, desired.NftRule{Jump: groupChain(id, "in")})
	}
	egress.Rules = append(egress.Rules, desired.NftRule{Drop: true})
	ingress.Rules = append(ingress.Rules, desired.NftRule{Drop: true})
	return egress, ingress
}

func icmp6(t uint8) desired.NftRule {
	return desired.NftRule{L3Proto: "ip6", L4Proto: protoICMPv6, MatchICMPType: true, ICMPType: t, Accept: true}
}

// chains returns the chains of the used groups.
func (g *groups) chains() []desired.NftChain {
	var out []desired.NftChain
	for id := range g.used {
		// Every rule accepts: the order does not matter, and a rule
		// added or removed is one rule in the kernel.
		in := desired.NftChain{Name: groupChain(id, "in"), Unordered: true}
		eg := desired.NftChain{Name: groupChain(id, "eg"), Unordered: true}
		for _, r := range g.rules[id] {
			nr, ok := g.rule(r)
			if !ok {
				continue
			}
			if r.Direction == "egress" {
				eg.Rules = append(eg.Rules, nr)
			} else {
				in.Rules = append(in.Rules, nr)
			}
		}
		out = append(out, in, eg)
	}
	return out
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
// allows; ok is false for rules this data plane cannot express (remote
// address groups), which then allow nothing.
func (g *groups) rule(r *model.SecurityGroupRule) (desired.NftRule, bool) {
	v6 := strings.EqualFold(r.EtherType, "IPv6")
	nr := desired.NftRule{L3Proto: "ip", Accept: true, Comment: "rule " + r.ID}
	if v6 {
		nr.L3Proto = "ip6"
	}
	if r.RemoteAddressGroupID != nil && *r.RemoteAddressGroupID != "" {
		return nr, false
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
	if r.RemoteGroupID != nil && *r.RemoteGroupID != "" {
		g.remote[*r.RemoteGroupID] = true
		set := remoteSet(*r.RemoteGroupID, "v4")
		if v6 {
			set = remoteSet(*r.RemoteGroupID, "v6")
		}
		switch {
		case ingress && v6:
			nr.Saddr6Set = set
		case ingress:
			nr.SaddrSet = set
		case v6:
			nr.Daddr6Set = set
		default:
			nr.DaddrSet = set
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

// sets returns the member sets of the remote groups: the addresses
// (fixed IPs and allowed address pairs) of every port in the view that
// uses the group. IPv6 sets hold single addresses: an IPv6 allowed
// address pair that is a prefix is left out.
func (g *groups) sets() []desired.NftSet {
	if len(g.remote) == 0 {
		return nil
	}
	v4 := map[string][]netip.Prefix{}
	v6 := map[string][]netip.Prefix{}
	for _, p := range g.s.Ports {
		for _, id := range p.SecurityGroups {
			if !g.remote[id] {
				continue
			}
			for _, s := range sources(localPort{p: p}) {
				switch {
				case s.prefix.Addr().Is4():
					v4[id] = append(v4[id], s.prefix)
				case s.prefix.Bits() == 128:
					v6[id] = append(v6[id], s.prefix)
				}
			}
		}
	}
	var out []desired.NftSet
	for id := range g.remote {
		out = append(out,
			desired.NftSet{Name: remoteSet(id, "v4"), Type: desired.TypeIPv4Addr, Elements: v4[id]},
			desired.NftSet{Name: remoteSet(id, "v6"), Type: desired.TypeIPv6Addr, Elements: dedup(v6[id])})
	}
	return out
}

func dedup(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return slices.Compact(ps)
}
