package dataplane

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// BenchmarkFIPAdd measures adding and then removing one floating IP (two
// map elements: fip_dnat and fip_snat) through ApplyNft with N floating
// IPs already installed. One op = one add apply + one remove apply.
func BenchmarkFIPAdd(b *testing.B) {
	for _, n := range []int{1, 1000, 5000} {
		b.Run(fmt.Sprintf("existing=%d", n), func(b *testing.B) {
			name := testutil.NewNetNS(b, "bench")
			ns := openNS(b, name)
			fips := map[netip.Addr]netip.Addr{}
			for i := range n {
				fips[u32Addr(0x64400000+uint32(i))] = u32Addr(0x0a800000 + uint32(i))
			}
			want := routerTable("qg-lab", fips)
			applyNft(b, ns, want)
			fip, fixed := netip.MustParseAddr("100.127.255.1"), netip.MustParseAddr("10.255.255.1")
			dnat, snat := want.Maps[0].Elements, want.Maps[1].Elements
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				dnat[fip], snat[fixed] = fixed, fip
				if ch, err := applyNftTable(ns, want); err != nil || len(ch) != 2 {
					b.Fatalf("add: %q, %v", ch, err)
				}
				delete(dnat, fip)
				delete(snat, fixed)
				if ch, err := applyNftTable(ns, want); err != nil || len(ch) != 2 {
					b.Fatalf("remove: %q, %v", ch, err)
				}
			}
			b.StopTimer()
			if got := kernelElementsTB(b, ns, "fip_dnat"); got != n {
				b.Fatalf("fip_dnat has %d elements, want %d", got, n)
			}
		})
	}
}
