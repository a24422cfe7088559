package nft

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/userdata"
)

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
	elems  []Element
}

func (o *elemOp) size() int { return len(o.del) + len(o.add) }

// flushElements sends the element differences: the first chunk rides
// with the queued structural changes in one atomic transaction; the rest
// follows in chunks of at most chunk elements.
func (a *tableApply) flushElements() error {
	var ops []*elemOp
	names := a.w.names
	if a.fast {
		names = a.w.dirtySets
	}
	for _, name := range names {
		ws, hs := a.w.sets[name], a.next.sets[name]
		if hs.applied == ws {
			continue // made equal to this very compile before
		}
		o, err := diffElements(ws, hs)
		if err != nil {
			return err
		}
		ops = append(ops, o...)
	}
	defer func() {
		// Every element change committed (or the state is dropped).
		for _, name := range names {
			a.next.sets[name].applied = a.w.sets[name]
		}
	}()
	// Deletions first (a range that grows is deleted before the merged
	// one is added), then by set and key for a stable order.
	slices.SortStableFunc(ops, func(x, y *elemOp) int {
		return cmp.Or(cmp.Compare(len(x.add), len(y.add)), strings.Compare(x.set, y.set), cmp.Compare(x.sort, y.sort))
	})
	// Every queued structural change has a change line, so queued > 0
	// tells whether the first batch holds anything.
	structural := a.queued > 0
	tbl := a.w.key.String()
	for i := 0; i == 0 || i < len(ops); {
		j, n := i, 0
		for j < len(ops) && (j == i || n+ops[j].size() <= chunk) {
			n += ops[j].size()
			j++
		}
		if err := a.queueElems(ops[i:j]); err != nil {
			return err
		}
		if structural || i < j {
			if err := a.c.Flush(); err != nil {
				if a.flushes == 0 {
					return fmt.Errorf("nft transaction: %w", err)
				}
				return fmt.Errorf("nft element changes: %w", err)
			}
			a.flushes++
		}
		structural = false
		for _, op := range ops[i:j] {
			op.commit(a.next.sets[op.set])
			a.res.Lines = append(a.res.Lines, op.lines...)
			for _, e := range op.elems {
				e.Table = tbl
				a.res.Elements = append(a.res.Elements, e)
			}
		}
		if j == i {
			break
		}
		i = j
	}
	return nil
}

func setFor(t *nftables.Table, ws *wantSet) *nftables.Set {
	s := &nftables.Set{Table: t, Name: ws.name, KeyType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.BigEndian}
	if ws.v6 {
		s.KeyType = nftables.TypeIP6Addr
	}
	if ws.isMap {
		s.IsMap, s.DataType = true, nftables.TypeIPAddr
	} else {
		s.Interval = true
	}
	return s
}

// diffElements compares one set's wanted elements with the kernel's.
func diffElements(ws *wantSet, hs *setSnap) ([]*elemOp, error) {
	if ws.raw != nil {
		return diffRaw(ws, hs), nil
	}
	if ws.isMap {
		return diffMap(ws, hs)
	}
	if ws.v6 {
		return diffRanges6(ws, hs), nil
	}
	var ops []*elemOp
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

func diffMap(ws *wantSet, hs *setSnap) ([]*elemOp, error) {
	var ops []*elemOp
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
			op.elems = append(op.elems, Element{Map: ws.name, Key: k, Value: u32Addr(hv), Removed: true})
		}
		op.lines = append(op.lines, fmt.Sprintf("nft add element %s %s : %s", ws.name, k, v))
		op.elems = append(op.elems, Element{Map: ws.name, Key: k, Value: v})
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
				lines:  []string{fmt.Sprintf("nft delete element %s %s : %s", ws.name, u32Addr(ku), u32Addr(hv))},
				elems:  []Element{{Map: ws.name, Key: u32Addr(ku), Value: u32Addr(hv), Removed: true}}})
		}
	}
	return ops, nil
}

// queueElems adds one chunk of element changes to the pending batch:
// per set, its deletions before its additions.
func (a *tableApply) queueElems(ops []*elemOp) error {
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
		s := &nftables.Set{Table: a.t, Name: name, IsMap: a.next.sets[name].isMap, Interval: a.next.sets[name].interval,
			KeyType: nftables.TypeIPAddr}
		if a.w.sets[name].v6 {
			s.KeyType = nftables.TypeIP6Addr
		}
		if rt := a.w.sets[name].raw; rt != nil {
			s = rawSetFor(a.t, name, rt)
		}
		if len(p.del) > 0 {
			if err := a.c.SetDeleteElements(s, p.del); err != nil {
				return fmt.Errorf("nft delete elements of %s: %w", name, err)
			}
		}
		if len(p.add) > 0 {
			if err := a.c.SetAddElements(s, p.add); err != nil {
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
