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
	memo            // what a later compile of the same table reuses
}

type wantChain struct {
	spec desired.NftChain
	base bool // attached to a hook
	typ  nftables.ChainType
	hook nftables.ChainHook
	fp   string // fingerprint of the chain spec
	// Unordered chains: each rule's own fingerprint, and the index of
	// each fingerprint.
	unordered bool
	rfps      []string
	fpIndex   map[string]int
}

type wantSet struct {
	name   string
	isMap  bool
	elems  map[netip.Addr]netip.Addr // maps (IPv4, checked while diffing)
	ranges []ipRange                 // interval sets, merged and sorted
	// IPv6 interval sets (ipv6sets.go).
	v6      bool
	ranges6 []ip6Range
	// raw sets and maps (rawsets.go): ipv6_addr sets and verdict maps;
	// elements by key bytes, with the verdict text of maps as value.
	raw    *rawType
	relems map[string]string
	src    srcID // what it was compiled from (memo.go)
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
			return nil, errDuplicate(w.key)
		}
		seen[w.key] = true
		out = append(out, w)
	}
	return out, nil
}

func errDuplicate(k tableKey) error { return fmt.Errorf("nft table %s: listed twice", k) }

// compile validates one table and precomputes what apply compares.
func compile(want *desired.NftTable) (*wantTable, error) { return compileFrom(want, nil) }

// compileFrom is compile reusing what prev (the same table's previous
// compile, or nil) compiled from the same chains, maps and sets.
func compileFrom(want *desired.NftTable, prev *wantTable) (*wantTable, error) {
	fam, ok := families[want.FamilyOrIP()]
	if !ok {
		return nil, fmt.Errorf("nft table %s: unknown family %q", want.NameOrDefault(), want.Family)
	}
	w := &wantTable{key: tableKey{fam, want.NameOrDefault()}, sets: map[string]*wantSet{}}
	if !strings.HasPrefix(w.key.name, desired.NftOwnedPrefix) {
		return nil, fmt.Errorf("nft table %s: name must start with %q", w.key, desired.NftOwnedPrefix)
	}
	if prev != nil && prev.key != w.key {
		prev = nil
	}
	w.start(want, prev)
	if err := w.compileSets(want, prev); err != nil {
		return nil, err
	}
	w.sameNames = w.sameNames && slices.Equal(w.names, prev.names)
	regular, err := w.regularChains(want, prev)
	if err != nil {
		return nil, err
	}
	for i, ch := range want.Chains {
		if w.sameNames && sameChain(prev.src[i], ch) {
			w.chains = append(w.chains, prev.chains[i])
			continue
		}
		wc, err := compileChain(ch, fam, w.sets, regular)
		if err != nil {
			return nil, err
		}
		w.chains = append(w.chains, wc)
		w.dirtyChains = append(w.dirtyChains, wc)
	}
	if err := w.checkVerdictTargets(regular); err != nil {
		return nil, err
	}
	w.finish(want, prev)
	return w, nil
}

// regularChains checks the chain names and returns which are regular
// (true) or base (false) chains: reused from prev when the names are
// the same.
func (w *wantTable) regularChains(want *desired.NftTable, prev *wantTable) (map[string]bool, error) {
	if w.sameNames {
		return prev.regular, nil
	}
	seen := make(map[string]bool, len(want.Chains))
	for _, ch := range want.Chains {
		if _, dup := seen[ch.Name]; dup || ch.Name == "" {
			return nil, fmt.Errorf("nft chain %q: empty or duplicate name", ch.Name)
		}
		seen[ch.Name] = !ch.IsBase() // true: a regular chain (jump target)
	}
	w.regular = seen
	return seen, nil
}

// compileChain validates one chain and computes its fingerprints.
func compileChain(ch desired.NftChain, fam nftables.TableFamily, sets map[string]*wantSet, regular map[string]bool) (*wantChain, error) {
	if err := checkRules(ch, fam, sets, regular); err != nil {
		return nil, err
	}
	if !ch.IsBase() {
		if ch.Type != "" || ch.Priority != 0 {
			return nil, fmt.Errorf("nft chain %s: a regular chain has no type or priority", ch.Name)
		}
		wc := &wantChain{spec: ch, unordered: ch.Unordered}
		if !ch.Unordered {
			wc.fp = chainFingerprint(ch)
		} else {
			wc.rfps = make([]string, len(ch.Rules))
			wc.fpIndex = make(map[string]int, len(ch.Rules))
			for i, r := range ch.Rules {
				wc.rfps[i] = ruleFP(r)
				wc.fpIndex[wc.rfps[i]] = i
			}
		}
		return wc, nil
	}
	if ch.Unordered {
		return nil, fmt.Errorf("nft chain %s: a base chain cannot be unordered", ch.Name)
	}
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
	return &wantChain{spec: ch, base: true, typ: typ, hook: hook, fp: chainFingerprint(ch)}, nil
}

// checkRules validates a chain's rules; regular says which chain names
// are regular chains, the only ones a jump may reach.
func checkRules(ch desired.NftChain, fam nftables.TableFamily, sets map[string]*wantSet, regular map[string]bool) error {
	for i, r := range ch.Rules {
		if err := checkRule(r, fam, sets); err != nil {
			return fmt.Errorf("nft chain %s rule %d (%s): %w", ch.Name, i, r, err)
		}
		for _, target := range []string{r.Jump, r.Goto} {
			if target != "" && (!regular[target] || target == ch.Name) {
				return fmt.Errorf("nft chain %s rule %d (%s): no chain %s to jump to", ch.Name, i, r, target)
			}
		}
	}
	return nil
}

func (w *wantTable) compileSets(want *desired.NftTable, prev *wantTable) error {
	for _, m := range want.Maps {
		if _, dup := w.sets[m.Name]; dup || m.Name == "" {
			return fmt.Errorf("nft map %q: empty or duplicate name", m.Name)
		}
		if w.reuseSet(m.Name, mapID(m), prev) {
			continue
		}
		k, v := m.Types()
		if k != desired.TypeIPv4Addr || v != desired.TypeIPv4Addr {
			ws, err := compileRawMap(m, k, v)
			if err != nil {
				return err
			}
			w.addSet(ws, mapID(m))
			continue
		}
		w.addSet(&wantSet{name: m.Name, isMap: true, elems: m.Elements}, mapID(m))
	}
	for _, s := range want.Sets {
		if _, dup := w.sets[s.Name]; dup || s.Name == "" {
			return fmt.Errorf("nft set %q: empty or duplicate name", s.Name)
		}
		if w.reuseSet(s.Name, setID(s), prev) {
			continue
		}
		if s.Hash || s.Type == desired.TypeEtherAddr {
			ws, err := compileHashSet(s)
			if err != nil {
				return err
			}
			w.addSet(ws, setID(s))
			continue
		}
		if s.Type == desired.TypeIPv6Addr {
			ws, err := compileIPv6Set(s)
			if err != nil {
				return err
			}
			w.addSet(ws, setID(s))
			continue
		}
		if s.Type != "" && s.Type != desired.TypeIPv4Addr {
			return fmt.Errorf("nft set %s: type %s not implemented (only ipv4_addr, ipv6_addr)", s.Name, s.Type)
		}
		rs, err := mergePrefixes(s.Elements)
		if err != nil {
			return fmt.Errorf("nft set %s: %w", s.Name, err)
		}
		w.addSet(&wantSet{name: s.Name, ranges: rs}, setID(s))
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
	for _, set := range []bool{r.DNATMap != "", r.SNATMap != "", r.SNATTo.IsValid(), r.RedirectTo != 0, r.Accept, r.Drop, r.SetEtherSaddr != "",
		r.Return, r.Jump != "", r.Goto != "", r.Vmap != "", r.SetMarkOp != "", r.SetCtZone != 0} {
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
		ref(r.DNATMap, true), ref(r.SNATMap, true), ref(r.Saddr6Set, false), ref(r.Daddr6Set, false), ref(r.Vmap, true),
		ref(r.EtherSaddrSet, false), ref(r.EtherDaddrSet, false), ref(r.ARPTargetSet, false)); err != nil {
		return err
	}
	if err := checkSGFields(r, fam, sets); err != nil {
		return err
	}
	if r.SNATTo.IsValid() && !r.SNATTo.Is4() {
		return fmt.Errorf("snat to %s is not IPv4", r.SNATTo)
	}
	for _, n := range []string{r.IifName, r.OifName, r.NotOifName} {
		if len(strings.TrimSuffix(n, "*")) > unix.IFNAMSIZ-1 {
			return fmt.Errorf("interface name %q too long", n)
		}
	}
	if err := errors.Join(checkHashRef(sets, r.EtherSaddrSet, nftables.TypeEtherAddr), checkHashRef(sets, r.EtherDaddrSet, nftables.TypeEtherAddr),
		checkHashRef(sets, r.ARPTargetSet, nftables.TypeIPAddr)); err != nil {
		return err
	}
	return checkBridgeFields(r, fam)
}

// checkBridgeFields validates the Ethernet and ARP fields, which only a
// bridge table sees: in an ip or inet table the packet has no link
// layer header to match or rewrite, and ARP never reaches it.
func checkBridgeFields(r desired.NftRule, fam nftables.TableFamily) error {
	if fam != nftables.TableFamilyBridge && (r.EtherSaddrSet != "" || r.EtherDaddrSet != "" || r.ARPTargetSet != "") {
		return fmt.Errorf("ether and arp set lookups: only in a bridge table, not in family %s", familyName(fam))
	}
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
	if r.ARPTargetSet != "" && (r.ARPTargetIP.IsValid() || r.SaddrSet != "" || r.DaddrSet != "" || r.NotDaddrSet != "" || r.Daddr.IsValid() || r.TCPDport != 0) {
		return errors.New("arp daddr ip @set cannot be combined with another target or with IP matches")
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
