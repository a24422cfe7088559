package control

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/neutrino-net/neutrino/internal/store"
)

// BenchmarkStreamIndexReconnect: n streams (agents; 1,000 to 20,000)
// reconnect one after the other, in random order (each leaves the
// index and comes back). Each reads 8 keys every stream
// reads (a rule of a group every port uses, a kind read whole), 16 keys
// it shares with 49 other streams (its networks) and 24 of its own.
// Taking a stream off a key every stream holds was a scan of the n
// streams (streamindex.go): the cost per stream grew with n.
func BenchmarkStreamIndexReconnect(b *testing.B) {
	for _, n := range []int{1000, 5000, 20000} {
		b.Run(fmt.Sprint("streams=", n), func(b *testing.B) { benchReconnect(b, n) })
	}
}

func benchReconnect(b *testing.B, n int) {
	streams := make([]*Stream, n)
	keys := make([][]store.ReadKey, n)
	for i := range streams {
		streams[i] = &Stream{host: fmt.Sprint("host-", i)}
		for j := range 8 {
			keys[i] = append(keys[i], store.ReadKey{Op: store.ReadEach, Kind: fmt.Sprint("wide-", j)})
		}
		for j := range 16 {
			keys[i] = append(keys[i], store.ReadKey{Op: store.ReadIndex, Kind: "port", Name: "network_id", Key: fmt.Sprintf("net-%d-%d", i/50, j)})
		}
		for j := range 24 {
			keys[i] = append(keys[i], store.ReadKey{Op: store.ReadGet, Kind: "port", Key: fmt.Sprintf("port-%d-%d", i, j)})
		}
	}
	x := newStreamIndex()
	for i, s := range streams {
		for _, k := range keys[i] {
			x.add(k, s)
		}
	}
	order := rand.New(rand.NewPCG(uint64(n), 1)).Perm(n)
	for b.Loop() {
		for _, i := range order {
			for _, k := range keys[i] {
				x.drop(k, streams[i])
			}
			for _, k := range keys[i] {
				x.add(k, streams[i])
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/stream")
}
