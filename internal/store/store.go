// Package store keeps Neutrino's state in etcd and serves reads from a
// watch-fed cache.
//
// Key layout, under a prefix (default "/neutrino/"):
//
//	r/<kind>/<id>        a resource, JSON
//	c/<group>/<member>   a uniqueness claim (an IP in a subnet, a MAC on a
//	                     network, a segment id); the value names the owner
//	k/<name>             plain keys (identity, settings)
//
// Invariants:
//   - A resource and every claim it holds are written in one etcd
//     transaction, so a crash never leaves a half-made port or an address
//     claimed without its port.
//   - Writes are optimistic: a write reads the cache, then commits a
//     transaction guarded by the mod revisions of everything it read. If
//     anything changed in between, the transaction fails, the cache
//     catches up and the write is planned again. No locks, several servers
//     may share one etcd.
//   - A write returns only once the cache has seen it, so a client that
//     reads after its write sees it (read-your-writes on each server).
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Decoder turns a stored resource into its Go value. Values are shared by
// readers and must never be modified after decoding.
type Decoder func(raw []byte) (any, error)

// Owned is implemented by decoded resources that belong to an owner (a
// project). The cache keeps a count per kind and owner, so that quota
// checks need not scan every resource of a kind on each create.
type Owned interface{ Owner() string }

// Entry is one cached resource.
type Entry struct {
	ID        string
	Obj       any
	Raw       []byte
	ModRev    int64
	CreateRev int64
	// Memo lets readers attach a value derived only from this entry (for
	// example its encoded JSON). It dies with the entry.
	Memo atomic.Pointer[any]
	// Wire is Raw as agent streams send it (syncproto.CompactData), set
	// by the first stream that sends the entry and shared by the others.
	Wire atomic.Pointer[[]byte]
}

// Store is the etcd-backed state with its cache.
type Store struct {
	cli      *clientv3.Client
	prefix   string
	decoders map[string]Decoder

	mu     sync.RWMutex
	rev    int64
	objs   map[string]map[string]*Entry // kind -> id -> entry
	owned  map[string]map[string]int    // kind -> owner -> count of Owned entries
	claims map[string]map[string]string // group -> member -> owner
	kvs    map[string][]byte            // k/ keys
	idx    indexes                      // secondary indexes (index.go)
	notify chan struct{}                // closed and replaced on every advance of rev

	indexFns map[string]map[string]IndexFunc
	// claimIdx are the indexes of claim groups (claimindex.go).
	claimIdx      map[string]ClaimIndex
	claimIndexFns []claimIndexFn
	// prepare is told of own commits' new entries (WithPrepare).
	prepare func(kind string, e *Entry)
	// resNotify is closed and replaced when resources change (not plain
	// keys such as heartbeats): agent streams wake on it.
	resNotify chan struct{}
	// changes is the log of recent resource changes (readset.go),
	// complete for revisions after changesFloor.
	changes      []change
	changesFloor int64

	watcher clientv3.Watcher
	// watchCtx is the context of the watch stream (with the
	// require-leader metadata that names the stream in the client).
	watchCtx context.Context
	stop     context.CancelFunc
	done     chan struct{}

	// kv is where transactions go: the client, or a wrapper in tests
	// that injects failures.
	kv clientv3.KV
	// timeout bounds every etcd request the store makes on behalf of a
	// request (WithTimeout).
	timeout time.Duration
	// valueHooks are told about plain keys as the watch applies them
	// (OnValue).
	valueHooks []valueHook

	// Sync's shared quorum reads (sync.go).
	syncMu            sync.Mutex
	syncCur, syncNext *revCall
	lastProgress      atomic.Int64 // unix ns of the last progress request
	progressSafe      bool         // progress notifications can be trusted
	localRev          func() int64 // the revision without a quorum read (WithLocalRevision)
	// own are this server's commits waiting for the cache, by revision
	// (own.go).
	own map[int64]*Txn

	stats txnCounters // what Update went through (TxnStats)
}

// txnCounters count Update's outcomes for the metrics.
type txnCounters struct {
	commits, conflicts, retries, gaveUp atomic.Uint64
	ownApplied                          atomic.Uint64 // commits the cache took from the transaction (own.go)
}

// TxnStats are the counts of Update's transactions since Open.
type TxnStats struct {
	Commits   uint64 // transactions committed
	Conflicts uint64 // commits that lost a race (the guarded revisions had moved)
	Retries   uint64 // re-plans after a lost race
	GaveUp    uint64 // writes that lost maxAttempts races (ErrConflict)
}

// TxnStats returns the transaction counters.
func (s *Store) TxnStats() TxnStats {
	return TxnStats{Commits: s.stats.commits.Load(), Conflicts: s.stats.conflicts.Load(),
		Retries: s.stats.retries.Load(), GaveUp: s.stats.gaveUp.Load()}
}

// ErrConflict is returned when a write kept losing races; callers map it
// to 409.
var ErrConflict = errors.New("store: too many concurrent changes, try again")

// Open loads everything under prefix into the cache and starts following
// changes. The decoders say which resource kinds exist.
func Open(ctx context.Context, cli *clientv3.Client, prefix string, decoders map[string]Decoder, opts ...Option) (*Store, error) {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &Store{
		cli:       cli,
		prefix:    prefix,
		decoders:  decoders,
		notify:    make(chan struct{}),
		done:      make(chan struct{}),
		indexFns:  map[string]map[string]IndexFunc{},
		resNotify: make(chan struct{}),
		kv:        cli.KV,
		timeout:   DefaultTimeout,
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	s.progressSafe = s.checkProgressSafe(ctx)
	wctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.watchCtx = clientv3.WithRequireLeader(wctx)
	// The client's own watcher: the in-process client of embedded etcd has
	// no gRPC connection for clientv3.NewWatcher to use.
	s.watcher = cli.Watcher
	go s.follow(wctx)
	return s, nil
}

// Close stops following etcd.
func (s *Store) Close() {
	s.stop()
	<-s.done
}

// Client is the underlying etcd client (for the agent watch streams).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the key prefix this store owns.
func (s *Store) Prefix() string { return s.prefix }

// Rev is the etcd revision the cache reflects.
func (s *Store) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// WaitRev blocks until the cache reflects revision rev. It gives up
// after the store's timeout (or when ctx ends) with an error wrapping
// ErrUnavailable.
func (s *Store) WaitRev(ctx context.Context, rev int64) error {
	var tick *time.Ticker
	var deadline <-chan time.Time
	var start time.Time
	for {
		s.mu.RLock()
		cur, ch := s.rev, s.notify
		s.mu.RUnlock()
		if cur >= rev {
			if tick != nil {
				tick.Stop()
			}
			return nil
		}
		if tick == nil {
			// The revision may belong to a key outside our prefix (a
			// shared cluster); a progress notification moves us past it.
			tick = time.NewTicker(progressNudge)
			start = time.Now()
			t := time.NewTimer(s.timeout)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-ch:
		case <-tick.C:
			s.requestProgress(time.Since(start))
		case <-deadline:
			tick.Stop()
			return fmt.Errorf("%w: store cache at revision %d, waited %v for %d", ErrUnavailable, cur, s.timeout, rev)
		case <-ctx.Done():
			tick.Stop()
			return classify(fmt.Errorf("wait for store revision %d (at %d): %w", rev, cur, ctx.Err()))
		}
	}
}

// View runs fn with a consistent view of the cache. fn must be quick and
// must not call back into the store.
func (s *Store) View(fn func(v *View)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(&View{s: s})
}

// View is a read-only, consistent look at the cache, valid only inside
// View or Update callbacks.
type View struct {
	s   *Store
	rec *ReadSet // records reads (readset.go); nil = not recording
}

// Rev is the revision this view reflects.
func (v *View) Rev() int64 { return v.s.rev }

// Get returns one resource.
func (v *View) Get(kind, id string) (*Entry, bool) {
	v.recordGet(kind, id)
	e, ok := v.s.objs[kind][id]
	return e, ok
}

// Each calls fn for every resource of kind, in no particular order, until
// fn returns false.
func (v *View) Each(kind string, fn func(e *Entry) bool) {
	v.recordEach(kind)
	for _, e := range v.s.objs[kind] {
		if !fn(e) {
			return
		}
	}
}

// Count is the number of resources of kind.
func (v *View) Count(kind string) int { v.recordEach(kind); return len(v.s.objs[kind]) }

// CountOwned is the number of resources of kind whose value is Owned by
// owner. It is kept up to date with the cache (no scan).
func (v *View) CountOwned(kind, owner string) int {
	v.recordEach(kind)
	return v.s.owned[kind][owner]
}

// Claims returns the members of a claim group and their owners. The map
// must not be modified.
func (v *View) Claims(group string) map[string]string {
	v.recordOpaque()
	return v.s.claims[group]
}

// Claim returns the owner of one claim.
func (v *View) Claim(group, member string) (string, bool) {
	v.recordOpaque()
	o, ok := v.s.claims[group][member]
	return o, ok
}

// Value returns a plain key.
func (v *View) Value(name string) ([]byte, bool) {
	v.recordOpaque()
	b, ok := v.s.kvs[name]
	return b, ok
}

// Values calls fn for every plain key under prefix, in no particular
// order.
func (v *View) Values(prefix string, fn func(name string, val []byte)) {
	v.recordOpaque()
	for name, val := range v.s.kvs {
		if strings.HasPrefix(name, prefix) {
			fn(name, val)
		}
	}
}

// Txn collects the guarded changes of one write.
type Txn struct {
	s       *Store
	readRev int64
	cmps    []clientv3.Cmp
	ops     []clientv3.Op
	keys    map[string]bool
	claimed map[string]map[string]bool // group -> member, claim keys in keys
	reqd    map[string]bool            // keys already guarded by Require
	created map[string]int
	scratch map[any]any
	staged  map[string]*staged // resources created or replaced (staged.go)
	err     error              // a planner bug, reported by Update
	pre     *predecoded        // staged values decoded during the commit (predecode.go)
}

// Scratch is per-attempt working memory of the planner: state that must
// be shared by several resources planned into one transaction (for
// example one default security group for a bulk create). It starts empty
// on every attempt.
func (t *Txn) Scratch(key any, init func() any) any {
	if t.scratch == nil {
		t.scratch = map[any]any{}
	}
	v, ok := t.scratch[key]
	if !ok {
		v = init()
		t.scratch[key] = v
	}
	return v
}

func (t *Txn) resKey(kind, id string) string { return t.s.prefix + "r/" + kind + "/" + id }
func (t *Txn) claimKey(group, member string) string {
	return t.s.prefix + "c/" + group + "/" + member
}

func (t *Txn) touch(key string) error {
	if t.keys[key] {
		return fmt.Errorf("store: key %s changed twice in one transaction", key)
	}
	t.keys[key] = true
	return nil
}

// Create adds a new resource; it fails if the id exists.
func (t *Txn) Create(kind, id string, raw []byte) {
	k := t.resKey(kind, id)
	t.created[kind]++
	t.mustTouch(k)
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
	t.stage(k, &staged{kind: kind, op: len(t.ops), raw: raw})
	t.ops = append(t.ops, clientv3.OpPut(k, string(raw)))
}

// Replace overwrites a resource read as prev, guarded by its revision.
// Replacing again a resource this transaction creates or replaces needs
// prev from Get (staged.go).
func (t *Txn) Replace(kind string, prev *Entry, raw []byte) {
	k := t.resKey(kind, prev.ID)
	if s := t.staged[k]; s != nil && s.kind == kind {
		t.restage(k, prev, raw)
		return
	}
	t.mustTouch(k)
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(k), "=", prev.ModRev))
	t.stage(k, &staged{kind: kind, op: len(t.ops), raw: raw, base: prev})
	t.ops = append(t.ops, clientv3.OpPut(k, string(raw)))
}

// Delete removes a resource read as prev, guarded by its revision.
func (t *Txn) Delete(kind string, prev *Entry) {
	k := t.resKey(kind, prev.ID)
	t.mustTouch(k)
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(k), "=", prev.ModRev))
	t.ops = append(t.ops, clientv3.OpDelete(k))
}

// Require makes the write depend on a resource it read being unchanged.
func (t *Txn) Require(kind string, e *Entry) {
	k := t.resKey(kind, e.ID)
	// One compare per key: a bulk create requires the same subnet and
	// security group for every port, and etcd limits a transaction's
	// compares (--max-txn-ops).
	if t.keys[k] || t.reqd[k] {
		return
	}
	if t.reqd == nil {
		t.reqd = map[string]bool{}
	}
	t.reqd[k] = true
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(k), "=", e.ModRev))
}

// RequireAbsent makes the write depend on a resource not existing.
func (t *Txn) RequireAbsent(kind, id string) {
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(t.resKey(kind, id)), "=", 0))
}

// touchClaim records a claim key this transaction changes, also by
// group and member: Claimed is asked for every candidate address of an
// IP allocation, and must not build a key string each time.
func (t *Txn) touchClaim(group, member string) (string, error) {
	k := t.claimKey(group, member)
	if err := t.touch(k); err != nil {
		return k, err
	}
	if t.claimed == nil {
		t.claimed = map[string]map[string]bool{}
	}
	g := t.claimed[group]
	if g == nil {
		g = map[string]bool{}
		t.claimed[group] = g
	}
	g[member] = true
	return k, nil
}

// Claim takes a uniqueness claim; the transaction fails if it is held.
// It reports false if this transaction already claims it.
func (t *Txn) Claim(group, member, owner string) bool {
	k, err := t.touchClaim(group, member)
	if err != nil {
		return false
	}
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
	t.ops = append(t.ops, clientv3.OpPut(k, owner))
	return true
}

// Release drops a claim.
func (t *Txn) Release(group, member string) {
	k, err := t.touchClaim(group, member)
	if err != nil {
		return
	}
	t.ops = append(t.ops, clientv3.OpDelete(k))
}

// NoNewClaims makes the write depend on no claim in group having been
// taken since the view was read (for example: no port created on a
// network that is being deleted).
func (t *Txn) NoNewClaims(group string) {
	start := t.claimKey(group, "")
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(start), "<", t.readRev+1).WithRange(clientv3.GetPrefixRangeEnd(start)))
}

// PutValue writes a plain key, guarded to not exist if create is set.
func (t *Txn) PutValue(name string, val []byte, create bool) {
	k := t.s.prefix + "k/" + name
	t.mustTouch(k)
	if create {
		t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
	}
	t.ops = append(t.ops, clientv3.OpPut(k, string(val)))
}

// Claimed reports whether this transaction takes (or releases) the claim.
func (t *Txn) Claimed(group, member string) bool { return t.claimed[group][member] }

// Created is how many resources of kind this transaction creates.
func (t *Txn) Created(kind string) int { return t.created[kind] }

// Empty reports whether the transaction changes nothing.
func (t *Txn) Empty() bool { return len(t.ops) == 0 }

// maxAttempts bounds how often a write is re-planned after losing a race.
const maxAttempts = 64

// Update plans a write from a consistent view and commits it. plan may run
// several times (after lost races), so it must have no effects other than
// on t; an error from plan aborts the write and is returned as is.
// Update returns the revision of the commit (0 if nothing was written).
func (s *Store) Update(ctx context.Context, plan func(v *View, t *Txn) error) (int64, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			s.stats.retries.Add(1)
		}
		s.mu.RLock()
		t := &Txn{s: s, readRev: s.rev, keys: map[string]bool{}, created: map[string]int{}}
		err := plan(&View{s: s}, t)
		s.mu.RUnlock()
		if err == nil {
			err = t.err
		}
		if err != nil {
			return 0, err
		}
		if t.Empty() {
			return 0, nil
		}
		s.predecode(t)
		rev, ok, err := s.commit(ctx, t)
		if err != nil {
			return 0, err
		}
		wait := s.WaitRev
		if ok {
			wait = func(ctx context.Context, rev int64) error { return s.awaitOwn(ctx, t, rev) }
		}
		if err := wait(ctx, rev); err != nil {
			if ok {
				// Applied, but this server cannot show it yet: the
				// client must not take it as "nothing happened".
				return 0, fmt.Errorf("%w: committed at revision %d, not yet visible here: %v", ErrOutcomeUnknown, rev, err)
			}
			return 0, err
		}
		if ok {
			s.stats.commits.Add(1)
			return rev, nil
		}
		s.stats.conflicts.Add(1)
		if attempt > 4 {
			// Many writers on the same keys: spread them out.
			time.Sleep(time.Duration(rand.IntN(1000*attempt)) * time.Microsecond)
		}
	}
	s.stats.gaveUp.Add(1)
	return 0, ErrConflict
}

// GetValue reads a plain key from the cache.
func (s *Store) GetValue(ctx context.Context, name string) ([]byte, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.kvs[name]
	return b, ok, nil
}

// CreateValue writes a plain key unless it exists, and returns the value
// stored afterwards (the existing one if another writer was first).
func (s *Store) CreateValue(ctx context.Context, name string, val []byte) ([]byte, error) {
	var stored []byte
	_, err := s.Update(ctx, func(v *View, t *Txn) error {
		if b, ok := v.Value(name); ok {
			stored = b
			return nil
		}
		stored = val
		t.PutValue(name, val, true)
		return nil
	})
	return stored, err
}
