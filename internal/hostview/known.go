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
	// pre is the start of Key.ID as a number (idPrefix), which a search
	// compares before the ID itself: a rule that concerns every host
	// is looked up in 5,000 watchers' Known, and reading the ID of each
	// object a binary search passes (a string elsewhere in memory, a
	// cache miss each) was most of the cost.
	pre uint64
}

func knownObject(k syncproto.Key, rev int64) KnownObject {
	return KnownObject{Key: k, Rev: rev, pre: idPrefix(k.ID)}
}

// idPrefix is the first 8 bytes of id, big-endian, zero-padded: a
// smaller prefix means a smaller ID, an equal one says nothing.
func idPrefix(id string) uint64 {
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(id) {
			p |= uint64(id[i])
		}
	}
	return p
}

func compareKeys(a, b syncproto.Key) int {
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// find is where k is in kn, or would be inserted, and whether it is
// there: compareKeys order, comparing the ID's prefix first.
func (kn Known) find(k syncproto.Key) (int, bool) {
	pre := idPrefix(k.ID)
	return slices.BinarySearchFunc(kn, k, func(o KnownObject, k syncproto.Key) int {
		if c := strings.Compare(o.Key.Kind, k.Kind); c != 0 {
			return c
		}
		if o.pre != pre {
			if o.pre < pre {
				return -1
			}
			return 1
		}
		return strings.Compare(o.Key.ID, k.ID)
	})
}

// rev returns the remembered mod revision of k.
func (kn Known) rev(k syncproto.Key) (int64, bool) {
	i, ok := kn.find(k)
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
	if len(upserts)+len(deletes) <= fewChanges {
		return kn.patch(upserts, deletes) // in place when only revisions changed
	}
	inPlace := len(deletes) == 0
	for _, o := range upserts {
		if !inPlace {
			break
		}
		i, ok := kn.find(keyOf(o))
		if ok {
			kn[i].Rev = o.Rev
		}
		inPlace = ok
	}
	if inPlace {
		return kn
	}
	out := make(Known, 0, len(kn)+len(upserts)+knownSlack)
	j, d := 0, 0
	for _, e := range kn {
		for ; j < len(upserts) && compareKeys(keyOf(upserts[j]), e.Key) < 0; j++ {
			out = append(out, knownObject(keyOf(upserts[j]), upserts[j].Rev))
		}
		for ; d < len(deletes) && compareKeys(deletes[d], e.Key) < 0; d++ {
		}
		switch {
		case j < len(upserts) && keyOf(upserts[j]) == e.Key:
			e.Rev = upserts[j].Rev
			out = append(out, e)
			j++
		case d < len(deletes) && deletes[d] == e.Key:
			d++
		default:
			out = append(out, e)
		}
	}
	for ; j < len(upserts); j++ {
		out = append(out, knownObject(keyOf(upserts[j]), upserts[j].Rev))
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
	for _, k := range deletes {
		if i, ok := kn.find(k); ok {
			kn = slices.Delete(kn, i, i+1)
		}
	}
	for _, o := range upserts {
		i, ok := kn.find(keyOf(o))
		if ok {
			kn[i].Rev = o.Rev
		} else {
			kn = slices.Insert(kn, i, knownObject(keyOf(o), o.Rev))
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
		out = append(out, knownObject(k, e.ModRev))
	}
	slices.SortFunc(out, func(a, b KnownObject) int { return compareKeys(a.Key, b.Key) })
	return out
}
