package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// KVTxn is a consistent view of the KV whose writes commit together.
type KVTxn interface {
	Get(key string) ([]byte, bool)
	// Scan calls fn for every key under prefix, in no particular order.
	Scan(prefix string, fn func(key string, val []byte))
	// Put writes key; Create writes it only if it is absent (otherwise
	// the whole transaction fails and its plan runs again).
	Put(key string, val []byte)
	Create(key string, val []byte)
	Delete(key string)
}

// KVUpdater is implemented by KVs that change several keys atomically.
// The admin API (creating, changing and deleting projects, users, domains
// and role assignments) needs one; without it those requests answer 501.
//
// Update runs plan on a consistent view and commits its writes as one
// transaction that fails if any identity admin write committed since the
// view was taken; then plan runs again on a newer view. plan must only
// act on tx; an error from it aborts the write and is returned as is.
//
// Read runs fn on a consistent view without writing (its writes are
// ignored).
type KVUpdater interface {
	Update(ctx context.Context, plan func(tx KVTxn) error) error
	Read(ctx context.Context, fn func(tx KVTxn) error) error
}

// Keys whose values change or disappear (admin API). The other keys
// (roles, append-only lists, revocations) are written once and may be
// cached forever.
var mutablePrefixes = []string{
	keyPrefix + "projects/name/", keyPrefix + "projects/id/",
	keyPrefix + "users/name/", keyPrefix + "users/id/",
	keyPrefix + "domains/", keyPrefix + "domain-names/",
	keyPrefix + "assignments/",
}

func cacheable(key string) bool {
	for _, p := range mutablePrefixes {
		if strings.HasPrefix(key, p) {
			return false
		}
	}
	return true
}

// errStatus is an admin API refusal: keystone's status code and message.
type errStatus struct {
	code int
	msg  string
}

func (e *errStatus) Error() string { return e.msg }

func refuse(code int, format string, args ...any) error {
	return &errStatus{code: code, msg: fmt.Sprintf(format, args...)}
}

// txGet decodes the JSON record under key in tx.
func txGet[T any](tx KVTxn, key string) (T, bool, error) {
	var out T
	v, ok := tx.Get(key)
	if !ok {
		return out, false, nil
	}
	if err := json.Unmarshal(v, &out); err != nil {
		return out, false, fmt.Errorf("identity: corrupt record %s: %w", key, err)
	}
	return out, true, nil
}

func txPut(tx KVTxn, key string, v any, create bool) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if create {
		tx.Create(key, data)
	} else {
		tx.Put(key, data)
	}
	return nil
}

// txAppend appends id to the append-only list under prefix (its next free
// slot), as appendOnce does outside transactions. Slots are never freed,
// so the search starts after the ones this process has already seen.
func (k *Keystone) txAppend(tx KVTxn, prefix, id string) {
	k.mu.RLock()
	n := len(k.lists[prefix])
	k.mu.RUnlock()
	for {
		if _, ok := tx.Get(prefix + strconv.Itoa(n)); !ok {
			break
		}
		n++
	}
	tx.Create(prefix+strconv.Itoa(n), []byte(id))
}
