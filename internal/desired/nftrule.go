package desired

import (
	"fmt"
	"net/netip"
	"strings"
)

// NftRule is one rule; exactly one action field is set. Matches are ANDed.
// Zero values mean "no match" / "no action", so a rule literal names only
// what it uses.
type NftRule struct {
	// Matches.
	IifName        string       // input interface (exact, or prefix with trailing "*")
	OifName        string       // output interface (exact, or prefix with trailing "*")
	NotOifName     string       // oifname != <name>
	SaddrSet       string       // ip saddr @set
	DaddrSet       string       // ip daddr @set
	NotDaddrSet    string       // ip daddr != @set
	Daddr          netip.Prefix // ip daddr <prefix> (ip6 daddr for an IPv6 prefix)
	TCPDport       uint16       // tcp dport <n>
	CtStateNotDNAT bool         // ct status != dnat (do not SNAT what was DNATed in)
	CtStateDNAT    bool         // ct status dnat
	// Bridge family only: Ethernet addresses ("fa:16:3e:00:00:01") and
	// the target protocol address of an ARP packet (any op).
	EtherSaddr  string     // ether saddr <mac>
	EtherDaddr  string     // ether daddr <mac>
	ARPTargetIP netip.Addr // arp daddr ip <addr>
	// The same looked up in hash sets (NftSet.Hash) of ether_addr, and
	// of ipv4_addr for the ARP target: one rule for any number of
	// addresses, at the cost of one.
	EtherSaddrSet string // ether saddr @set
	EtherDaddrSet string // ether daddr @set
	ARPTargetSet  string // arp daddr ip @set

	// Security group matches (internal/agent/plan/secgroup).
	// L3Proto is "ip", "ip6" or "arp": meta nfproto in ip/inet tables,
	// meta protocol (the ether type) in a bridge table.
	L3Proto string
	Saddr   netip.Prefix // ip saddr <prefix> (ip6 saddr for an IPv6 prefix)
	// Saddr6Set and Daddr6Set look the IPv6 address up in an ipv6_addr set.
	Saddr6Set, Daddr6Set string
	// L4Proto matches meta l4proto (0 = any protocol).
	L4Proto uint8
	// Transport ports (th sport/dport; needs L4Proto): Min alone is one
	// port, Min..Max a range.
	SportMin, SportMax uint16
	DportMin, DportMax uint16
	// ICMP type and code (the first two bytes of the ICMP or ICMPv6
	// header; needs L4Proto 1 or 58).
	MatchICMPType, MatchICMPCode bool
	ICMPType, ICMPCode           uint8
	// ARP sender hardware and protocol addresses (bridge family).
	ARPSenderMAC string       // arp saddr ether <mac>
	ARPSenderIP  netip.Prefix // arp saddr ip <prefix>
	// CtState is a comma-separated list of conntrack states
	// ("established,related", "invalid", "new"): any of them matches.
	CtState string
	// MatchMark matches meta mark & MarkMask == Mark (MarkMask 0 = all bits).
	MatchMark      bool
	Mark, MarkMask uint32

	// Actions.
	DNATMap    string     // dnat to ip daddr map @<map>
	SNATMap    string     // snat to ip saddr map @<map>
	SNATTo     netip.Addr // snat to <addr>
	RedirectTo uint16     // redirect to :<port>
	Accept     bool
	Drop       bool
	Return     bool
	Jump       string // jump <chain>
	Goto       string // goto <chain>
	// Vmap looks the packet's VmapKey ("iifname", "oifname" or "mark",
	// the latter masked by VmapMask unless 0) up in verdict map Vmap.
	Vmap     string
	VmapKey  string
	VmapMask uint32
	// SetEtherSaddr rewrites the frame's source MAC (bridge family
	// only). It is a statement, not a verdict: the frame goes on through
	// the chain, so it is the rule's only action. So are SetMark and
	// SetCtZone.
	SetEtherSaddr string // ether saddr set <mac>
	// SetMarkOp "set" sets meta mark to SetMark, "or" ors SetMark in.
	SetMarkOp string
	SetMark   uint32
	// SetCtZone sets the conntrack zone (0 = no action); it must run
	// before conntrack (priority raw).
	SetCtZone uint16
	Comment   string // shown in `nft list`; identifies the rule
}

// ipWord is "ip" or "ip6" for an address.
func ipWord(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "ip6"
	}
	return "ip"
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
	if r.MatchMark {
		if r.MarkMask != 0 {
			add("meta mark & 0x%08x == 0x%08x", r.MarkMask, r.Mark)
		} else {
			add("meta mark 0x%08x", r.Mark)
		}
	}
	if r.L3Proto != "" {
		add("meta protocol %s", r.L3Proto)
	}
	if r.EtherSaddr != "" {
		add("ether saddr %s", r.EtherSaddr)
	}
	if r.EtherDaddr != "" {
		add("ether daddr %s", r.EtherDaddr)
	}
	if r.EtherSaddrSet != "" {
		add("ether saddr @%s", r.EtherSaddrSet)
	}
	if r.EtherDaddrSet != "" {
		add("ether daddr @%s", r.EtherDaddrSet)
	}
	if r.ARPSenderMAC != "" {
		add("arp saddr ether %s", r.ARPSenderMAC)
	}
	if r.ARPSenderIP.IsValid() {
		add("arp saddr ip %s", r.ARPSenderIP)
	}
	if r.Saddr.IsValid() {
		add("%s saddr %s", ipWord(r.Saddr.Addr()), r.Saddr)
	}
	if r.SaddrSet != "" {
		add("ip saddr @%s", r.SaddrSet)
	}
	if r.Saddr6Set != "" {
		add("ip6 saddr @%s", r.Saddr6Set)
	}
	if r.DaddrSet != "" {
		add("ip daddr @%s", r.DaddrSet)
	}
	if r.Daddr6Set != "" {
		add("ip6 daddr @%s", r.Daddr6Set)
	}
	if r.NotDaddrSet != "" {
		add("ip daddr != @%s", r.NotDaddrSet)
	}
	if r.Daddr.IsValid() {
		add("%s daddr %s", ipWord(r.Daddr.Addr()), r.Daddr)
	}
	if r.L4Proto != 0 {
		add("meta l4proto %d", r.L4Proto)
	}
	portRange := func(name string, lo, hi uint16) {
		switch {
		case lo == 0:
		case hi > lo:
			add("th %s %d-%d", name, lo, hi)
		default:
			add("th %s %d", name, lo)
		}
	}
	portRange("sport", r.SportMin, r.SportMax)
	portRange("dport", r.DportMin, r.DportMax)
	if r.MatchICMPType {
		add("icmp type %d", r.ICMPType)
	}
	if r.MatchICMPCode {
		add("icmp code %d", r.ICMPCode)
	}
	if r.TCPDport != 0 {
		add("tcp dport %d", r.TCPDport)
	}
	if r.CtState != "" {
		add("ct state %s", r.CtState)
	}
	if r.CtStateNotDNAT {
		add("ct status != dnat")
	}
	if r.CtStateDNAT {
		add("ct status dnat")
	}
	if r.ARPTargetIP.IsValid() {
		add("arp daddr ip %s", r.ARPTargetIP)
	}
	if r.ARPTargetSet != "" {
		add("arp daddr ip @%s", r.ARPTargetSet)
	}
	parts = append(parts, r.actionString()...)
	if r.Comment != "" {
		add("comment %q", r.Comment)
	}
	return strings.Join(parts, " ")
}

func (r NftRule) actionString() []string {
	switch {
	case r.DNATMap != "":
		return []string{"dnat to ip daddr map @" + r.DNATMap}
	case r.SNATMap != "":
		return []string{"snat to ip saddr map @" + r.SNATMap}
	case r.SNATTo.IsValid():
		return []string{"snat to " + r.SNATTo.String()}
	case r.RedirectTo != 0:
		return []string{fmt.Sprintf("redirect to :%d", r.RedirectTo)}
	case r.Accept:
		return []string{"accept"}
	case r.Drop:
		return []string{"drop"}
	case r.Return:
		return []string{"return"}
	case r.Jump != "":
		return []string{"jump " + r.Jump}
	case r.Goto != "":
		return []string{"goto " + r.Goto}
	case r.Vmap != "":
		key := r.VmapKey
		if r.VmapMask != 0 {
			key = fmt.Sprintf("meta mark & 0x%08x", r.VmapMask)
		} else if key == "mark" {
			key = "meta mark"
		}
		return []string{key + " vmap @" + r.Vmap}
	case r.SetEtherSaddr != "":
		return []string{"ether saddr set " + r.SetEtherSaddr}
	case r.SetMarkOp == "or":
		return []string{fmt.Sprintf("meta mark set meta mark | 0x%08x", r.SetMark)}
	case r.SetMarkOp != "":
		return []string{fmt.Sprintf("meta mark set 0x%08x", r.SetMark)}
	case r.SetCtZone != 0:
		return []string{fmt.Sprintf("ct zone set %d", r.SetCtZone)}
	}
	return nil
}
