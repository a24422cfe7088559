package api

import (
	"net/netip"
	"sync"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Automatic allocation walks a pool from its start past every claimed
// address before it meets the free ones it chooses from (ipam.Pick), so
// a create on a subnet with 5,000 ports made 6,000 claim lookups, a few
// hundred microseconds of a create. Addresses are handed out from the
// low end of the pool, so the claimed ones form a run at its start that
// only grows while no address is released. freeHints remembers, per
// pool, where that run ended and at which revision; a later walk starts
// there if no claim of the subnet was released since (View.LastRelease),
// which makes it exactly the walk from the pool start.

// maxHints bounds the hints kept (one per pool allocated from); past it
// they are all forgotten (a deleted subnet's hint is never used again).
const maxHints = 65536

type hintKey struct {
	subnet     string
	start, end netip.Addr
}

// freeHint: every address of the pool before first was claimed at rev
// (full: every address of the pool was).
type freeHint struct {
	rev   int64
	first netip.Addr
	full  bool
}

type freeHints struct {
	mu sync.Mutex
	m  map[hintKey]freeHint
}

// from returns where in pool p of subnet subnetID a walk may start in
// view v (every address before it is claimed in v), or full if every
// address of the pool is. It advances over the addresses claimed since
// the hint it had and keeps the new one. A nil receiver keeps no hints.
func (h *freeHints) from(v *store.View, subnetID string, p ipam.Pool) (first netip.Addr, full bool) {
	group := claims.IP(subnetID)
	key := hintKey{subnetID, p.Start, p.End}
	first = p.Start
	if h != nil {
		h.mu.Lock()
		e, ok := h.m[key]
		h.mu.Unlock()
		if ok && e.rev <= v.Rev() && v.LastRelease(group) <= e.rev {
			if e.full {
				return netip.Addr{}, true
			}
			first = e.first
		}
	}
	used := v.Claims(group)
	var buf [64]byte
	for {
		if _, u := used[string(first.AppendTo(buf[:0]))]; !u {
			break
		}
		if first == p.End {
			full = true
			break
		}
		first = first.Next()
	}
	if h != nil {
		h.mu.Lock()
		if len(h.m) >= maxHints {
			h.m = nil
		}
		if h.m == nil {
			h.m = map[hintKey]freeHint{}
		}
		if e, ok := h.m[key]; !ok || e.rev <= v.Rev() {
			h.m[key] = freeHint{rev: v.Rev(), first: first, full: full}
		}
		h.mu.Unlock()
	}
	return first, full
}
