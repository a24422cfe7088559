// Package linklocal allocates the /31 link-local subnets of DVR's
// router-to-fip links (rfp-/fpr-), as upstream's agent does: from
// 169.254.64.0/18, one pair per router, the even address for rfp- (in
// qrouter-) and the odd one for fpr- (in fip-). Allocations are kept in a
// file (one "router_id,cidr" line each, upstream's
// fip-linklocal-networks) so that a restarted agent gives every router
// the pair it had: the data plane it finds then matches its plan and the
// restart changes nothing.
package linklocal

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Pool is upstream's DVR_FIP_LL_CIDR.
var Pool = netip.MustParsePrefix("169.254.64.0/18")

// FileName is the allocation file's name under the agent's state_path.
const FileName = "fip-linklocal-networks"

// ErrExhausted means every pair of the pool is taken.
var ErrExhausted = errors.New("link-local pool 169.254.64.0/18 exhausted")

// Allocator hands out /31 pairs by key (a router id). It is safe for
// concurrent use.
type Allocator struct {
	mu   sync.Mutex
	path string // "" = in memory only
	pool netip.Prefix
	size int // pairs in the pool
	// byKey and byIndex hold the allocations; remembered are those read
	// from the file and not asked for since: they give way first when
	// the pool runs out (upstream's rule).
	byKey      map[string]int
	byIndex    map[int]string
	remembered map[string]bool
	next       int
}

// Open reads the allocations kept in dir (created if missing); dir ""
// keeps them in memory only. Lines that do not parse, or that name a
// pair outside the pool or already taken, are dropped (and the file
// rewritten on the next change).
func Open(dir string) (*Allocator, error) {
	a := newAllocator(Pool)
	if dir == "" {
		return a, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("link-local allocations: %w", err)
	}
	a.path = filepath.Join(dir, FileName)
	f, err := os.Open(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("link-local allocations: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, cidr, ok := strings.Cut(strings.TrimSpace(sc.Text()), ",")
		if !ok || key == "" {
			continue
		}
		p, err := netip.ParsePrefix(cidr)
		i, ok := a.indexOf(p)
		if err != nil || !ok || a.byIndex[i] != "" || a.byKey[key] != 0 {
			continue
		}
		a.take(key, i)
		a.remembered[key] = true
	}
	return a, sc.Err()
}

func newAllocator(pool netip.Prefix) *Allocator {
	return &Allocator{pool: pool, size: 1 << (32 - pool.Bits()) / 2, byKey: map[string]int{}, byIndex: map[int]string{},
		remembered: map[string]bool{}}
}

// Indexes are stored +1 in byKey so that the zero value means "none".
func (a *Allocator) take(key string, i int) {
	a.byKey[key] = i + 1
	a.byIndex[i] = key
}

func (a *Allocator) indexOf(p netip.Prefix) (int, bool) {
	if !p.IsValid() || p.Bits() != 31 || !p.Addr().Is4() || p.Masked() != p || !a.pool.Contains(p.Addr()) {
		return 0, false
	}
	b, base := p.Addr().As4(), a.pool.Addr().As4()
	off := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) -
		(uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3]))
	return int(off / 2), true
}

func (a *Allocator) prefix(i int) netip.Prefix {
	base := a.pool.Addr().As4()
	u := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3]) + uint32(2*i)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}), 31)
}

// Get returns key's pair (a /31: the even address is rfp-'s, the next
// one fpr-'s), allocating one if key has none.
func (a *Allocator) Get(key string) (netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := a.byKey[key]; i != 0 {
		delete(a.remembered, key)
		return a.prefix(i - 1), nil
	}
	i, ok := a.free()
	if !ok {
		return netip.Prefix{}, ErrExhausted
	}
	a.take(key, i)
	return a.prefix(i), a.save()
}

// free finds a free pair, reclaiming remembered ones when none is left.
func (a *Allocator) free() (int, bool) {
	for n := 0; n < a.size; n++ {
		i := (a.next + n) % a.size
		if a.byIndex[i] == "" {
			a.next = (i + 1) % a.size
			return i, true
		}
	}
	if len(a.remembered) == 0 {
		return 0, false
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range a.remembered {
			if !yield(k) {
				return
			}
		}
	}) {
		i := a.byKey[k] - 1
		delete(a.byKey, k)
		delete(a.byIndex, i)
	}
	clear(a.remembered)
	return a.free()
}

// Release frees key's pair, if it has one.
func (a *Allocator) Release(key string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := a.byKey[key]
	if i == 0 {
		return nil
	}
	delete(a.byKey, key)
	delete(a.byIndex, i-1)
	delete(a.remembered, key)
	return a.save()
}

// save rewrites the file (through a rename, so that a crash leaves the
// old or the new allocations, never half of them).
func (a *Allocator) save() error {
	if a.path == "" {
		return nil
	}
	keys := make([]string, 0, len(a.byKey))
	for k := range a.byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s,%s\n", k, a.prefix(a.byKey[k]-1))
	}
	tmp := a.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("link-local allocations: %w", err)
	}
	if err := os.Rename(tmp, a.path); err != nil {
		return fmt.Errorf("link-local allocations: %w", err)
	}
	return nil
}
