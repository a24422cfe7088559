package nft

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/neutrino-net/neutrino/internal/desired"
	"golang.org/x/sys/unix"
)

// ruleVersion is part of every chain fingerprint; bump it when the
// expressions built for a rule change so that existing chains are
// refilled.
const ruleVersion = "v3"

// tableKey identifies a table in a namespace.
type tableKey struct {
	family nftables.TableFamily
	name   string
}

var families = map[string]nftables.TableFamily{
	desired.FamilyIP:     nftables.TableFamilyIPv4,
	desired.FamilyINet:   nftables.TableFamilyINet,
	desired.FamilyBridge: nftables.TableFamilyBridge,
}

func familyName(f nftables.TableFamily) string {
	for n, v := range families {
		if v == f {
			return n
		}
	}
	return fmt.Sprint(f)
}

func knownFamily(f nftables.TableFamily) bool {
	for _, v := range families {
		if v == f {
			return true
		}
	}
	return false
}

func (k tableKey) String() string { return familyName(k.family) + " " + k.name }

// isDefault reports whether this is the legacy router's "ip neutrino"
// table, whose change lines carry no table name (as they always have).
func (k tableKey) isDefault() bool {
	return k.family == nftables.TableFamilyIPv4 && k.name == desired.NftOwnedPrefix
}

// wantTable is one desired table, validated and precomputed.
type wantTable struct {
	key    tableKey
	chains []*wantChain
	sets   map[string]*wantSet
	names  []string // set and map names, sorted
}

type wantChain struct {
	spec desired.NftChain
	typ  nftables.ChainType
	hook nftables.ChainHook
	fp   string // fingerprint of the chain spec
}

type wantSet struct {
	name   string
	isMap  bool
	elems  map[netip.Addr]netip.Addr // maps (IPv4, checked while diffing)
	ranges []ipRange                 // interval sets, merged and sorted
}

// ipRange is an inclusive IPv4 address range.
type ipRange struct{ lo, hi uint32 }

func (r ipRange) String() string {
	lo, hi := u32Addr(r.lo), u32Addr(r.hi)
	if r.lo == r.hi {
		return lo.String()
	}
	// A range that is exactly one prefix prints as the prefix.
	size := uint64(r.hi) - uint64(r.lo) + 1
	if size&(size-1) == 0 {
		bits := 32
		for s := size; s > 1; s >>= 1 {
			bits--
		}
		if p := netip.PrefixFrom(lo, bits); p.Masked().Addr() == lo {
			return p.String()
		}
	}
	return lo.String() + "-" + hi.String()
}

var chainHooks = map[string]nftables.ChainHook{
	"prerouting":  *nftables.ChainHookPrerouting,
	"input":       *nftables.ChainHookInput,
	"forward":     *nftables.ChainHookForward,
	"output":      *nftables.ChainHookOutput,
	"postrouting": *nftables.ChainHookPostrouting,
}

var chainTypes = map[string]nftables.ChainType{
	"nat":    nftables.ChainTypeNAT,
	"filter": nftables.ChainTypeFilter,
	"route":  nftables.ChainTypeRoute,
}

// compileAll validates the desired tables of a namespace.
func compileAll(want []desired.NftTable) ([]*wantTable, error) {
	var out []*wantTable
	seen := map[tableKey]bool{}
	for i := range want {
		w, err := compile(&want[i])
		if err != nil {
			return nil, err
		}
		if seen[w.key] {
			return nil, fmt.Errorf("nft table %s: listed twice", w.key)
		}
		seen[w.key] = true
		out = append(out, w)
	}
	return out, nil
}

// compile validates one table and precomputes what apply compares.
func compile(want *desired.NftTable) (*wantTable, error) {
	fam, ok := families[want.FamilyOrIP()]
	if !ok {
		return nil, fmt.Errorf("nft table %s: unknown family %q", want.NameOrDefault(), want.Family)
	}
	w := &wantTable{key: tableKey{fam, want.NameOrDefault()}, sets: map[string]*wantSet{}}
	if !strings.HasPrefix(w.key.name, desired.NftOwnedPrefix) {
		return nil, fmt.Errorf("nft table %s: name must start with %q", w.key, desired.NftOwnedPrefix)
	}
	if err := w.compileSets(want); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, ch := range want.Chains {
		if seen[ch.Name] || ch.Name == "" {
			return nil, fmt.Errorf("nft chain %q: empty or duplicate name", ch.Name)
		}
		seen[ch.Name] = true
		typ, ok := chainTypes[ch.Type]
		if !ok {
			return nil, fmt.Errorf("nft chain %s: unknown type %q", ch.Name, ch.Type)
		}
		if typ == nftables.ChainTypeNAT && fam == nftables.TableFamilyBridge {
			return nil, fmt.Errorf("nft chain %s: no nat chains in a bridge table", ch.Name)
		}
		hook, ok := chainHooks[ch.Hook]
		if !ok {
			return nil, fmt.Errorf("nft chain %s: unknown hook %q", ch.Name, ch.Hook)
		}
		for i, r := range ch.Rules {
			if err := checkRule(r, fam, w.sets); err != nil {
				return nil, fmt.Errorf("nft chain %s rule %d (%s): %w", ch.Name, i, r, err)
			}
		}
		w.chains = append(w.chains, &wantChain{spec: ch, typ: typ, hook: hook, fp: chainFingerprint(ch)})
	}
	return w, nil
}

func (w *wantTable) compileSets(want *desired.NftTable) error {
	for _, m := range want.Maps {
		if _, dup := w.sets[m.Name]; dup || m.Name == "" {
			return fmt.Errorf("nft map %q: empty or duplicate name", m.Name)
		}
		if k, v := m.Types(); k != desired.TypeIPv4Addr || v != desired.TypeIPv4Addr {
			return fmt.Errorf("nft map %s: type %s : %s not implemented (only ipv4_addr : ipv4_addr)", m.Name, k, v)
		}
		w.sets[m.Name] = &wantSet{name: m.Name, isMap: true, elems: m.Elements}
	}
	for _, s := range want.Sets {
		if _, dup := w.sets[s.Name]; dup || s.Name == "" {
			return fmt.Errorf("nft set %q: empty or duplicate name", s.Name)
		}
		if s.Type != "" && s.Type != desired.TypeIPv4Addr {
			return fmt.Errorf("nft set %s: type %s not implemented (only ipv4_addr)", s.Name, s.Type)
		}
		rs, err := mergePrefixes(s.Elements)
		if err != nil {
			return fmt.Errorf("nft set %s: %w", s.Name, err)
		}
		w.sets[s.Name] = &wantSet{name: s.Name, ranges: rs}
	}
	for name := range w.sets {
		w.names = append(w.names, name)
	}
	slices.Sort(w.names)
	return nil
}

// ruleFields has NftRule's fields and none of its methods, so that %+v
// prints every field, including ones added later.
type ruleFields desired.NftRule

func chainFingerprint(ch desired.NftChain) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%d\n", ruleVersion, ch.Name, ch.Type, ch.Hook, ch.Priority)
	for _, r := range ch.Rules {
		fmt.Fprintf(h, "%+v\n", ruleFields(r))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func checkRule(r desired.NftRule, fam nftables.TableFamily, sets map[string]*wantSet) error {
	actions := 0
	for _, set := range []bool{r.DNATMap != "", r.SNATMap != "", r.SNATTo.IsValid(), r.RedirectTo != 0, r.Accept, r.Drop, r.SetEtherSaddr != ""} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		return fmt.Errorf("want exactly one action, have %d", actions)
	}
	ref := func(name string, isMap bool) error {
		if name == "" {
			return nil
		}
		s, ok := sets[name]
		if !ok {
			return fmt.Errorf("refers to undeclared set/map %s", name)
		}
		if s.isMap != isMap {
			return fmt.Errorf("%s is not a %s", name, map[bool]string{true: "map", false: "set"}[isMap])
		}
		return nil
	}
	if err := errors.Join(ref(r.SaddrSet, false), ref(r.DaddrSet, false), ref(r.NotDaddrSet, false),
		ref(r.DNATMap, true), ref(r.SNATMap, true)); err != nil {
		return err
	}
	if r.Daddr.IsValid() && !r.Daddr.Addr().Is4() {
		return fmt.Errorf("daddr %s is not IPv4", r.Daddr)
	}
	if r.SNATTo.IsValid() && !r.SNATTo.Is4() {
		return fmt.Errorf("snat to %s is not IPv4", r.SNATTo)
	}
	for _, n := range []string{r.IifName, r.OifName, r.NotOifName} {
		if len(strings.TrimSuffix(n, "*")) > unix.IFNAMSIZ-1 {
			return fmt.Errorf("interface name %q too long", n)
		}
	}
	return checkBridgeFields(r, fam)
}

// checkBridgeFields validates the Ethernet and ARP fields, which only a
// bridge table sees: in an ip or inet table the packet has no link
// layer header to match or rewrite, and ARP never reaches it.
func checkBridgeFields(r desired.NftRule, fam nftables.TableFamily) error {
	macs := []struct{ what, mac string }{
		{"ether saddr", r.EtherSaddr}, {"ether daddr", r.EtherDaddr}, {"ether saddr set", r.SetEtherSaddr},
	}
	for _, m := range macs {
		if m.mac == "" {
			continue
		}
		if fam != nftables.TableFamilyBridge {
			return fmt.Errorf("%s: only in a bridge table, not in family %s", m.what, familyName(fam))
		}
		if _, err := parseMAC(m.mac); err != nil {
			return fmt.Errorf("%s: %w", m.what, err)
		}
	}
	if !r.ARPTargetIP.IsValid() {
		return nil
	}
	if fam != nftables.TableFamilyBridge {
		return fmt.Errorf("arp daddr ip: only in a bridge table, not in family %s", familyName(fam))
	}
	if !r.ARPTargetIP.Is4() {
		return fmt.Errorf("arp daddr ip %s is not IPv4", r.ARPTargetIP)
	}
	if r.SaddrSet != "" || r.DaddrSet != "" || r.NotDaddrSet != "" || r.Daddr.IsValid() || r.TCPDport != 0 {
		return errors.New("arp daddr ip cannot be combined with IP matches (a packet is ARP or IPv4)")
	}
	return nil
}

// parseMAC parses an Ethernet (6-byte) address.
func parseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, err
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("%s is not an Ethernet address", s)
	}
	return mac, nil
}

// mergePrefixes turns prefixes into sorted, disjoint, non-adjacent
// ranges: the kernel rejects overlapping intervals, and merged ranges
// have one encoding, so a read-back compares equal.
func mergePrefixes(ps []netip.Prefix) ([]ipRange, error) {
	rs := make([]ipRange, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() || !p.Addr().Is4() {
			return nil, fmt.Errorf("%s is not an IPv4 prefix", p)
		}
		p = p.Masked()
		lo := addrU32(p.Addr())
		hi := lo | uint32(math.MaxUint32)>>p.Bits()
		rs = append(rs, ipRange{lo, hi})
	}
	return mergeRanges(rs), nil
}

func mergeRanges(rs []ipRange) []ipRange {
	slices.SortFunc(rs, func(a, b ipRange) int { return cmp.Or(cmp.Compare(a.lo, b.lo), cmp.Compare(a.hi, b.hi)) })
	var out []ipRange
	for _, r := range rs {
		if n := len(out); n > 0 && (out[n-1].hi == math.MaxUint32 || r.lo <= out[n-1].hi+1) {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

func addrU32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func u32Addr(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

func u32Bytes(u uint32) []byte { return binary.BigEndian.AppendUint32(nil, u) }
