package dataplane

// nftables: the one table "ip neutrino" the agent owns in a namespace.
//
// Design (STYLE.md §2.6, KERNEL.md §3):
//   - Chains are static and small; a chain whose rules differ from the
//     desired ones is flushed and refilled in the same transaction. Rules
//     are recognised by a fingerprint of the whole chain spec stored in
//     every rule's comment ("<comment> #<hash>"), never by parsing bodies.
//   - What grows with the cloud (floating IPs) lives in maps; an apply adds
//     or deletes only the elements that differ, so the kernel's cost of
//     adding the 5,000th floating IP is that of the first. What remains
//     O(n) is comparing the wanted maps with the known ones in Go (about
//     25 ns per wanted element).
//   - Everything goes into one atomic transaction (one Flush), except that
//     element changes beyond the first 50 go into further Flushes of at
//     most 50 elements: google/nftables sends a batch in one sendmsg, and
//     large batches fail with EMSGSIZE/ENOBUFS (KERNEL.md §3).
//
// Reading back is O(size of the maps). To keep a one-element change flat
// whatever the map size, the last state is remembered per namespace
// together with the namespace's nftables generation id (NFT_MSG_GETGEN),
// which the kernel bumps on every committed nftables transaction in that
// namespace. The memory is used only while the kernel still reports that
// generation (nothing committed since) and it is replaced only when the
// generation moved by exactly the number of our own commits, so nobody
// else's change can be hidden behind it; anything else means a full
// read-back. Namespaces are told apart by their never-reused netns cookie
// (SO_NETNS_COOKIE), not by inode numbers. The state is checked out of
// the cache for the duration of an apply and put back only on success.
//
// The netlink socket of a namespace is pooled for a short while (see
// "Socket pool" below): closing one costs an RCU grace period after
// element deletions.

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"github.com/neutrino-net/neutrino/internal/agent/desired"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NftTableName is the name of the agent's table (family ip) in every
// namespace it manages.
const NftTableName = "neutrino"

// nftChunk is the most set elements sent in one Flush (KERNEL.md §3).
const nftChunk = 50

// nftRuleVersion is part of every chain fingerprint; bump it when the
// expressions built for a rule change so that existing chains are
// refilled.
const nftRuleVersion = "v2"

// ApplyNft reconciles table "ip neutrino" in the namespace ns (a handle
// from netns; a negative handle means the caller's namespace) to want;
// want == nil deletes the table. It returns one line per change; a second
// call with the same want returns none.
func ApplyNft(ns netns.NsHandle, want *desired.NftTable) ([]string, error) {
	w, err := compileNft(want)
	if err != nil {
		return nil, err
	}
	e, err := acquireNft(ns)
	if err != nil {
		return nil, fmt.Errorf("nftables in netns: %w", err)
	}
	e.mu.Lock()
	changes, err := e.conn.apply(w)
	e.mu.Unlock()
	// A failed apply may leave queued messages or a sticky error in the
	// connection: start the next one on a fresh socket. A deleted table
	// usually means the namespace goes next: do not pin it.
	releaseNft(e, err != nil || w.del)
	return changes, err
}

// CloseNft closes the pooled nftables socket of namespace ns, if any.
// Call it before deleting a namespace: the socket holds a reference to
// the namespace, whose devices live until the last reference goes.
func CloseNft(ns netns.NsHandle) {
	key, ok := nsKeyOf(ns)
	if !ok {
		return
	}
	nftPool.Lock()
	e := nftPool.m[key]
	nftPool.Unlock()
	if e != nil {
		nftPool.Lock()
		e.refs++
		nftPool.Unlock()
		releaseNft(e, true)
	}
}

// ---------------------------------------------------------------------
// Socket pool.
//
// Closing an nfnetlink socket waits for an RCU grace period (often 5-15
// ms) whenever nftables has objects queued for destruction, which every
// element deletion leaves (Linux nft_rcv_nl_event, under the namespace's
// commit mutex, so the next commit waits for it too). A socket per apply
// would make every floating IP removal cost that. So the socket of a
// namespace is kept for nftIdle after its last use and closed in the
// background. While it is open it pins the namespace, which also makes
// the namespace's nsfs inode a safe pool key.

const nftIdle = 2 * time.Second

type nsKey struct{ dev, ino uint64 }

type nftPoolEntry struct {
	key   nsKey
	conn  *nftConn
	mu    sync.Mutex // serialises applies in the namespace
	refs  int        // guarded by nftPool
	dead  bool       // guarded by nftPool: close when refs drops to 0
	timer *time.Timer
}

var nftPool = struct {
	sync.Mutex
	m map[nsKey]*nftPoolEntry
}{m: map[nsKey]*nftPoolEntry{}}

func nsKeyOf(ns netns.NsHandle) (nsKey, bool) {
	if ns < 0 {
		return nsKey{}, false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(ns), &st); err != nil {
		return nsKey{}, false
	}
	return nsKey{st.Dev, st.Ino}, true
}

func acquireNft(ns netns.NsHandle) (*nftPoolEntry, error) {
	key, pooled := nsKeyOf(ns)
	if pooled {
		nftPool.Lock()
		if e := nftPool.m[key]; e != nil && !e.dead {
			e.refs++
			if e.timer != nil {
				e.timer.Stop()
			}
			nftPool.Unlock()
			return e, nil
		}
		nftPool.Unlock()
	}
	c, err := openNft(ns)
	if err != nil {
		return nil, err
	}
	e := &nftPoolEntry{key: key, conn: c, refs: 1, dead: !pooled}
	if pooled {
		nftPool.Lock()
		if old := nftPool.m[key]; old != nil && !old.dead {
			// Opened concurrently by someone else: use theirs.
			old.refs++
			if old.timer != nil {
				old.timer.Stop()
			}
			nftPool.Unlock()
			go c.close()
			return old, nil
		}
		nftPool.m[key] = e
		nftPool.Unlock()
	}
	return e, nil
}

func releaseNft(e *nftPoolEntry, discard bool) {
	nftPool.Lock()
	defer nftPool.Unlock()
	e.refs--
	if discard && !e.dead {
		e.dead = true
		if nftPool.m[e.key] == e {
			delete(nftPool.m, e.key)
		}
	}
	if e.refs > 0 {
		return
	}
	if e.dead {
		go e.conn.close()
		return
	}
	if e.timer == nil {
		e.timer = time.AfterFunc(nftIdle, func() {
			nftPool.Lock()
			if e.refs > 0 || e.dead {
				nftPool.Unlock()
				return
			}
			e.dead = true
			delete(nftPool.m, e.key)
			nftPool.Unlock()
			e.conn.close()
		})
	} else {
		e.timer.Reset(nftIdle)
	}
}

// ---------------------------------------------------------------------
// Desired state, compiled.

type wantNft struct {
	del    bool // want == nil
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

// compileNft validates want and precomputes what apply compares.
func compileNft(want *desired.NftTable) (*wantNft, error) {
	w := &wantNft{sets: map[string]*wantSet{}}
	if want == nil {
		w.del = true
		return w, nil
	}
	for _, m := range want.Maps {
		if _, dup := w.sets[m.Name]; dup || m.Name == "" {
			return nil, fmt.Errorf("nft map %q: empty or duplicate name", m.Name)
		}
		w.sets[m.Name] = &wantSet{name: m.Name, isMap: true, elems: m.Elements}
	}
	for _, s := range want.Sets {
		if _, dup := w.sets[s.Name]; dup || s.Name == "" {
			return nil, fmt.Errorf("nft set %q: empty or duplicate name", s.Name)
		}
		rs, err := mergePrefixes(s.Elements)
		if err != nil {
			return nil, fmt.Errorf("nft set %s: %w", s.Name, err)
		}
		w.sets[s.Name] = &wantSet{name: s.Name, ranges: rs}
	}
	for name := range w.sets {
		w.names = append(w.names, name)
	}
	slices.Sort(w.names)
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
		hook, ok := chainHooks[ch.Hook]
		if !ok {
			return nil, fmt.Errorf("nft chain %s: unknown hook %q", ch.Name, ch.Hook)
		}
		for i, r := range ch.Rules {
			if err := checkRule(r, w.sets); err != nil {
				return nil, fmt.Errorf("nft chain %s rule %d (%s): %w", ch.Name, i, r, err)
			}
		}
		w.chains = append(w.chains, &wantChain{spec: ch, typ: typ, hook: hook, fp: chainFingerprint(ch)})
	}
	return w, nil
}

// ruleFields has NftRule's fields and none of its methods, so that %+v
// prints every field, including ones added later.
type ruleFields desired.NftRule

func chainFingerprint(ch desired.NftChain) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%d\n", nftRuleVersion, ch.Name, ch.Type, ch.Hook, ch.Priority)
	for _, r := range ch.Rules {
		fmt.Fprintf(h, "%+v\n", ruleFields(r))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func checkRule(r desired.NftRule, sets map[string]*wantSet) error {
	actions := 0
	for _, set := range []bool{r.DNATMap != "", r.SNATMap != "", r.SNATTo.IsValid(), r.RedirectTo != 0, r.Accept, r.Drop} {
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
	return nil
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

// ---------------------------------------------------------------------
// Kernel state as we compare it.

type nftSnapshot struct {
	chains map[string]*chainSnap
	sets   map[string]*setSnap
}

type chainSnap struct {
	typ  nftables.ChainType
	hook nftables.ChainHook
	prio int32
	hasH bool   // a base chain
	fp   string // the fingerprint all its rules carry, "" if they disagree
	n    int    // number of rules
}

// mapElem is a map element's value and the epoch of the last diff that
// found it wanted: keys the kernel has but nobody wants are then found
// by walking the elements once, without hashing every key again.
type mapElem struct{ val, seen uint32 }

type setSnap struct {
	isMap    bool
	interval bool
	key      uint32 // key type magic
	data     uint32 // data type magic (maps)
	elems    map[uint32]*mapElem
	epoch    uint32 // of the last diff, see mapElem
	ranges   []ipRange
}

func (s *setSnap) matches(w *wantSet) bool {
	if w.isMap {
		return s.isMap && !s.interval && s.key == nftables.TypeIPAddr.GetNFTMagic() && s.data == nftables.TypeIPAddr.GetNFTMagic()
	}
	return !s.isMap && s.interval && s.key == nftables.TypeIPAddr.GetNFTMagic()
}

// nftCache remembers, per netns cookie, the state after our last apply and
// the generation id the kernel reported right after it.
var nftCache = struct {
	sync.Mutex
	m map[uint64]nftCacheEntry
}{m: map[uint64]nftCacheEntry{}}

type nftCacheEntry struct {
	gen  uint32
	snap *nftSnapshot // nil: no table
}

type nftConn struct {
	c      *nftables.Conn
	raw    *mnl.Conn // the same socket, for GETGEN and the cookie
	cookie uint64    // 0: unknown, no cache
	table  *nftables.Table
}

func openNft(ns netns.NsHandle) (*nftConn, error) {
	fd := 0 // mdlayher/netlink: 0 = the caller's namespace
	if ns >= 0 {
		fd = int(ns)
	}
	nc := &nftConn{table: &nftables.Table{Name: NftTableName, Family: nftables.TableFamilyIPv4}}
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting(),
		nftables.WithSockOptions(func(raw *mnl.Conn) error { nc.raw = raw; return nil }))
	if err != nil {
		return nil, err
	}
	nc.c = c
	nc.cookie = netnsCookie(nc.raw)
	return nc, nil
}

func (c *nftConn) close() { c.c.CloseLasting() }

// soNetnsCookie is SO_NETNS_COOKIE (Linux 5.14), the same value on every
// architecture that golang.org/x/sys defines it for.
const soNetnsCookie = 0x47

// netnsCookie returns the socket's network namespace cookie, or 0 if the
// kernel cannot tell.
func netnsCookie(raw *mnl.Conn) uint64 {
	if raw == nil {
		return 0
	}
	sc, err := raw.SyscallConn()
	if err != nil {
		return 0
	}
	var cookie uint64
	if err := sc.Control(func(fd uintptr) {
		v, err := unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, soNetnsCookie)
		if err == nil {
			cookie = v
		}
	}); err != nil {
		return 0
	}
	return cookie
}

// genID returns the namespace's nftables ruleset generation.
func (c *nftConn) genID() (uint32, error) {
	if c.raw == nil {
		return 0, errors.New("no netlink socket")
	}
	msgs, err := c.raw.Execute(mnl.Message{
		Header: mnl.Header{Type: mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: mnl.Request},
		Data:   []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := mnl.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("no generation id in reply")
}

// read returns the table as the kernel has it, nil if there is none.
func (c *nftConn) read() (*nftSnapshot, error) {
	tables, err := c.c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == NftTableName }) {
		return nil, nil
	}
	s := &nftSnapshot{chains: map[string]*chainSnap{}, sets: map[string]*setSnap{}}
	chains, err := c.c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != NftTableName {
			continue
		}
		cs := &chainSnap{typ: ch.Type}
		if ch.Hooknum != nil && ch.Priority != nil {
			cs.hasH, cs.hook, cs.prio = true, *ch.Hooknum, int32(*ch.Priority)
		}
		rules, err := c.c.GetRules(c.table, &nftables.Chain{Name: ch.Name, Table: c.table})
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
		}
		cs.n = len(rules)
		for i, r := range rules {
			fp := ruleFingerprint(r.UserData)
			if i == 0 {
				cs.fp = fp
			} else if fp != cs.fp {
				cs.fp = ""
			}
		}
		s.chains[ch.Name] = cs
	}
	sets, err := c.c.GetSets(c.table)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	for _, set := range sets {
		ss := &setSnap{isMap: set.IsMap, interval: set.Interval, key: set.KeyType.GetNFTMagic(), data: set.DataType.GetNFTMagic()}
		els, err := c.c.GetSetElements(set)
		if err != nil {
			return nil, fmt.Errorf("list elements of %s: %w", set.Name, err)
		}
		switch {
		case ss.isMap:
			ss.elems = make(map[uint32]*mapElem, len(els))
			for _, e := range els {
				if len(e.Key) == 4 && len(e.Val) == 4 {
					ss.elems[binary.BigEndian.Uint32(e.Key)] = &mapElem{val: binary.BigEndian.Uint32(e.Val)}
				}
			}
		case ss.interval:
			ss.ranges = decodeIntervals(els)
		}
		s.sets[set.Name] = ss
	}
	return s, nil
}

// ruleFingerprint extracts the "#<hash>" suffix of a rule's comment.
func ruleFingerprint(ud []byte) string {
	c, ok := userdata.GetString(ud, userdata.TypeComment)
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(c, '#')
	if i < 0 {
		return ""
	}
	return c[i+1:]
}

// decodeIntervals turns interval-set elements back into ranges. The
// kernel keeps an interval as a start element (key = first address) and
// an end element flagged NFT_SET_ELEM_INTERVAL_END (key = first address
// after it); a range reaching 255.255.255.255 has no end element. A
// lone end element (nft adds 0.0.0.0 for its own sets) carries nothing.
func decodeIntervals(els []nftables.SetElement) []ipRange {
	type el struct {
		k   uint32
		end bool
	}
	var es []el
	for _, e := range els {
		if len(e.Key) == 4 {
			es = append(es, el{binary.BigEndian.Uint32(e.Key), e.IntervalEnd})
		}
	}
	// Ascending; on equal keys the end of one range sorts before the
	// start of the next.
	slices.SortFunc(es, func(a, b el) int {
		if a.k != b.k {
			return cmp.Compare(a.k, b.k)
		}
		if a.end == b.end {
			return 0
		}
		if a.end {
			return -1
		}
		return 1
	})
	var out []ipRange
	for i := 0; i < len(es); i++ {
		if es[i].end {
			continue
		}
		lo := es[i].k
		if i+1 < len(es) && es[i+1].end {
			out = append(out, ipRange{lo, es[i+1].k - 1})
			i++
			continue
		}
		// No end element: the range runs to the end of the key space
		// (or the state is malformed and will be replaced).
		out = append(out, ipRange{lo, math.MaxUint32})
	}
	return out
}

// intervalElements encodes a range as the kernel keeps it.
func intervalElements(r ipRange) []nftables.SetElement {
	els := []nftables.SetElement{{Key: u32Bytes(r.lo)}}
	if r.hi != math.MaxUint32 {
		els = append(els, nftables.SetElement{Key: u32Bytes(r.hi + 1), IntervalEnd: true})
	}
	return els
}

// ---------------------------------------------------------------------
// Apply.

// elemOp is a change of one key or range that must not be split across
// Flushes (a changed map value is a delete and an add).
type elemOp struct {
	set  string
	sort uint32
	del  []nftables.SetElement
	add  []nftables.SetElement
	// commit updates the remembered state once the op is committed.
	commit func(*setSnap)
	lines  []string
}

func (o *elemOp) size() int { return len(o.del) + len(o.add) }

var nftSetIDs atomic.Uint32 // transaction-local set ids (google/nftables' own counter is not goroutine-safe)

func (c *nftConn) apply(w *wantNft) ([]string, error) {
	// The state to compare with: remembered, if the kernel's generation
	// proves nothing was committed since; else read back.
	gen0, genErr := c.genID()
	var have *nftSnapshot
	cached := false
	if c.cookie != 0 {
		// Check the state out: nobody else may use it while this apply
		// changes it in place; remember puts it back.
		nftCache.Lock()
		e, ok := nftCache.m[c.cookie]
		delete(nftCache.m, c.cookie)
		nftCache.Unlock()
		if ok && genErr == nil && e.gen == gen0 {
			have, cached = e.snap, true
		}
	}
	if !cached {
		var err error
		if have, err = c.read(); err != nil {
			return nil, err
		}
	}

	var changes []string
	did := func(format string, a ...any) { changes = append(changes, fmt.Sprintf(format, a...)) }
	flushes := 0

	if w.del {
		if have == nil {
			c.remember(gen0, 0, nil)
			return nil, nil
		}
		c.c.DelTable(c.table)
		if err := c.c.Flush(); err != nil {
			return nil, fmt.Errorf("nft delete table ip %s: %w", NftTableName, err)
		}
		did("nft delete table ip %s", NftTableName)
		c.remember(gen0, 1, nil)
		return changes, nil
	}

	// From here on `next` is the state the kernel will have once the
	// transactions commit (sets are changed in place: checked out).
	next := &nftSnapshot{chains: map[string]*chainSnap{}, sets: map[string]*setSnap{}}
	if have == nil {
		c.c.AddTable(c.table)
		did("nft add table ip %s", NftTableName)
	} else {
		for k, v := range have.chains {
			next.chains[k] = v
		}
		for k, v := range have.sets {
			next.sets[k] = v
		}
	}

	// Sets and maps that are missing, of the wrong kind, or not wanted.
	var delSets, addSets []string
	for name, hs := range next.sets {
		ws, ok := w.sets[name]
		switch {
		case !ok:
			delSets = append(delSets, name)
		case !hs.matches(ws):
			delSets = append(delSets, name)
			addSets = append(addSets, name)
		}
	}
	for _, name := range w.names {
		if _, ok := next.sets[name]; !ok {
			addSets = append(addSets, name)
		}
	}
	slices.Sort(delSets)
	slices.Sort(addSets)

	// Chains. Rules must go before a set they use can be deleted, so any
	// set deletion refills every chain.
	refillAll := len(delSets) > 0
	wantChains := map[string]*wantChain{}
	for _, wc := range w.chains {
		wantChains[wc.spec.Name] = wc
	}
	var stale []string
	for name := range next.chains {
		if _, ok := wantChains[name]; !ok {
			stale = append(stale, name)
		}
	}
	slices.Sort(stale)
	for _, name := range stale {
		ch := &nftables.Chain{Name: name, Table: c.table}
		c.c.FlushChain(ch)
		c.c.DelChain(ch)
		delete(next.chains, name)
		did("nft delete chain %s", name)
	}
	type chainWork struct {
		wc             *wantChain
		create, refill bool
	}
	var work []chainWork
	for _, wc := range w.chains {
		hc, ok := next.chains[wc.spec.Name]
		cw := chainWork{wc: wc}
		switch {
		case !ok:
			cw.create, cw.refill = true, true
			did("nft add chain %s { type %s hook %s priority %d }", wc.spec.Name, wc.spec.Type, wc.spec.Hook, wc.spec.Priority)
		case !hc.hasH || hc.typ != wc.typ || hc.hook != wc.hook || hc.prio != int32(wc.spec.Priority):
			// Hooks cannot be changed in place: delete and recreate.
			ch := &nftables.Chain{Name: wc.spec.Name, Table: c.table}
			c.c.FlushChain(ch)
			c.c.DelChain(ch)
			cw.create, cw.refill = true, true
			did("nft replace chain %s { type %s hook %s priority %d }", wc.spec.Name, wc.spec.Type, wc.spec.Hook, wc.spec.Priority)
		case refillAll || hc.n != len(wc.spec.Rules) || (hc.n > 0 && hc.fp != wc.fp):
			c.c.FlushChain(&nftables.Chain{Name: wc.spec.Name, Table: c.table})
			cw.refill = true
		}
		if cw.refill && !cw.create {
			did("nft flush+fill chain %s (%d rules)", wc.spec.Name, len(wc.spec.Rules))
		}
		work = append(work, cw)
	}

	for _, name := range delSets {
		c.c.DelSet(&nftables.Set{Name: name, Table: c.table})
		delete(next.sets, name)
		if !slices.Contains(addSets, name) {
			did("nft delete %s %s", kindOf(have.sets[name].isMap), name)
		}
	}
	setIDs := map[string]uint32{}
	for _, name := range addSets {
		ws := w.sets[name]
		s := setFor(c.table, ws)
		s.ID = nftSetIDs.Add(1)
		if err := c.c.AddSet(s, nil); err != nil {
			return nil, fmt.Errorf("nft add %s %s: %w", kindOf(ws.isMap), name, err)
		}
		setIDs[name] = s.ID
		if have != nil && have.sets[name] != nil {
			did("nft replace %s %s (type differs)", kindOf(ws.isMap), name)
		} else {
			did("nft add %s %s", kindOf(ws.isMap), name)
		}
		ns := &setSnap{isMap: ws.isMap, interval: !ws.isMap, key: nftables.TypeIPAddr.GetNFTMagic()}
		if ws.isMap {
			ns.data = nftables.TypeIPAddr.GetNFTMagic()
			ns.elems = map[uint32]*mapElem{}
		}
		next.sets[name] = ns
	}

	for _, cw := range work {
		wc := cw.wc
		ch := &nftables.Chain{Name: wc.spec.Name, Table: c.table, Type: wc.typ,
			Hooknum: new(wc.hook), Priority: new(nftables.ChainPriority(wc.spec.Priority)), Policy: new(nftables.ChainPolicyAccept)}
		if cw.create {
			c.c.AddChain(ch)
		}
		if !cw.refill {
			continue
		}
		for i, r := range wc.spec.Rules {
			exprs, err := ruleExprs(r, setIDs)
			if err != nil {
				return nil, fmt.Errorf("nft chain %s rule %d: %w", wc.spec.Name, i, err)
			}
			c.c.AddRule(&nftables.Rule{Table: c.table, Chain: ch, Exprs: exprs, UserData: ruleComment(r.Comment, wc.fp)})
		}
		next.chains[wc.spec.Name] = &chainSnap{typ: wc.typ, hook: wc.hook, prio: int32(wc.spec.Priority), hasH: true, fp: wc.fp, n: len(wc.spec.Rules)}
	}

	// Element differences.
	var ops []*elemOp
	for _, name := range w.names {
		o, err := diffElements(w.sets[name], next.sets[name])
		if err != nil {
			return nil, err
		}
		ops = append(ops, o...)
	}
	// Deletions first (a range that grows is deleted before the merged
	// one is added), then by set and key for a stable order.
	slices.SortStableFunc(ops, func(a, b *elemOp) int {
		return cmp.Or(cmp.Compare(len(a.add), len(b.add)), strings.Compare(a.set, b.set), cmp.Compare(a.sort, b.sort))
	})

	// The first chunk rides with the structural changes in one atomic
	// transaction; the rest follows in chunks of at most nftChunk
	// elements. Every queued structural change has a change line, so
	// len(changes) > 0 tells whether the first batch holds anything.
	structural := len(changes) > 0
	for i := 0; i == 0 || i < len(ops); {
		j, n := i, 0
		for j < len(ops) && (j == i || n+ops[j].size() <= nftChunk) {
			n += ops[j].size()
			j++
		}
		if err := c.queueElems(ops[i:j], next); err != nil {
			return changes, err
		}
		if structural || i < j {
			if err := c.c.Flush(); err != nil {
				if flushes == 0 {
					return nil, fmt.Errorf("nft transaction: %w", err)
				}
				return changes, fmt.Errorf("nft element changes: %w", err)
			}
			flushes++
		}
		structural = false
		for _, op := range ops[i:j] {
			op.commit(next.sets[op.set])
			changes = append(changes, op.lines...)
		}
		if j == i {
			break
		}
		i = j
	}
	c.remember(gen0, flushes, next)
	return changes, nil
}

// remember stores snap as the namespace's state if the generation moved
// by exactly our own commits since gen0.
func (c *nftConn) remember(gen0 uint32, commits int, snap *nftSnapshot) {
	if c.cookie == 0 {
		return
	}
	gen1, err := c.genID()
	nftCache.Lock()
	defer nftCache.Unlock()
	if err != nil || !wrapsTo(gen0, commits, gen1) {
		delete(nftCache.m, c.cookie)
		return
	}
	nftCache.m[c.cookie] = nftCacheEntry{gen: gen1, snap: snap}
}

// wrapsTo reports whether gen0 advanced by n commits gives gen1 (the
// kernel skips 0 on wrap-around).
func wrapsTo(gen0 uint32, n int, gen1 uint32) bool {
	g := gen0
	for range n {
		g++
		if g == 0 {
			g++
		}
	}
	return g == gen1
}

func kindOf(isMap bool) string {
	if isMap {
		return "map"
	}
	return "set"
}

func setFor(t *nftables.Table, ws *wantSet) *nftables.Set {
	s := &nftables.Set{Table: t, Name: ws.name, KeyType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.BigEndian}
	if ws.isMap {
		s.IsMap, s.DataType = true, nftables.TypeIPAddr
	} else {
		s.Interval = true
	}
	return s
}

// diffElements compares one set's wanted elements with the kernel's.
func diffElements(ws *wantSet, hs *setSnap) ([]*elemOp, error) {
	var ops []*elemOp
	if ws.isMap {
		found := 0
		hs.epoch++
		if hs.epoch == 0 {
			hs.epoch++
		}
		epoch := hs.epoch
		for k, v := range ws.elems {
			if !k.Is4() || !v.Is4() {
				return nil, fmt.Errorf("nft map %s: element %s : %s is not IPv4", ws.name, k, v)
			}
			ku, vu := addrU32(k), addrU32(v)
			he := hs.elems[ku]
			var hv uint32
			if he != nil {
				found++
				he.seen = epoch
				if hv = he.val; hv == vu {
					continue
				}
			}
			op := &elemOp{set: ws.name, sort: ku,
				add: []nftables.SetElement{{Key: u32Bytes(ku), Val: u32Bytes(vu)}},
				commit: func(s *setSnap) {
					if e := s.elems[ku]; e != nil {
						e.val = vu
					} else {
						s.elems[ku] = &mapElem{val: vu, seen: epoch}
					}
				}}
			if he != nil {
				op.del = []nftables.SetElement{{Key: u32Bytes(ku), Val: u32Bytes(hv)}}
				op.lines = append(op.lines, fmt.Sprintf("nft delete element %s %s : %s", ws.name, k, u32Addr(hv)))
			}
			op.lines = append(op.lines, fmt.Sprintf("nft add element %s %s : %s", ws.name, k, v))
			ops = append(ops, op)
		}
		// Only when the kernel has keys we did not see is a reverse pass
		// needed.
		if found != len(hs.elems) {
			for ku, he := range hs.elems {
				if he.seen == epoch {
					continue
				}
				hv := he.val
				ops = append(ops, &elemOp{set: ws.name, sort: ku,
					del:    []nftables.SetElement{{Key: u32Bytes(ku), Val: u32Bytes(hv)}},
					commit: func(s *setSnap) { delete(s.elems, ku) },
					lines:  []string{fmt.Sprintf("nft delete element %s %s : %s", ws.name, u32Addr(ku), u32Addr(hv))}})
			}
		}
		return ops, nil
	}
	wantR := map[ipRange]bool{}
	for _, r := range ws.ranges {
		wantR[r] = true
	}
	haveR := map[ipRange]bool{}
	for _, r := range hs.ranges {
		haveR[r] = true
		if !wantR[r] {
			ops = append(ops, &elemOp{set: ws.name, sort: r.lo, del: intervalElements(r),
				commit: func(s *setSnap) {
					s.ranges = slices.DeleteFunc(s.ranges, func(x ipRange) bool { return x == r })
				},
				lines: []string{fmt.Sprintf("nft delete element %s %s", ws.name, r)}})
		}
	}
	for _, r := range ws.ranges {
		if !haveR[r] {
			ops = append(ops, &elemOp{set: ws.name, sort: r.lo, add: intervalElements(r),
				commit: func(s *setSnap) { s.ranges = mergeRanges(append(s.ranges, r)) },
				lines:  []string{fmt.Sprintf("nft add element %s %s", ws.name, r)}})
		}
	}
	return ops, nil
}

// queueElems adds one chunk of element changes to the pending batch:
// per set, its deletions before its additions.
func (c *nftConn) queueElems(ops []*elemOp, next *nftSnapshot) error {
	type pending struct{ del, add []nftables.SetElement }
	bySet := map[string]*pending{}
	var order []string
	for _, op := range ops {
		p, ok := bySet[op.set]
		if !ok {
			p = &pending{}
			bySet[op.set] = p
			order = append(order, op.set)
		}
		p.del = append(p.del, op.del...)
		p.add = append(p.add, op.add...)
	}
	for _, name := range order {
		p := bySet[name]
		s := &nftables.Set{Table: c.table, Name: name, IsMap: next.sets[name].isMap, Interval: next.sets[name].interval,
			KeyType: nftables.TypeIPAddr}
		if len(p.del) > 0 {
			if err := c.c.SetDeleteElements(s, p.del); err != nil {
				return fmt.Errorf("nft delete elements of %s: %w", name, err)
			}
		}
		if len(p.add) > 0 {
			if err := c.c.SetAddElements(s, p.add); err != nil {
				return fmt.Errorf("nft add elements to %s: %w", name, err)
			}
		}
	}
	return nil
}

// ruleComment is the rule's comment followed by the chain fingerprint,
// kept within nft's 128-byte comment limit.
func ruleComment(comment, fp string) []byte {
	suffix := "#" + fp
	if comment != "" {
		max := 127 - len(suffix) - 1
		if len(comment) > max {
			comment = comment[:max]
		}
		suffix = comment + " " + suffix
	}
	return userdata.AppendString(nil, userdata.TypeComment, suffix)
}

// ruleExprs builds a rule's expressions, in the order `nft` writes them.
// Every match loads into register 1 and compares; NAT actions load the
// address or port into register 1.
func ruleExprs(r desired.NftRule, setIDs map[string]uint32) ([]expr.Any, error) {
	var e []expr.Any
	ifnameOp := func(key expr.MetaKey, name string, op expr.CmpOp) {
		e = append(e, &expr.Meta{Key: key, Register: 1})
		if p, ok := strings.CutSuffix(name, "*"); ok {
			// Wildcard: compare only the prefix bytes.
			if p != "" {
				e = append(e, &expr.Cmp{Op: op, Register: 1, Data: []byte(p)})
			} else {
				e = e[:len(e)-1]
			}
			return
		}
		b := make([]byte, unix.IFNAMSIZ)
		copy(b, name)
		e = append(e, &expr.Cmp{Op: op, Register: 1, Data: b})
	}
	ifname := func(key expr.MetaKey, name string) { ifnameOp(key, name, expr.CmpOpEq) }
	ipField := func(offset uint32) {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4})
	}
	const saddrOff, daddrOff = 12, 16
	lookup := func(set string, invert bool) {
		e = append(e, &expr.Lookup{SourceRegister: 1, SetName: set, SetID: setIDs[set], Invert: invert})
	}
	if r.IifName != "" {
		ifname(expr.MetaKeyIIFNAME, r.IifName)
	}
	if r.OifName != "" {
		ifname(expr.MetaKeyOIFNAME, r.OifName)
	}
	if r.NotOifName != "" {
		ifnameOp(expr.MetaKeyOIFNAME, r.NotOifName, expr.CmpOpNeq)
	}
	if r.SaddrSet != "" {
		ipField(saddrOff)
		lookup(r.SaddrSet, false)
	}
	if r.DaddrSet != "" {
		ipField(daddrOff)
		lookup(r.DaddrSet, false)
	}
	if r.NotDaddrSet != "" {
		ipField(daddrOff)
		lookup(r.NotDaddrSet, true)
	}
	if r.Daddr.IsValid() && r.Daddr.Bits() > 0 {
		p := r.Daddr.Masked()
		ipField(daddrOff)
		if p.Bits() < 32 {
			mask := u32Bytes(^uint32(0) << (32 - p.Bits()))
			e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
		}
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()})
	}
	if r.TCPDport != 0 || r.RedirectTo != 0 {
		// A transport header match needs the protocol matched first, and
		// a port redirect needs a transport protocol (nft refuses one
		// without); the agent only redirects TCP (metadata).
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}})
	}
	if r.TCPDport != 0 {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.TCPDport)})
	}
	if r.CtStateNotDNAT {
		// ct status & dnat == 0 (status is in host byte order).
		const ipsDstNAT = 1 << 5 // IPS_DST_NAT
		e = append(e,
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)})
	}
	if r.CtStateDNAT {
		// ct status & dnat != 0.
		const ipsDstNAT = 1 << 5 // IPS_DST_NAT
		e = append(e,
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
	}
	switch {
	case r.DNATMap != "":
		ipField(daddrOff)
		e = append(e,
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: r.DNATMap, SetID: setIDs[r.DNATMap]},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
	case r.SNATMap != "":
		ipField(saddrOff)
		e = append(e,
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: r.SNATMap, SetID: setIDs[r.SNATMap]},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
	case r.SNATTo.IsValid():
		e = append(e,
			&expr.Immediate{Register: 1, Data: r.SNATTo.AsSlice()},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
	case r.RedirectTo != 0:
		const natRangeProtoSpecified = 1 << 1 // NF_NAT_RANGE_PROTO_SPECIFIED
		e = append(e,
			&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(r.RedirectTo)},
			&expr.Redir{RegisterProtoMin: 1, Flags: natRangeProtoSpecified})
	case r.Accept:
		e = append(e, &expr.Verdict{Kind: expr.VerdictAccept})
	case r.Drop:
		e = append(e, &expr.Verdict{Kind: expr.VerdictDrop})
	default:
		return nil, errors.New("rule has no action")
	}
	return e, nil
}
