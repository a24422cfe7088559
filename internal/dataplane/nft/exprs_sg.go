package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/neutrino-net/neutrino/internal/desired"
	"golang.org/x/sys/unix"
)

// The matches and actions security groups need (internal/agent/plan/
// secgroup): protocol families, IPv6 addresses, transport port ranges,
// ICMP type/code, ARP senders, conntrack state and zone, packet marks,
// jumps and verdict maps.

// IPv6 header offsets and ARP sender offsets (Ethernet/IPv4 ARP).
const (
	ip6SaddrOff, ip6DaddrOff = 8, 24
	arpSHAOff, arpSPAOff     = 8, 14
)

var ctStates = map[string]uint32{
	"invalid": expr.CtStateBitINVALID, "established": expr.CtStateBitESTABLISHED,
	"related": expr.CtStateBitRELATED, "new": expr.CtStateBitNEW, "untracked": expr.CtStateBitUNTRACKED,
}

func ctStateBits(s string) (uint32, error) {
	var bits uint32
	for _, w := range strings.Split(s, ",") {
		b, ok := ctStates[strings.TrimSpace(w)]
		if !ok {
			return 0, fmt.Errorf("unknown ct state %q", w)
		}
		bits |= b
	}
	return bits, nil
}

// checkSGFields validates the security-group fields of a rule.
func checkSGFields(r desired.NftRule, fam nftables.TableFamily, sets map[string]*wantSet) error {
	bridge := fam == nftables.TableFamilyBridge
	switch r.L3Proto {
	case "", "ip", "ip6":
	case "arp":
		if !bridge {
			return errors.New("meta protocol arp: only in a bridge table")
		}
	default:
		return fmt.Errorf("unknown L3Proto %q", r.L3Proto)
	}
	v6 := r.L3Proto == "ip6" || r.Saddr6Set != "" || r.Daddr6Set != "" ||
		(r.Saddr.IsValid() && r.Saddr.Addr().Is6()) || (r.Daddr.IsValid() && r.Daddr.Addr().Is6())
	v4 := r.L3Proto == "ip" || r.SaddrSet != "" || r.DaddrSet != "" || r.NotDaddrSet != "" ||
		(r.Saddr.IsValid() && r.Saddr.Addr().Is4()) || (r.Daddr.IsValid() && r.Daddr.Addr().Is4())
	if v4 && v6 {
		return errors.New("mixes IPv4 and IPv6 matches")
	}
	if (v4 || v6) && (r.L3Proto == "arp" || r.ARPSenderMAC != "" || r.ARPSenderIP.IsValid() || r.ARPTargetIP.IsValid()) {
		return errors.New("mixes ARP and IP matches")
	}
	if fam == nftables.TableFamilyIPv4 && v6 {
		return errors.New("IPv6 match in an ip table")
	}
	for _, name := range []string{r.Saddr6Set, r.Daddr6Set} {
		if name != "" && !sets[name].v6 {
			return fmt.Errorf("%s is not an ipv6_addr set", name)
		}
	}
	for _, name := range []string{r.SaddrSet, r.DaddrSet, r.NotDaddrSet} {
		if name != "" && (sets[name].raw != nil || sets[name].v6) {
			return fmt.Errorf("%s is not an ipv4_addr set", name)
		}
	}
	ports := r.SportMin != 0 || r.DportMin != 0 || r.SportMax != 0 || r.DportMax != 0
	if ports && (r.L4Proto == 0 || r.TCPDport != 0) {
		return errors.New("port matches need L4Proto (and not TCPDport)")
	}
	if (r.SportMax != 0 && r.SportMax < r.SportMin) || (r.DportMax != 0 && r.DportMax < r.DportMin) {
		return errors.New("port range max below min")
	}
	if (r.MatchICMPType || r.MatchICMPCode) && r.L4Proto != unix.IPPROTO_ICMP && r.L4Proto != unix.IPPROTO_ICMPV6 {
		return errors.New("icmp type/code need L4Proto 1 or 58")
	}
	if (r.ARPSenderMAC != "" || r.ARPSenderIP.IsValid()) && !bridge {
		return errors.New("arp saddr: only in a bridge table")
	}
	if r.ARPSenderMAC != "" {
		if _, err := parseMAC(r.ARPSenderMAC); err != nil {
			return fmt.Errorf("arp saddr ether: %w", err)
		}
	}
	if r.ARPSenderIP.IsValid() && !r.ARPSenderIP.Addr().Is4() {
		return errors.New("arp saddr ip is not IPv4")
	}
	if (r.CtState != "" || r.SetCtZone != 0) && bridge {
		return errors.New("conntrack: not in a bridge table (no bridge conntrack on this kernel)")
	}
	if r.CtState != "" {
		if _, err := ctStateBits(r.CtState); err != nil {
			return err
		}
	}
	switch r.SetMarkOp {
	case "", "set", "or":
	default:
		return fmt.Errorf("unknown SetMarkOp %q", r.SetMarkOp)
	}
	return checkVmapRule(r, sets)
}

func checkVmapRule(r desired.NftRule, sets map[string]*wantSet) error {
	if r.Vmap == "" {
		return nil
	}
	rt := sets[r.Vmap].raw
	if rt == nil || !rt.verdict {
		return fmt.Errorf("%s is not a verdict map", r.Vmap)
	}
	switch r.VmapKey {
	case "iifname", "oifname":
		if rt.key != nftables.TypeIFName || r.VmapMask != 0 {
			return fmt.Errorf("vmap on %s needs an ifname map and no mask", r.VmapKey)
		}
	case "mark":
		if rt.key != nftables.TypeMark {
			return errors.New("vmap on mark needs a mark map")
		}
	default:
		return fmt.Errorf("unknown VmapKey %q", r.VmapKey)
	}
	return nil
}

// l3proto checks the packet's network protocol once per rule.
func (b *ruleBuilder) l3proto(p string) {
	switch p {
	case "ip":
		b.ipv4()
		return
	case "ip6":
		b.ipv6()
		return
	}
	// arp: bridge only (checked).
	b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_ARP)})
	b.isARP = true
}

func (b *ruleBuilder) ipv6() {
	if b.isIPv6 {
		return
	}
	b.isIPv6 = true
	if b.family == nftables.TableFamilyBridge {
		b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IPV6)})
		return
	}
	b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}})
}

// prefix matches an address field (IPv4 offset v4off or IPv6 offset
// v6off) against a prefix.
func (b *ruleBuilder) prefix(p netip.Prefix, v4off, v6off uint32) {
	p = p.Masked()
	n := uint32(4)
	if p.Addr().Is4() {
		b.ipField(v4off)
	} else {
		b.ipv6()
		n = 16
		b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: v6off, Len: n})
	}
	if p.Bits() < int(n*8) {
		mask := make([]byte, n)
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		b.e = append(b.e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)})
	}
	b.e = append(b.e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()})
}

func (b *ruleBuilder) ip6Lookup(off uint32, set string) {
	b.ipv6()
	b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 16})
	b.lookup(set, false)
}

func (b *ruleBuilder) arpHeader() {
	if !b.isARP {
		b.l3proto("arp")
	}
}

func (b *ruleBuilder) portMatch(off uint32, lo, hi uint16) {
	if lo == 0 && hi == 0 {
		return
	}
	b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2})
	if hi > lo {
		b.e = append(b.e, &expr.Range{Op: expr.CmpOpEq, Register: 1,
			FromData: binaryutil.BigEndian.PutUint16(lo), ToData: binaryutil.BigEndian.PutUint16(hi)})
		return
	}
	b.e = append(b.e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(lo)})
}

func (b *ruleBuilder) thByte(off uint32, v uint8) {
	b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{v}})
}

// loadMark loads meta mark & mask (mask 0: the whole mark).
func (b *ruleBuilder) loadMark(mask uint32) {
	b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyMARK, Register: 1})
	if mask != 0 {
		b.e = append(b.e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: make([]byte, 4)})
	}
}

// sgMatches adds the security-group matches, in the order String
// renders them (after the interface names).
func (b *ruleBuilder) sgMatches(r desired.NftRule) {
	if r.MatchMark {
		b.loadMark(r.MarkMask)
		b.e = append(b.e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.Mark)})
	}
	if r.L3Proto != "" {
		b.l3proto(r.L3Proto)
	}
	if r.ARPSenderMAC != "" {
		b.arpHeader()
		hw, _ := parseMAC(r.ARPSenderMAC)
		b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: arpSHAOff, Len: 6},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(hw)})
	}
	if r.ARPSenderIP.IsValid() {
		b.arpHeader()
		p := r.ARPSenderIP.Masked()
		b.e = append(b.e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: arpSPAOff, Len: 4})
		if p.Bits() < 32 {
			b.e = append(b.e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: u32Bytes(^uint32(0) << (32 - p.Bits())), Xor: make([]byte, 4)})
		}
		b.e = append(b.e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()})
	}
	if r.Saddr.IsValid() {
		b.prefix(r.Saddr, saddrOff, ip6SaddrOff)
	}
	if r.Saddr6Set != "" {
		b.ip6Lookup(ip6SaddrOff, r.Saddr6Set)
	}
	if r.Daddr6Set != "" {
		b.ip6Lookup(ip6DaddrOff, r.Daddr6Set)
	}
}

// l4Matches adds the transport matches and ct state.
func (b *ruleBuilder) l4Matches(r desired.NftRule) {
	if r.L4Proto != 0 {
		b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.L4Proto}})
	}
	b.portMatch(0, r.SportMin, r.SportMax)
	b.portMatch(2, r.DportMin, r.DportMax)
	if r.MatchICMPType {
		b.thByte(0, r.ICMPType)
	}
	if r.MatchICMPCode {
		b.thByte(1, r.ICMPCode)
	}
	if r.CtState != "" {
		bits, _ := ctStateBits(r.CtState)
		b.e = append(b.e, &expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
	}
}

// sgAction builds the verdicts and statements security groups add; ok
// is false if the rule has none of them.
func (b *ruleBuilder) sgAction(r desired.NftRule) bool {
	switch {
	case r.Return:
		b.e = append(b.e, &expr.Verdict{Kind: expr.VerdictReturn})
	case r.Jump != "":
		b.e = append(b.e, &expr.Verdict{Kind: expr.VerdictJump, Chain: r.Jump})
	case r.Goto != "":
		b.e = append(b.e, &expr.Verdict{Kind: expr.VerdictGoto, Chain: r.Goto})
	case r.Vmap != "":
		switch r.VmapKey {
		case "iifname":
			b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1})
		case "oifname":
			b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1})
		default:
			b.loadMark(r.VmapMask)
		}
		b.e = append(b.e, &expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: r.Vmap, SetID: b.ids[r.Vmap]})
	case r.SetMarkOp == "set":
		b.e = append(b.e, &expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.SetMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
	case r.SetMarkOp == "or":
		// mark | v is (mark & ^v) ^ v: nft's own encoding of "or".
		b.e = append(b.e, &expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(^r.SetMark), Xor: binaryutil.NativeEndian.PutUint32(r.SetMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
	case r.SetCtZone != 0:
		b.e = append(b.e, &expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint16(r.SetCtZone)},
			&expr.Ct{Key: expr.CtKeyZONE, SourceRegister: true, Register: 1})
	default:
		return false
	}
	return true
}
