package hostview

import (
	"fmt"
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// BenchmarkKnownLookup looks one key up in each of many watchers' Known
// in turn, as a change that concerns every host does (each Known and
// its IDs cold in the cache): by ID prefix first (find), and by
// compareKeys alone (the search before it).
func BenchmarkKnownLookup(b *testing.B) {
	const watchers, objects = 2000, 1000
	kinds := []string{"network", "port", "security_group", "security_group_rule", "subnet"}
	kns := make([]Known, watchers)
	for w := range kns {
		kn := make(Known, 0, objects)
		for i := range objects {
			// A string of its own per object and watcher, as decoded.
			id := fmt.Sprintf("%08x-%04x-4000-8000-%012x", i*2654435761%(1<<32), i, w)
			kn = append(kn, knownObject(syncproto.Key{Kind: kinds[i%len(kinds)], ID: id}, int64(i)))
		}
		slices.SortFunc(kn, func(a, b KnownObject) int { return compareKeys(a.Key, b.Key) })
		kns[w] = kn
	}
	keys := make([]syncproto.Key, watchers)
	for w, kn := range kns {
		keys[w] = syncproto.Key{Kind: kn[objects/3].Key.Kind, ID: string([]byte(kn[objects/3].Key.ID))}
	}
	b.Run("prefix", func(b *testing.B) {
		for i := range b.N {
			w := i % watchers
			if _, ok := kns[w].find(keys[w]); !ok {
				b.Fatal("not found")
			}
		}
	})
	b.Run("compareKeys", func(b *testing.B) {
		for i := range b.N {
			w := i % watchers
			if _, ok := slices.BinarySearchFunc(kns[w], keys[w], func(o KnownObject, k syncproto.Key) int { return compareKeys(o.Key, k) }); !ok {
				b.Fatal("not found")
			}
		}
	})
}
