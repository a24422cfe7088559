package nft

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
)

// A read-back of the kernel's tables is a series of netlink dumps (the
// tables, each table's chains, each chain's rules, each set's elements),
// and a big set's elements come in several parts. Two things can tear
// such a view, and the agent must never diff against a torn one: it
// would add what is there or, worse, delete what is wanted.
//
//   - Another writer commits between two dumps or between two parts of
//     one dump. Every commit moves the namespace's ruleset generation
//     (the kernel's base_seq, which is also what sets NLM_F_DUMP_INTR
//     on an nftables dump; google/nftables does not report that flag):
//     the generation read before and after the whole read-back differs.
//   - A hash set's table is resized between two parts of its element
//     dump. The kernel resumes a dump by skipping as many elements as it
//     already sent (nft_rhash_walk's iter.skip), but a resize — done
//     later by a kernel worker after a big add or delete, so under load
//     after our transaction returned — reorders the buckets: some
//     elements are sent twice and others never (a walk that meets the
//     resize itself restarts and sends more twice). No generation moves
//     and no flag is set. Seen on kernel 6.18 under load: 300 map
//     elements read back as 300 with 20-79 duplicates (2 of 200 reads),
//     or as 333. The duplicates give it away: a set never holds one
//     element twice, and with a fixed content every walk covers all of
//     it: if the parts before and after a boundary (walks A and B) miss
//     x, x lies before the boundary in B and not in A, so one of A's
//     first elements lies after it in B and is sent twice.

// ErrTornDump says a dump returned an element twice.
var ErrTornDump = errors.New("nftables set dump returned an element twice (the set was resized while it was dumped)")

// readAttempts bounds the retries of a torn read-back.
const readAttempts = 8

// readPause waits before retry attempt n (1, 2, ...): a pending resize
// is done by a kernel worker, which a busy machine runs late.
var readPause = func(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

// ReadConsistent opens namespace ns's nftables (the caller's for a
// negative handle) and runs read on it until it returns a view that no
// commit and no set resize tore, as the agent's own read-backs do; read
// must return CheckElements' error for each set dump it reads. Tools
// that only look (the testbed's failure reports) use it too, so that a
// report never shows a torn set as the kernel's content.
func ReadConsistent[T any](ns netns.NsHandle, read func(*nftables.Conn) (T, error)) (T, error) {
	c, err := open(ns)
	if err != nil {
		var zero T
		return zero, err
	}
	defer c.close()
	return consistent(c.genID, func() (T, error) { return read(c.c) })
}

// consistent runs read until it returns a view that no commit (gen
// moved) and no resize (ErrTornDump) tore. A read that fails while the
// generation moved is retried too: a chain or set deleted between
// listing and reading it is not an error of ours.
func consistent[T any](gen func() (uint32, error), read func() (T, error)) (T, error) {
	var (
		zero T
		why  error
	)
	for n := range readAttempts {
		if n > 0 {
			readPause(n)
		}
		g0, gerr0 := gen()
		v, err := read()
		if errors.Is(err, ErrTornDump) {
			why = err
			continue
		}
		g1, gerr1 := gen()
		moved := gerr0 == nil && gerr1 == nil && g0 != g1
		if moved {
			why = fmt.Errorf("ruleset generation moved from %d to %d during the read", g0, g1)
			continue
		}
		return v, err
	}
	return zero, fmt.Errorf("nftables read-back still inconsistent after %d attempts: %w", readAttempts, why)
}

// CheckElements returns ErrTornDump if a dump holds an element twice: a
// reader given to ReadConsistent calls it on every set dump it reads.
// An interval set legitimately holds the end of one range and the start
// of the next under the same key, so the end flag is part of identity.
func CheckElements(els []nftables.SetElement) error {
	type id struct {
		key string
		end bool
	}
	seen := make(map[id]struct{}, len(els))
	for _, e := range els {
		k := id{string(e.Key), e.IntervalEnd}
		if _, dup := seen[k]; dup {
			return ErrTornDump
		}
		seen[k] = struct{}{}
	}
	return nil
}
