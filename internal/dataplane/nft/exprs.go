package nft

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/neutrino-net/neutrino/internal/desired"
	"golang.org/x/sys/unix"
)

// ruleBuilder builds a rule's expressions, in the order `nft` writes
// them. Every match loads into register 1 and compares; NAT actions load
// the address or port into register 1.
type ruleBuilder struct {
	e      []expr.Any
	family nftables.TableFamily
	ids    map[string]uint32
	isIPv4 bool // the IPv4 protocol check is in place
	isIPv6 bool // the IPv6 one
	isARP  bool // the ARP one (bridge)
}

const saddrOff, daddrOff = 12, 16

// ipsDstNAT is IPS_DST_NAT of the conntrack status (host byte order).
const ipsDstNAT = 1 << 5

// ruleExprs builds the expressions of rule r in a table of the family.
func ruleExprs(r desired.NftRule, family nftables.TableFamily, ids map[string]uint32) ([]expr.Any, error) {
	b := &ruleBuilder{family: family, ids: ids, isIPv4: family == nftables.TableFamilyIPv4}
	b.matches(r)
	if err := b.action(r); err != nil {
		return nil, err
	}
	return b.e, nil
}

func (b *ruleBuilder) ifname(key expr.MetaKey, name string, op expr.CmpOp) {
	b.e = append(b.e, &expr.Meta{Key: key, Register: 1})
	if p, ok := strings.CutSuffix(name, "*"); ok {
		// Wildcard: compare only the prefix bytes.
		if p != "" {
			b.e = append(b.e, &expr.Cmp{Op: op, Register: 1, Data: []byte(p)})
		} else {
			b.e = b.e[:len(b.e)-1]
		}
		return
	}
	d := make([]byte, unix.IFNAMSIZ)
	copy(d, name)
	b.e = append(b.e, &expr.Cmp{Op: op, Register: 1, Data: d})
}

// ipv4 makes sure the packet is IPv4 before its network header is read
// as one: implicit in an ip table, "meta nfproto ipv4" in an inet table,
// "meta protocol ip" in a bridge table.
func (b *ruleBuilder) ipv4() {
	if b.isIPv4 {
		return
	}
	b.isIPv4 = true
	if b.family == nftables.TableFamilyBridge {
		b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IP)})
		return
	}
	b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
}

func (b *ruleBuilder) ipField(offset uint32) {
	b.ipv4()
	b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4})
}

func (b *ruleBuilder) lookup(set string, invert bool) {
	b.e = append(b.e, &expr.Lookup{SourceRegister: 1, SetName: set, SetID: b.ids[set], Invert: invert})
}

func (b *ruleBuilder) ctDNAT(op expr.CmpOp) {
	b.e = append(b.e,
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)})
}

func (b *ruleBuilder) matches(r desired.NftRule) {
	if r.IifName != "" {
		b.ifname(expr.MetaKeyIIFNAME, r.IifName, expr.CmpOpEq)
	}
	if r.OifName != "" {
		b.ifname(expr.MetaKeyOIFNAME, r.OifName, expr.CmpOpEq)
	}
	if r.NotOifName != "" {
		b.ifname(expr.MetaKeyOIFNAME, r.NotOifName, expr.CmpOpNeq)
	}
	b.sgMatches(r)
	if r.SaddrSet != "" {
		b.ipField(saddrOff)
		b.lookup(r.SaddrSet, false)
	}
	if r.DaddrSet != "" {
		b.ipField(daddrOff)
		b.lookup(r.DaddrSet, false)
	}
	if r.NotDaddrSet != "" {
		b.ipField(daddrOff)
		b.lookup(r.NotDaddrSet, true)
	}
	if r.Daddr.IsValid() && r.Daddr.Bits() > 0 {
		b.prefix(r.Daddr, daddrOff, ip6DaddrOff)
	}
	b.l4Matches(r)
	if r.TCPDport != 0 || r.RedirectTo != 0 {
		// A transport header match needs the protocol matched first, and
		// a port redirect needs a transport protocol (nft refuses one
		// without); the agent only redirects TCP (metadata).
		b.e = append(b.e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}})
	}
	if r.TCPDport != 0 {
		b.e = append(b.e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.TCPDport)})
	}
	if r.CtStateNotDNAT {
		b.ctDNAT(expr.CmpOpEq) // ct status & dnat == 0
	}
	if r.CtStateDNAT {
		b.ctDNAT(expr.CmpOpNeq) // ct status & dnat != 0
	}
	if r.EtherSaddr != "" {
		b.ether(etherSaddrOff, r.EtherSaddr)
	}
	if r.EtherDaddr != "" {
		b.ether(etherDaddrOff, r.EtherDaddr)
	}
	if r.ARPTargetIP.IsValid() {
		b.arpTarget(r.ARPTargetIP)
	}
	b.etherSets(r)
}

// etherSets looks a frame's Ethernet addresses, or an ARP packet's
// target address, up in hash sets (checked by compile to be hash sets
// of the right type).
func (b *ruleBuilder) etherSets(r desired.NftRule) {
	if r.EtherSaddrSet != "" {
		b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: etherSaddrOff, Len: 6})
		b.lookup(r.EtherSaddrSet, false)
	}
	if r.EtherDaddrSet != "" {
		b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: etherDaddrOff, Len: 6})
		b.lookup(r.EtherDaddrSet, false)
	}
	if r.ARPTargetSet != "" {
		b.e = append(b.e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: etherTypeOff, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_ARP)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: arpTPAOff, Len: 4})
		b.lookup(r.ARPTargetSet, false)
	}
}

// Offsets in the Ethernet header and of the target protocol address in
// an Ethernet/IPv4 ARP packet (RFC 826: htype 2, ptype 2, hlen 1, plen
// 1, op 2, sha 6, spa 4, tha 6, tpa 4).
const (
	etherDaddrOff, etherSaddrOff, etherTypeOff = 0, 6, 12
	arpTPAOff                                  = 24
)

// ether matches a MAC address in the Ethernet header (checked by
// compile, so the parse cannot fail here).
func (b *ruleBuilder) ether(offset uint32, mac string) {
	hw, _ := parseMAC(mac)
	b.e = append(b.e,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: offset, Len: 6},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(hw)})
}

// arpTarget matches ARP packets (any op) whose target protocol address
// is addr: `arp daddr ip <addr>` with the dependency nft itself adds
// (ether type arp), so that `nft list` shows the rule as written.
func (b *ruleBuilder) arpTarget(addr netip.Addr) {
	b.e = append(b.e,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: etherTypeOff, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_ARP)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: arpTPAOff, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()})
}

func (b *ruleBuilder) action(r desired.NftRule) error {
	switch {
	case r.DNATMap != "":
		b.ipField(daddrOff)
		b.e = append(b.e,
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: r.DNATMap, SetID: b.ids[r.DNATMap]},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
	case r.SNATMap != "":
		b.ipField(saddrOff)
		b.e = append(b.e,
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: r.SNATMap, SetID: b.ids[r.SNATMap]},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
	case r.SNATTo.IsValid():
		b.ipv4()
		b.e = append(b.e,
			&expr.Immediate{Register: 1, Data: r.SNATTo.AsSlice()},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
	case r.RedirectTo != 0:
		const natRangeProtoSpecified = 1 << 1 // NF_NAT_RANGE_PROTO_SPECIFIED
		b.e = append(b.e,
			&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(r.RedirectTo)},
			&expr.Redir{RegisterProtoMin: 1, Flags: natRangeProtoSpecified})
	case r.Accept:
		b.e = append(b.e, &expr.Verdict{Kind: expr.VerdictAccept})
	case r.Drop:
		b.e = append(b.e, &expr.Verdict{Kind: expr.VerdictDrop})
	case r.SetEtherSaddr != "":
		// A payload write and no verdict: the frame continues through
		// the chain (and on to its port) with the new source MAC.
		hw, _ := parseMAC(r.SetEtherSaddr)
		b.e = append(b.e,
			&expr.Immediate{Register: 1, Data: []byte(hw)},
			&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: expr.PayloadBaseLLHeader,
				Offset: etherSaddrOff, Len: 6, CsumType: expr.CsumTypeNone})
	default:
		if !b.sgAction(r) {
			return errors.New("rule has no action")
		}
	}
	return nil
}
