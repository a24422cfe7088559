package store

import (
	"math/rand/v2"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DeleteValue removes a plain key (no guard: deleting an absent key is
// a no-op).
func (t *Txn) DeleteValue(name string) {
	k := t.s.prefix + "k/" + name
	if err := t.touch(k); err != nil {
		return
	}
	t.ops = append(t.ops, clientv3.OpDelete(k))
}

// WouldChange runs plan against this view with a transaction that is
// never committed, and reports whether it would write anything. A
// reconciler uses it to find, cheaply and without writing, the items
// that need work; plan must be the same pure planner it later passes to
// Update.
func (v *View) WouldChange(plan func(v *View, t *Txn) error) (bool, error) {
	t := &Txn{s: v.s, readRev: v.s.rev, keys: map[string]bool{}, created: map[string]int{}}
	if err := plan(v, t); err != nil {
		return false, err
	}
	if t.err != nil {
		return false, t.err
	}
	return !t.Empty(), nil
}

// Serialize makes transactions that call it with the same name conflict
// with each other: each checks that the guard key still holds what its
// view saw and writes a new value, so of two racing ones the second
// fails and is planned again on the newer view.
func (t *Txn) Serialize(name string) {
	k := t.s.prefix + "k/" + name
	if t.touch(k) != nil {
		return
	}
	if cur, ok := t.s.kvs[name]; ok {
		t.cmps = append(t.cmps, clientv3.Compare(clientv3.Value(k), "=", string(cur)))
	} else {
		t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
	}
	t.ops = append(t.ops, clientv3.OpPut(k, strconv.FormatInt(t.readRev, 10)+"-"+strconv.Itoa(rand.IntN(1<<30))))
}
