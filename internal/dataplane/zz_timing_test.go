package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

func TestZZTiming2(t *testing.T) {
	name := testutil.NewNetNS(t, "tim")
	ns := openNS(t, name)
	want := routerTable("qg-lab", map[netip.Addr]netip.Addr{fipAddr: fixedAddr})
	applyNft(t, ns, want)
	fip, fixed := netip.MustParseAddr("100.127.255.1"), netip.MustParseAddr("10.255.255.1")
	for range 5 {
		want.Maps[0].Elements[fip] = fixed
		st := time.Now()
		ApplyNft(ns, want)
		c, _ := openNft(ns)
		g, _ := c.genID()
		nftCache.Lock()
		e, ok := nftCache.m[c.cookie]
		nftCache.Unlock()
		c.close()
		t.Logf("add: %v gen=%d cached=%v/%d", time.Since(st), g, ok, e.gen)
		delete(want.Maps[0].Elements, fip)
		st = time.Now()
		ApplyNft(ns, want)
		t.Logf("del: %v", time.Since(st))
	}
}
