package store

import (
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// staged is a resource this transaction creates or replaces: where its
// put is among the operations, and its pending value. A bulk request
// plans all its items into one transaction; when several items change
// the same parent (subnets added to one network, rules to one group),
// each must build on the value the previous item left, and the parent
// must be written once (etcd refuses a transaction that puts a key
// twice).
type staged struct {
	kind  string
	op    int    // index of the put in Txn.ops
	raw   []byte // the value the transaction will write
	base  *Entry // the entry read from the view; nil when created here
	entry *Entry // raw decoded, handed out by Get; nil until asked
}

// fail records the first planner bug of this transaction; Update refuses
// to commit it and returns the error.
func (t *Txn) fail(format string, args ...any) {
	if t.err == nil {
		t.err = fmt.Errorf("store: "+format, args...)
	}
}

func (t *Txn) stage(key string, s *staged) {
	if t.staged == nil {
		t.staged = map[string]*staged{}
	}
	t.staged[key] = s
}

// restage handles a Replace of a resource this transaction already
// creates or replaces: the put is given the new value. prev must be what
// Get returned for the current pending value, so that the new value was
// built on it; anything else would silently drop the earlier change.
func (t *Txn) restage(key string, prev *Entry, raw []byte) {
	s := t.staged[key]
	if s.entry == nil || prev != s.entry {
		t.fail("%s replaced twice in one transaction without reading it back through Txn.Get", key)
		return
	}
	t.ops[s.op] = clientv3.OpPut(key, string(raw))
	s.raw, s.entry = raw, nil
}

// Get returns a resource as this transaction leaves it so far: the
// pending value of an earlier Create or Replace in the same transaction,
// or else the view's entry. A planner that changes a resource several
// items of one request share reads it through Get and passes the result
// to Replace; the write then carries the guard of the original read and
// the last value. Pending entries have the ModRev of the entry read (0
// for a pending create).
func (t *Txn) Get(v *View, kind, id string) (*Entry, bool) {
	s, ok := t.staged[t.resKey(kind, id)]
	if !ok || s.kind != kind {
		return v.Get(kind, id)
	}
	if s.entry == nil {
		dec, known := t.s.decoders[kind]
		if !known {
			t.fail("no decoder for kind %s", kind)
			return nil, false
		}
		obj, err := dec(s.raw)
		if err != nil {
			t.fail("decode pending %s %s: %v", kind, id, err)
			return nil, false
		}
		s.entry = &Entry{ID: id, Obj: obj, Raw: s.raw}
		if s.base != nil {
			s.entry.ModRev, s.entry.CreateRev = s.base.ModRev, s.base.CreateRev
		}
	}
	return s.entry, true
}

// mustTouch records a key that gets an operation whatever happens: a
// second operation on it would make etcd refuse the whole transaction
// ("duplicate key given in txn request"), so it is a planner bug.
func (t *Txn) mustTouch(key string) {
	if err := t.touch(key); err != nil && t.err == nil {
		t.err = err
	}
}
