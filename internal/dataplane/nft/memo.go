package nft

import (
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// Compiling and diffing what did not change.
//
// A host's security group tables hold thousands of chains and rules;
// one rule's change must not cost a fingerprint of each of them, nor a
// walk over every verdict map element. The desired tables are not
// changed once handed over (desired.NftTable), so a chain whose rules
// are the very same slice as last time, or a map that is the very same
// map, compiles to what it did last time. A compile remembers, per
// namespace and table, what it compiled; the next one reuses it and
// lists what it compiled anew (dirtyChains, dirtySets). When the
// kernel's state is the one the previous compile was applied to
// (tableSnap.gen), the apply looks at only those.

// memo is what a compile keeps for the next one and tells the apply.
type memo struct {
	gen, from uint64             // this compile; the one it reused (0: none)
	src       []desired.NftChain // the chains as given
	regular   map[string]bool    // chain name -> regular (not base) chain
	sameNames bool               // the same chain and set names as from
	// dirtyChains and dirtySets were compiled anew (all, without from).
	dirtyChains []*wantChain
	dirtySets   []string
}

var compileGen atomic.Uint64

// srcID identifies what a set or map was compiled from: the backing
// array of its elements (or its map) and their number, and its types.
type srcID struct {
	p     unsafe.Pointer
	n     int
	types string
}

// mapID is a verdict map's source. Floating IP maps (Elements) are
// never reused: they cost nothing to compile, their diff is linear by
// design, and their planners change them in place.
func mapID(m desired.NftMap) srcID {
	k, v := m.Types()
	if m.Verdicts == nil {
		return srcID{}
	}
	return srcID{reflect.ValueOf(m.Verdicts).UnsafePointer(), len(m.Verdicts), k + ":" + v}
}

func setID(s desired.NftSet) srcID {
	if s.Hash || s.Type == desired.TypeEtherAddr {
		return srcID{unsafe.Pointer(unsafe.SliceData(s.Keys)), len(s.Keys), "hash " + s.Type}
	}
	return srcID{unsafe.Pointer(unsafe.SliceData(s.Elements)), len(s.Elements), s.Type}
}

// start begins a compile from prev.
func (w *wantTable) start(want *desired.NftTable, prev *wantTable) {
	w.gen = compileGen.Add(1)
	if prev == nil || len(prev.src) != len(want.Chains) {
		w.src = slices.Clone(want.Chains) // the headers: a caller may reuse its slice
		return
	}
	for i := range want.Chains {
		if want.Chains[i].Name != prev.src[i].Name {
			return
		}
	}
	w.from, w.sameNames, w.regular = prev.gen, true, prev.regular
}

// finish keeps the chain headers as given, in prev's array when it has
// one of the right size (prev is done with: no allocation per compile).
func (w *wantTable) finish(want *desired.NftTable, prev *wantTable) {
	if prev == nil || w.src != nil || len(prev.src) != len(want.Chains) {
		return
	}
	w.src = append(prev.src[:0], want.Chains...)
	prev.src = nil
}

// reuseSet takes prev's compile of a set or map made from the same
// source.
func (w *wantTable) reuseSet(name string, id srcID, prev *wantTable) bool {
	if prev == nil || id.p == nil {
		return false
	}
	ws := prev.sets[name]
	if ws == nil || ws.src != id {
		return false
	}
	w.sets[name] = ws
	return true
}

func (w *wantTable) addSet(ws *wantSet, id srcID) {
	ws.src = id
	w.sets[ws.name] = ws
	w.dirtySets = append(w.dirtySets, ws.name)
}

// sameChain reports whether two chain specs are the same, the rules by
// identity.
func sameChain(a, b desired.NftChain) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Hook == b.Hook && a.Priority == b.Priority &&
		a.Unordered == b.Unordered && len(a.Rules) == len(b.Rules) &&
		unsafe.SliceData(a.Rules) == unsafe.SliceData(b.Rules)
}

// memoKey is a table in a namespace (by netns cookie).
type memoKey struct {
	cookie uint64
	table  tableKey
}

// memos holds the last compile per namespace and table; bounded by
// forgetting everything when it grows past memoMax (namespaces come and
// go).
var memos = struct {
	sync.Mutex
	m map[memoKey]*wantTable
}{m: map[memoKey]*wantTable{}}

const memoMax = 4096

// compileAllIn is compileAll reusing the namespace's previous compiles
// (cookie 0: unknown namespace, no reuse).
func compileAllIn(want []desired.NftTable, cookie uint64) ([]*wantTable, error) {
	if cookie == 0 {
		return compileAll(want)
	}
	var out []*wantTable
	seen := map[tableKey]bool{}
	for i := range want {
		t := &want[i]
		fam := families[t.FamilyOrIP()]
		k := memoKey{cookie, tableKey{fam, t.NameOrDefault()}}
		memos.Lock()
		prev := memos.m[k]
		memos.Unlock()
		w, err := compileFrom(t, prev)
		if err != nil {
			return nil, err
		}
		if seen[w.key] {
			return nil, errDuplicate(w.key)
		}
		seen[w.key] = true
		memos.Lock()
		if len(memos.m) >= memoMax {
			clear(memos.m)
		}
		memos.m[k] = w
		memos.Unlock()
		out = append(out, w)
	}
	return out, nil
}
