package nft

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Kernel state as we compare it: per owned table, its chains (by
// fingerprint, not by body) and its sets with their elements.

type tableSnap struct {
	chains map[string]*chainSnap
	sets   map[string]*setSnap
	gen    uint64 // the compile (memo.gen) last applied to it, 0 if read back
}

type chainSnap struct {
	typ  nftables.ChainType
	hook nftables.ChainHook
	prio int32
	hasH bool   // a base chain
	fp   string // the fingerprint all its rules carry, "" if they disagree
	n    int    // number of rules
	// rules are an unordered chain's rule handles by rule fingerprint
	// (nil: not an unordered chain).
	rules map[string][]uint64
	// applied is the wanted chain it was last made equal to.
	applied *wantChain
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
	ranges6  []ip6Range
	relems   map[string]string // raw sets and maps (rawsets.go)
	applied  *wantSet          // the wanted set it was last made equal to
}

func (s *setSnap) matches(w *wantSet) bool {
	if w.raw != nil {
		return s.matchesRaw(w)
	}
	if s.relems != nil {
		return false
	}
	if w.isMap {
		return s.isMap && !s.interval && s.key == nftables.TypeIPAddr.GetNFTMagic() && s.data == nftables.TypeIPAddr.GetNFTMagic()
	}
	if w.v6 {
		return !s.isMap && s.interval && s.key == nftables.TypeIP6Addr.GetNFTMagic()
	}
	return !s.isMap && s.interval && s.key == nftables.TypeIPAddr.GetNFTMagic()
}

// cache remembers, per netns cookie, every owned table after our last
// apply and the generation id the kernel reported right after it.
var cache = struct {
	sync.Mutex
	m map[uint64]cacheEntry
}{m: map[uint64]cacheEntry{}}

type cacheEntry struct {
	gen    uint32
	tables map[tableKey]*tableSnap // every owned table the namespace has
}

// Forget drops the remembered state of a namespace: the next apply reads
// the kernel back in full.
func Forget(ns netns.NsHandle) error {
	c, err := open(ns)
	if err != nil {
		return err
	}
	defer c.close()
	cache.Lock()
	delete(cache.m, c.cookie)
	cache.Unlock()
	return nil
}

type conn struct {
	c      *nftables.Conn
	raw    *mnl.Conn // the same socket, for GETGEN and the cookie
	cookie uint64    // 0: unknown, no cache
}

func open(ns netns.NsHandle) (*conn, error) {
	fd := 0 // mdlayher/netlink: 0 = the caller's namespace
	if ns >= 0 {
		fd = int(ns)
	}
	nc := &conn{}
	c, err := nftables.New(nftables.WithNetNSFd(fd), nftables.AsLasting(),
		nftables.WithSockOptions(func(raw *mnl.Conn) error { nc.raw = raw; bigBuffers(raw); return nil }))
	if err != nil {
		return nil, err
	}
	nc.c = c
	nc.cookie = netnsCookie(nc.raw)
	return nc, nil
}

func (c *conn) close() { c.c.CloseLasting() }

// sockBuf is the send and receive buffer of a socket: a transaction of
// a host's security group tables holds thousands of messages (chains and
// rules of every port) in one sendmsg, and the kernel acknowledges each;
// the default buffers (rmem/wmem_default, 208 KiB) overflow with a dozen
// ports: "recvmsg: no buffer space available".
const sockBuf = 32 << 20

// bigBuffers raises the socket's buffers, past the system maximum when
// allowed (SO_*BUFFORCE needs CAP_NET_ADMIN, which the agent has); a
// failure leaves the defaults.
func bigBuffers(raw *mnl.Conn) {
	sc, err := raw.SyscallConn()
	if err != nil {
		return
	}
	sc.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], sockBuf) != nil {
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], sockBuf)
			}
		}
	})
}

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
func (c *conn) genID() (uint32, error) {
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

// readOwned returns every owned table of the namespace as the kernel has
// it, read back whole again if a commit or a set resize tore the read
// (consistent.go).
func (c *conn) readOwned() (map[tableKey]*tableSnap, error) {
	return consistent(c.genID, c.readOwnedOnce)
}

// readOwnedOnce is one read-back of every owned table.
func (c *conn) readOwnedOnce() (map[tableKey]*tableSnap, error) {
	tables, err := c.c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := map[tableKey]*tableSnap{}
	for _, t := range tables {
		if !strings.HasPrefix(t.Name, desired.NftOwnedPrefix) {
			continue
		}
		if !knownFamily(t.Family) {
			continue // not a family the agent writes: not ours
		}
		s, err := c.readTable(t)
		if err != nil {
			return nil, err
		}
		out[tableKey{t.Family, t.Name}] = s
	}
	return out, nil
}

// readTable reads one table's chains, rule fingerprints and sets.
func (c *conn) readTable(t *nftables.Table) (*tableSnap, error) {
	s := &tableSnap{chains: map[string]*chainSnap{}, sets: map[string]*setSnap{}}
	chains, err := c.c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != t.Name {
			continue
		}
		cs := &chainSnap{typ: ch.Type}
		if ch.Hooknum != nil && ch.Priority != nil {
			cs.hasH, cs.hook, cs.prio = true, *ch.Hooknum, int32(*ch.Priority)
		}
		rules, err := c.c.GetRules(t, &nftables.Chain{Name: ch.Name, Table: t})
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
		}
		cs.n = len(rules)
		readUnordered(cs, rules)
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
	sets, err := c.c.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	for _, set := range sets {
		ss, err := c.readSet(set)
		if err != nil {
			return nil, err
		}
		s.sets[set.Name] = ss
	}
	return s, nil
}

func (c *conn) readSet(set *nftables.Set) (*setSnap, error) {
	els, err := c.c.GetSetElements(set)
	if err != nil {
		return nil, fmt.Errorf("list elements of %s: %w", set.Name, err)
	}
	return decodeSet(set, els)
}

// decodeSet is the snapshot of a set with the elements a dump returned;
// ErrTornDump if the dump cannot be the set's content.
func decodeSet(set *nftables.Set, els []nftables.SetElement) (*setSnap, error) {
	if err := CheckElements(els); err != nil {
		return nil, fmt.Errorf("list elements of %s: %w", set.Name, err)
	}
	ss := &setSnap{isMap: set.IsMap, interval: set.Interval, key: set.KeyType.GetNFTMagic(), data: set.DataType.GetNFTMagic()}
	if rel, ok := readRaw(set, els); ok {
		ss.relems = rel
		return ss, nil
	}
	switch {
	case ss.isMap:
		ss.elems = make(map[uint32]*mapElem, len(els))
		for _, e := range els {
			if len(e.Key) == 4 && len(e.Val) == 4 {
				ss.elems[binary.BigEndian.Uint32(e.Key)] = &mapElem{val: binary.BigEndian.Uint32(e.Val)}
			}
		}
	case ss.interval && ss.key == nftables.TypeIP6Addr.GetNFTMagic():
		ss.ranges6 = decodeIntervals6(els)
	case ss.interval:
		ss.ranges = decodeIntervals(els)
	}
	return ss, nil
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
