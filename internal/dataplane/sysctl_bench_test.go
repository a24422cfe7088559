package dataplane

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"golang.org/x/sys/unix"
)

// routerKeys are the keys a DVR router namespace gets (routerSysctls
// and dvrSysctls of plan/l3), the common case on a network node.
var routerKeys = []desired.Sysctl{
	{Key: "net/ipv4/ip_forward", Value: "1"},
	{Key: "net/ipv4/conf/all/arp_ignore", Value: "1"},
	{Key: "net/ipv4/conf/all/arp_announce", Value: "2"},
	{Key: "net/ipv6/conf/all/forwarding", Value: "1"},
	{Key: "net/netfilter/nf_conntrack_tcp_be_liberal", Value: "1"},
	{Key: "net/ipv4/conf/all/send_redirects", Value: "0"},
	{Key: "net/ipv4/conf/default/send_redirects", Value: "0"},
}

// setSysctlByPath is how keys were written before the directory cache:
// one open of the full path per key.
func setSysctlByPath(key, value string) error {
	fd, err := unix.Open("/proc/sys/"+key, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 256)
	if _, err := unix.Pread(fd, buf, 0); err != nil {
		return err
	}
	_, err = unix.Pwrite(fd, []byte(value), 0)
	return err
}

// BenchmarkSysctlNamespaces writes a router's keys in each of N
// namespaces (NEUTRINO_SYSCTL_NS, default 300) per iteration, by full
// path (before) and through the directory cache (after: with the
// directories opened anew, and kept from the previous iteration). Root
// only. It shows how the cost
// per namespace grows with the number of namespaces: run it at two
// sizes and compare ns/op / N.
//
//	go test -run '^$' -bench SysctlNamespaces -benchtime 3x ./internal/dataplane/
func BenchmarkSysctlNamespaces(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	n := 300
	if v, err := strconv.Atoi(os.Getenv("NEUTRINO_SYSCTL_NS")); err == nil && v > 0 {
		n = v
	}
	prefix := fmt.Sprintf("nnsysb%d-", os.Getpid())
	handles := make([]netns.Handle, 0, n)
	b.Cleanup(func() {
		for i, h := range handles {
			forgetSysctlDirs(h)
			h.Close()
			netns.Delete(prefix + strconv.Itoa(i))
		}
	})
	for i := range n {
		name := prefix + strconv.Itoa(i)
		if err := netns.Create(name); err != nil {
			b.Fatal(err)
		}
		h, err := netns.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		handles = append(handles, h)
	}
	b.Run("path", func(b *testing.B) {
		for range b.N {
			for _, h := range handles {
				err := netns.RunIn(h, func() error {
					for _, s := range routerKeys {
						if err := setSysctlByPath(s.Key, s.Value); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/namespace")
	})
	// first: the directories opened anew (a namespace's first apply);
	// cached: kept from the previous iteration (every later apply).
	for _, cached := range []bool{false, true} {
		b.Run(map[bool]string{false: "dircache-first", true: "dircache-cached"}[cached], func(b *testing.B) {
			res := &Result{}
			for range b.N {
				if !cached { // closing is the namespace's deletion's cost
					b.StopTimer()
					for _, h := range handles {
						forgetSysctlDirs(h)
					}
					b.StartTimer()
				}
				for i, h := range handles {
					if _, err := applySysctls(h, res, prefix+strconv.Itoa(i), routerKeys); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/namespace")
		})
	}
}
