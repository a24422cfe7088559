package hostview

import (
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Known is what a watcher remembers of the view it sent: each object's
// key and mod revision, sorted by key. A slice, not a map: it is kept
// per watcher, and a map of the same entries costs twice the memory.
type Known []KnownObject

// KnownObject is one remembered object.
type KnownObject struct {
	Key syncproto.Key
	Rev int64
}

func compareKeys(a, b syncproto.Key) int {
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// rev returns the remembered mod revision of k.
func (kn Known) rev(k syncproto.Key) (int64, bool) {
	i, ok := slices.BinarySearchFunc(kn, k, func(o KnownObject, k syncproto.Key) int { return compareKeys(o.Key, k) })
	if !ok {
		return 0, false
	}
	return kn[i].Rev, true
}

// Diff returns the changes that turn a model holding old into the view
// cur.
func Diff(old Known, cur View) (upserts []syncproto.Object, deletes []syncproto.Key) {
	for k, e := range cur {
		if rev, ok := old.rev(k); !ok || rev != e.ModRev {
			upserts = append(upserts, objectOf(k, e))
		}
	}
	for _, o := range old {
		if _, ok := cur[o.Key]; !ok {
			deletes = append(deletes, o.Key)
		}
	}
	// By kind, then ID (the order of "kind/id": kinds are [a-z_], all
	// after '/'), without building strings: with thousands of initial
	// views that garbage was the server's largest allocation.
	slices.SortFunc(upserts, func(a, b syncproto.Object) int {
		return compareKeys(syncproto.Key{Kind: a.Kind, ID: a.ID}, syncproto.Key{Kind: b.Kind, ID: b.ID})
	})
	slices.SortFunc(deletes, compareKeys)
	return upserts, deletes
}

// Update returns kn after the changes Diff found were sent (sorted by
// key, as Diff returns them). When every change is a new revision of a
// known object (most changes: one floating IP) it updates kn in place;
// else it merges them in, without sorting or reading the whole view.
func (kn Known) Update(upserts []syncproto.Object, deletes []syncproto.Key) Known {
	inPlace := len(deletes) == 0
	for _, o := range upserts {
		if !inPlace {
			break
		}
		i, ok := slices.BinarySearchFunc(kn, syncproto.Key{Kind: o.Kind, ID: o.ID}, func(e KnownObject, k syncproto.Key) int { return compareKeys(e.Key, k) })
		if ok {
			kn[i].Rev = o.Rev
		}
		inPlace = ok
	}
	if inPlace {
		return kn
	}
	if len(upserts)+len(deletes) <= fewChanges {
		return kn.patch(upserts, deletes)
	}
	out := make(Known, 0, len(kn)+len(upserts)+knownSlack)
	j, d := 0, 0
	for _, e := range kn {
		for ; j < len(upserts) && compareKeys(keyOf(upserts[j]), e.Key) < 0; j++ {
			out = append(out, KnownObject{keyOf(upserts[j]), upserts[j].Rev})
		}
		for ; d < len(deletes) && compareKeys(deletes[d], e.Key) < 0; d++ {
		}
		switch {
		case j < len(upserts) && keyOf(upserts[j]) == e.Key:
			out = append(out, KnownObject{e.Key, upserts[j].Rev})
			j++
		case d < len(deletes) && deletes[d] == e.Key:
			d++
		default:
			out = append(out, e)
		}
	}
	for ; j < len(upserts); j++ {
		out = append(out, KnownObject{keyOf(upserts[j]), upserts[j].Rev})
	}
	return out
}

// knownSlack is the room a new Known leaves for objects to come: the
// first insert into a Known without room copied it whole into a new
// array, on every stream at once when a change concerned them all (a
// large allocation each, and the garbage of the old one).
const knownSlack = 8

// fewChanges is how many changes Update applies one by one (moving
// the tail of kn for each) rather than merging into a new slice: a rule
// added to a group every view holds, on thousands of streams, made
// that copy (a new 40 KB slice each, and its garbage) the server's
// largest cost.
const fewChanges = 8

// patch applies a few changes to kn one by one, in kn's own array
// where it has room.
func (kn Known) patch(upserts []syncproto.Object, deletes []syncproto.Key) Known {
	find := func(k syncproto.Key) (int, bool) {
		return slices.BinarySearchFunc(kn, k, func(e KnownObject, k syncproto.Key) int { return compareKeys(e.Key, k) })
	}
	for _, k := range deletes {
		if i, ok := find(k); ok {
			kn = slices.Delete(kn, i, i+1)
		}
	}
	for _, o := range upserts {
		i, ok := find(keyOf(o))
		if ok {
			kn[i].Rev = o.Rev
		} else {
			kn = slices.Insert(kn, i, KnownObject{keyOf(o), o.Rev})
		}
	}
	return kn
}

// objectOf is the stream object of entry e: its data compacted once for
// every stream that sends it (store.Entry.Wire); data that is not JSON
// goes as it is, for the stream's writer to refuse.
func objectOf(k syncproto.Key, e *store.Entry) syncproto.Object {
	o := syncproto.Object{Kind: k.Kind, ID: k.ID, Rev: e.ModRev, Data: e.Raw}
	if w := e.Wire.Load(); w != nil {
		o.Data, o.Compact = *w, true
	} else if e.Raw != nil {
		if d, err := syncproto.CompactData(e.Raw); err == nil {
			e.Wire.Store(&d)
			o.Data, o.Compact = d, true
		}
	}
	return o
}

func keyOf(o syncproto.Object) syncproto.Key { return syncproto.Key{Kind: o.Kind, ID: o.ID} }

// Revs reduces a view to what a watcher remembers of it.
func Revs(hv View) Known {
	out := make(Known, 0, len(hv)+knownSlack)
	for k, e := range hv {
		out = append(out, KnownObject{k, e.ModRev})
	}
	slices.SortFunc(out, func(a, b KnownObject) int { return compareKeys(a.Key, b.Key) })
	return out
}
