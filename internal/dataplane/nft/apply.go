// Package nft reconciles the nftables tables the agent owns in a network
// namespace (family ip, inet or bridge; names starting with "neutrino")
// to their desired state (internal/desired).
//
// Design (STYLE.md §2.6, KERNEL.md §3):
//   - Chains are static and small; a chain whose rules differ from the
//     desired ones is flushed and refilled in the same transaction
//     (unordered chains excepted, see below). Rules
//     are recognised by a fingerprint of the whole chain spec stored in
//     every rule's comment ("<comment> #<hash>"), never by parsing bodies.
//   - What grows with the cloud (floating IPs) lives in maps; an apply adds
//     or deletes only the elements that differ, so the kernel's cost of
//     adding the 5,000th floating IP is that of the first. What remains
//     O(n) is comparing the wanted maps with the known ones in Go (about
//     25 ns per wanted element).
//   - A table's structure goes into one atomic transaction (one Flush),
//     except that element changes beyond the first 50 go into further
//     Flushes of at most 50 elements: google/nftables sends a batch in one
//     sendmsg, and large batches fail with EMSGSIZE/ENOBUFS (KERNEL.md §3).
//
// Reading back is O(size of the maps). To keep a one-element change flat
// whatever the map size, the last state of a namespace's tables is
// remembered together with the namespace's nftables generation id
// (NFT_MSG_GETGEN), which the kernel bumps on every committed nftables
// transaction in that namespace. The memory is used only while the kernel
// still reports that generation (nothing committed since) and it is
// replaced only when the generation moved by exactly the number of our
// own commits, so nobody else's change can be hidden behind it; anything
// else means a full read-back. Namespaces are told apart by their
// never-reused netns cookie (SO_NETNS_COOKIE), not by inode numbers. The
// state is checked out of the cache for the duration of an apply and put
// back only on success.
//
// Unordered chains (a security group's rules) are not refilled: their
// rules are added and deleted one by one, by kernel handle
// (unordered.go). A compile reuses what the previous one compiled from
// the same chains and sets, and an apply then looks only at what was
// compiled anew (memo.go): one rule's change costs the same whatever the
// size of the tables, on the Go side.
//
// The files: pool.go (sockets kept per namespace), compile.go (desired
// tables validated), memo.go (reuse of the previous compile),
// snapshot.go (kernel state read back and remembered), apply.go and
// elements.go (the diff and its transactions), unordered.go (rule by
// rule changes), ipv6sets.go, rawsets.go and hashsets.go (IPv6 interval
// sets, verdict maps, hash sets of MACs and IPv4 addresses), exprs.go (rule expressions), readmap.go (a verdict map read for
// the agent's start).
package nft

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/vishvananda/netns"
)

// chunk is the most set elements sent in one Flush (KERNEL.md §3).
const chunk = 50

// Result is what an apply did: one human-readable line per change (for
// logs) and, structured, every map element it added or removed (what
// conntrack cleanup and announcements act on).
type Result struct {
	Lines    []string
	Elements []Element
}

// Element is one map element an apply added or removed; a changed value
// is a removal of the old pair and an addition of the new one.
type Element struct {
	Table   string // "ip neutrino"
	Map     string
	Key     netip.Addr
	Value   netip.Addr
	Removed bool
}

// allRemoved lists the elements of a map that goes as a whole (its
// table or the map itself no longer wanted): their floating IPs need
// their conntrack entries deleted as much as single removals do.
func allRemoved(table, name string, s *setSnap) []Element {
	if s == nil || !s.isMap {
		return nil
	}
	out := make([]Element, 0, len(s.elems))
	for k, e := range s.elems {
		out = append(out, Element{Table: table, Map: name, Key: u32Addr(k), Value: u32Addr(e.val), Removed: true})
	}
	return out
}

// RemovedKeys returns the keys of a map's elements the apply removed or
// replaced.
func (r *Result) RemovedKeys(table, mapName string) []netip.Addr {
	var out []netip.Addr
	for _, e := range r.Elements {
		if e.Removed && e.Table == table && e.Map == mapName {
			out = append(out, e.Key)
		}
	}
	return out
}

// Apply reconciles the owned tables of namespace ns (a handle from
// netns; a negative handle means the caller's namespace) to want: tables
// in want are made exactly so, owned tables not in want are deleted. A
// second call with the same want changes nothing.
func Apply(ns netns.NsHandle, want []desired.NftTable) (*Result, error) {
	return ApplyTables(ns, want, true)
}

// ApplyTables is Apply where removeOthers says whether owned tables not
// in want are deleted (false: they are left as they are, as the host
// namespace's tables are before the agent has its first full view).
func ApplyTables(ns netns.NsHandle, want []desired.NftTable, removeOthers bool) (*Result, error) {
	e, err := acquire(ns)
	if err != nil {
		if _, cerr := compileAll(want); cerr != nil {
			return &Result{}, cerr
		}
		return &Result{}, fmt.Errorf("nftables in netns: %w", err)
	}
	e.mu.Lock()
	ws, err := compileAllIn(want, e.conn.cookie)
	res := &Result{}
	if err == nil {
		res, err = e.conn.applyAll(ws, removeOthers)
	}
	e.mu.Unlock()
	// A failed apply may leave queued messages or a sticky error in the
	// connection: start the next one on a fresh socket. Tables deleted
	// with none left usually means the namespace goes next: do not pin
	// it. (A namespace that never had a table, a DHCP one, keeps its
	// pooled socket like any other.)
	release(e, err != nil || (len(ws) == 0 && len(res.Lines) > 0))
	return res, err
}

var setIDs atomic.Uint32 // transaction-local set ids (google/nftables' own counter is not goroutine-safe)

// checkout takes the remembered state of the namespace out of the cache;
// it is usable if the kernel's generation proves nothing was committed
// since.
func (c *conn) checkout(gen0 uint32, genErr error) (map[tableKey]*tableSnap, bool) {
	if c.cookie == 0 {
		return nil, false
	}
	cache.Lock()
	e, ok := cache.m[c.cookie]
	delete(cache.m, c.cookie)
	cache.Unlock()
	return e.tables, ok && genErr == nil && e.gen == gen0
}

func (c *conn) applyAll(want []*wantTable, removeOthers bool) (*Result, error) {
	res := &Result{}
	gen0, genErr := c.genID()
	have, cached := c.checkout(gen0, genErr)
	if !cached {
		var err error
		if have, err = c.readOwned(); err != nil {
			return res, err
		}
	}
	next := make(map[tableKey]*tableSnap, len(have))
	for k, v := range have {
		next[k] = v
	}
	wanted := map[tableKey]bool{}
	for _, w := range want {
		wanted[w.key] = true
	}
	commits := 0
	var stale []tableKey
	for k := range next {
		if !wanted[k] && removeOthers {
			stale = append(stale, k)
		}
	}
	slices.SortFunc(stale, func(a, b tableKey) int {
		return cmp.Or(cmp.Compare(a.family, b.family), strings.Compare(a.name, b.name))
	})
	for _, k := range stale {
		c.c.DelTable(&nftables.Table{Family: k.family, Name: k.name})
		if err := c.c.Flush(); err != nil {
			return res, fmt.Errorf("nft delete table %s: %w", k, err)
		}
		commits++
		if snap := next[k]; snap != nil {
			for name, ss := range snap.sets {
				res.Elements = append(res.Elements, allRemoved(k.String(), name, ss)...)
			}
		}
		delete(next, k)
		res.Lines = append(res.Lines, "nft delete table "+k.String())
	}
	for _, w := range want {
		ta := &tableApply{conn: c, w: w, res: res, t: &nftables.Table{Family: w.key.family, Name: w.key.name}}
		snap, err := ta.run(next[w.key])
		commits += ta.flushes
		if err != nil {
			return res, err
		}
		next[w.key] = snap
	}
	c.remember(gen0, commits, next)
	return res, nil
}

// remember stores the tables as the namespace's state if the generation
// moved by exactly our own commits since gen0.
func (c *conn) remember(gen0 uint32, commits int, tables map[tableKey]*tableSnap) {
	if c.cookie == 0 {
		return
	}
	gen1, err := c.genID()
	cache.Lock()
	defer cache.Unlock()
	if err != nil || !wrapsTo(gen0, commits, gen1) {
		delete(cache.m, c.cookie)
		return
	}
	cache.m[c.cookie] = cacheEntry{gen: gen1, tables: tables}
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

// tableApply is the reconciliation of one table.
type tableApply struct {
	*conn
	w       *wantTable
	t       *nftables.Table
	res     *Result
	next    *tableSnap // the state once the transactions commit
	flushes int
	queued  int      // change lines of structural changes queued
	stale   []string // chains emptied, deleted last
	// fast: the kernel has what the compile this one reused was applied
	// to, so only what was compiled anew is looked at (memo.go).
	fast bool
	// ruleOps are the rule changes of unordered chains (unordered.go);
	// gone are the sets no longer wanted, deleted last.
	ruleOps []ruleOp
	gone    []string
}

func (a *tableApply) did(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if !a.w.key.isDefault() {
		line += " (table " + a.w.key.String() + ")"
	}
	a.res.Lines = append(a.res.Lines, line)
	a.queued++
}

func (a *tableApply) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: a.t}
}

func (a *tableApply) run(have *tableSnap) (*tableSnap, error) {
	// From here on next is the state the kernel will have once the
	// transactions commit (sets are changed in place: checked out).
	a.next = &tableSnap{chains: map[string]*chainSnap{}, sets: map[string]*setSnap{}}
	if have == nil {
		a.c.AddTable(a.t)
		a.res.Lines = append(a.res.Lines, "nft add table "+a.w.key.String())
		a.queued++
	} else {
		a.fast = have.gen != 0 && have.gen == a.w.from && a.w.sameNames
		a.next.chains, a.next.sets = have.chains, have.sets // checked out: ours to change
	}
	delSets, addSets := a.setChanges()
	// A set that is replaced (its type changed) is deleted in the first
	// transaction: every rule, which may refer to it, is refilled there.
	// One that is only no longer wanted goes last, once the rules that
	// referred to it are gone.
	var replaced []string
	for _, name := range delSets {
		if slices.Contains(addSets, name) {
			replaced = append(replaced, name)
		} else {
			a.gone = append(a.gone, name)
		}
	}
	work := a.queueChainChanges(len(replaced) > 0)
	ids, err := a.queueSetChanges(replaced, addSets)
	if err != nil {
		return nil, err
	}
	if err := a.queueRules(work, ids); err != nil {
		return nil, err
	}
	if err := a.flushElements(); err != nil {
		return nil, err
	}
	if err := a.flushRules(); err != nil {
		return nil, err
	}
	if err := a.deleteStale(); err != nil {
		return nil, err
	}
	a.next.gen = a.w.gen
	return a.next, nil
}

// deleteStale deletes the chains queueChainChanges emptied and the sets
// no longer wanted, in a transaction of their own now that no rule or
// element refers to them.
func (a *tableApply) deleteStale() error {
	if len(a.stale) == 0 && len(a.gone) == 0 {
		return nil
	}
	for _, name := range a.stale {
		a.c.DelChain(a.chain(name))
		delete(a.next.chains, name)
	}
	for _, name := range a.gone {
		ss := a.next.sets[name]
		a.c.DelSet(&nftables.Set{Name: name, Table: a.t})
		delete(a.next.sets, name)
		a.res.Lines = append(a.res.Lines, a.line("nft delete %s %s", kindOf(ss.isMap), name))
		a.res.Elements = append(a.res.Elements, allRemoved(a.w.key.String(), name, ss)...)
	}
	if err := a.c.Flush(); err != nil {
		return fmt.Errorf("nft delete chains and sets: %w", err)
	}
	a.flushes++
	return nil
}

// setChanges lists the sets and maps that are missing, of the wrong
// kind, or not wanted.
func (a *tableApply) setChanges() (del, add []string) {
	if a.fast {
		// The same names as the kernel has: only a new compile can
		// have changed a type.
		for _, name := range a.w.dirtySets {
			if !a.next.sets[name].matches(a.w.sets[name]) {
				del = append(del, name)
			}
		}
		slices.Sort(del)
		return del, slices.Clone(del)
	}
	for name, hs := range a.next.sets {
		ws, ok := a.w.sets[name]
		switch {
		case !ok:
			del = append(del, name)
		case !hs.matches(ws):
			del = append(del, name)
			add = append(add, name)
		}
	}
	for _, name := range a.w.names {
		if _, ok := a.next.sets[name]; !ok {
			add = append(add, name)
		}
	}
	slices.Sort(del)
	slices.Sort(add)
	return del, add
}

type chainWork struct {
	wc             *wantChain
	create, refill bool
}

// queueChainChanges deletes chains nobody wants and decides which
// wanted chains to create or refill.
func (a *tableApply) queueChainChanges(refillAll bool) []chainWork {
	chains := a.w.chains
	if a.fast && !refillAll {
		chains = a.w.dirtyChains // the others are as applied, and no chain is stale
	} else {
		a.queueStaleChains()
	}
	var work []chainWork
	for _, wc := range chains {
		hc, ok := a.next.chains[wc.spec.Name]
		cw := chainWork{wc: wc}
		s := wc.spec
		switch {
		case !ok:
			cw.create = true
			a.did("nft add chain %s { type %s hook %s priority %d }", s.Name, s.Type, s.Hook, s.Priority)
		case hc.hasH != wc.base || (wc.base && (hc.typ != wc.typ || hc.hook != wc.hook || hc.prio != int32(s.Priority))):
			// Hooks cannot be changed in place: delete and recreate.
			a.c.FlushChain(a.chain(s.Name))
			a.c.DelChain(a.chain(s.Name))
			cw.create = true
			a.did("nft replace chain %s { type %s hook %s priority %d }", s.Name, s.Type, s.Hook, s.Priority)
		case wc.unordered:
			if hc.applied == wc && !refillAll {
				break
			}
			flush := refillAll || hc.rules == nil
			if flush && hc.n > 0 {
				a.c.FlushChain(a.chain(s.Name))
				a.did("nft flush chain %s (its %d rules added one by one)", s.Name, len(s.Rules))
			}
			a.queueUnordered(wc, hc, flush)
		case refillAll || hc.n != len(s.Rules) || (hc.n > 0 && hc.fp != wc.fp):
			a.c.FlushChain(a.chain(s.Name))
			cw.refill = true
			a.did("nft flush+fill chain %s (%d rules)", s.Name, len(s.Rules))
		}
		if cw.create {
			if wc.unordered {
				a.queueUnordered(wc, nil, true)
			} else {
				cw.refill = true
			}
		}
		work = append(work, cw)
	}
	return work
}

// queueStaleChains empties the chains nobody wants; deleteStale deletes
// them after the element changes (a verdict map element may point at
// one).
func (a *tableApply) queueStaleChains() {
	var stale []string
	for name := range a.next.chains {
		if _, ok := a.w.regular[name]; !ok {
			stale = append(stale, name)
		}
	}
	slices.Sort(stale)
	for _, name := range stale {
		a.c.FlushChain(a.chain(name))
		a.did("nft delete chain %s", name)
	}
	a.stale = stale
}

// queueSetChanges deletes and (re)creates sets and maps; it returns the
// transaction ids of the new ones (rules refer to them by id).
func (a *tableApply) queueSetChanges(replaced, addSets []string) (map[string]uint32, error) {
	for _, name := range replaced {
		a.c.DelSet(&nftables.Set{Name: name, Table: a.t})
		delete(a.next.sets, name)
	}
	ids := map[string]uint32{}
	for _, name := range addSets {
		ws := a.w.sets[name]
		s := setFor(a.t, ws)
		if ws.raw != nil {
			s = rawSetFor(a.t, name, ws.raw)
		}
		s.ID = setIDs.Add(1)
		if err := a.c.AddSet(s, nil); err != nil {
			return nil, fmt.Errorf("nft add %s %s: %w", kindOf(ws.isMap), name, err)
		}
		ids[name] = s.ID
		if slices.Contains(replaced, name) {
			a.did("nft replace %s %s (type differs)", kindOf(ws.isMap), name)
		} else {
			a.did("nft add %s %s", kindOf(ws.isMap), name)
		}
		ns := &setSnap{isMap: ws.isMap, interval: !ws.isMap, key: nftables.TypeIPAddr.GetNFTMagic()}
		if ws.v6 {
			ns.key = nftables.TypeIP6Addr.GetNFTMagic()
		}
		if ws.raw != nil {
			ns = rawSnap(ws.raw)
		} else if ws.isMap {
			ns.data = nftables.TypeIPAddr.GetNFTMagic()
			ns.elems = map[uint32]*mapElem{}
		}
		a.next.sets[name] = ns
	}
	return ids, nil
}

// queueRules creates chains and fills the ones to refill: every new
// chain first, since a rule may jump to a chain that sorts after its own.
func (a *tableApply) queueRules(work []chainWork, ids map[string]uint32) error {
	chains := make([]*nftables.Chain, len(work))
	for i, cw := range work {
		wc := cw.wc
		ch := &nftables.Chain{Name: wc.spec.Name, Table: a.t}
		if wc.base {
			ch.Type, ch.Hooknum, ch.Priority = wc.typ, new(wc.hook), new(nftables.ChainPriority(wc.spec.Priority))
			ch.Policy = new(nftables.ChainPolicyAccept)
		}
		chains[i] = ch
		if cw.create {
			a.c.AddChain(ch)
		}
	}
	for i, cw := range work {
		wc, ch := cw.wc, chains[i]
		if !cw.refill || wc.unordered {
			continue
		}
		for i, r := range wc.spec.Rules {
			exprs, err := ruleExprs(r, a.t.Family, ids)
			if err != nil {
				return fmt.Errorf("nft chain %s rule %d: %w", wc.spec.Name, i, err)
			}
			a.c.AddRule(&nftables.Rule{Table: a.t, Chain: ch, Exprs: exprs, UserData: ruleComment(r.Comment, wc.fp)})
		}
		a.next.chains[wc.spec.Name] = &chainSnap{typ: wc.typ, hook: wc.hook, prio: int32(wc.spec.Priority), hasH: wc.base, fp: wc.fp,
			n: len(wc.spec.Rules), applied: wc}
	}
	return nil
}

func kindOf(isMap bool) string {
	if isMap {
		return "map"
	}
	return "set"
}
