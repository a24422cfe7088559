package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cost of consistent reads: p50 latency of a cache read with and
// without the Sync step, and of the quorum read variants Sync could use,
// on the embedded etcd and on an external one (Debian's etcd-server on
// loopback).
//
//	go test -run - -bench Sync -benchtime 2000x ./internal/store/
//
// BenchmarkCreate is the same for a write: one Update creating one
// resource (the etcd transaction and the cache taking it).

// localRevision is the embedded etcd's Revision, for the store the
// server opens on it (store.WithLocalRevision); set by benchStores.
var localRevision func() int64

func benchStores(b *testing.B) map[string]*clientv3.Client {
	out := map[string]*clientv3.Client{}
	e, err := store.StartEmbedded(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	out["embedded"] = e.Client
	localRevision = e.Revision
	etcd := testutil.StartEtcd(b)
	cli, err := store.Connect(store.ConnectOptions{Endpoints: etcd.Endpoints})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	out["external"] = cli
	return out
}

// p50 runs fn b.N times and reports the median latency in µs.
func p50(b *testing.B, fn func()) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		fn()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// The embedded etcd is measured twice: with the quorum read, and with
// its own revision read in-process (what the server does with it).
func BenchmarkSyncRead(b *testing.B) {
	clients := benchStores(b)
	clients["embedded-local-revision"] = clients["embedded"]
	for name, cli := range clients {
		var opts []store.Option
		if name == "embedded-local-revision" {
			opts = append(opts, store.WithLocalRevision(localRevision))
		}
		s, err := store.Open(context.Background(), cli, "/bench/"+name+"/", decoders, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		ctx := context.Background()
		for i := range 100 {
			if _, err := s.Update(ctx, func(v *store.View, t *store.Txn) error {
				t.Create("thing", fmt.Sprint("t", i), []byte(`{"name":"x"}`))
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		read := func() {
			s.View(func(v *store.View) {
				if _, ok := v.Get("thing", "t7"); !ok {
					b.Fatal("missing")
				}
			})
		}
		b.Run(name+"/without-sync", func(b *testing.B) { p50(b, read) })
		b.Run(name+"/with-sync", func(b *testing.B) {
			p50(b, func() {
				if err := s.Sync(ctx); err != nil {
					b.Fatal(err)
				}
				read()
			})
		})
		// Many requests at once share quorum reads.
		b.Run(name+"/with-sync-parallel", func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Sync(ctx); err != nil {
						b.Error(err)
						return
					}
					read()
				}
			})
		})
	}
}

// The quorum read that learns etcd's revision: which is cheapest.
func BenchmarkQuorumRevision(b *testing.B) {
	for name, cli := range benchStores(b) {
		ctx := context.Background()
		for i := range 1000 {
			if _, err := cli.Put(ctx, fmt.Sprint("/bench/r/thing/", i), `{"name":"x"}`); err != nil {
				b.Fatal(err)
			}
		}
		variants := map[string]func() error{
			"single-key-count-only": func() error {
				_, err := cli.Get(ctx, "/bench/sync", clientv3.WithCountOnly())
				return err
			},
			"single-key": func() error { _, err := cli.Get(ctx, "/bench/sync"); return err },
			"prefix-count-only": func() error {
				_, err := cli.Get(ctx, "/bench/", clientv3.WithPrefix(), clientv3.WithCountOnly())
				return err
			},
			"prefix-limit-1-keys-only": func() error {
				_, err := cli.Get(ctx, "/bench/", clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithKeysOnly())
				return err
			},
		}
		for v, fn := range variants {
			b.Run(name+"/"+v, func(b *testing.B) {
				p50(b, func() {
					if err := fn(); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// BenchmarkCreate times one Update that creates a resource, on each
// etcd: the transaction (raft, the WAL's fsync) and the cache taking
// the commit.
func BenchmarkCreate(b *testing.B) {
	for name, cli := range benchStores(b) {
		s, err := store.Open(context.Background(), cli, "/bench/create/", decoders)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		ctx := context.Background()
		n := 0
		b.Run(name, func(b *testing.B) {
			p50(b, func() {
				n++
				if _, err := s.Update(ctx, func(v *store.View, t *store.Txn) error {
					t.Create("thing", fmt.Sprint("c", n), []byte(`{"name":"x"}`))
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
