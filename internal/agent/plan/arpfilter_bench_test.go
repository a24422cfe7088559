package plan

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// BenchmarkARPFilterFloatingIP: one router's floating IP comes and goes
// on a node with 1,000 routers of 11 addresses each (what a floating
// IP's change costs the planner).
func BenchmarkARPFilterFloatingIP(b *testing.B) {
	var a arpState
	n := 0
	router := func(r, extra int) desired.Namespace {
		ns := desired.Namespace{Veths: []desired.Veth{{Inner: fmt.Sprintf("qg-%d", r), Outer: fmt.Sprintf("tap%d", r), Bridge: "brqext"}}}
		for i := range 11 + extra {
			ns.GARP = append(ns.GARP, desired.GARP{Dev: fmt.Sprintf("qg-%d", r), Addr: netip.AddrFrom4([4]byte{100, 64 + byte(r>>8), byte(r), byte(i)})})
		}
		return ns
	}
	for r := range 1000 {
		a.update(fmt.Sprint(r), arpContribution([]desired.Namespace{router(r, 0)}))
		n++
	}
	a.flush()
	with, without := arpContribution([]desired.Namespace{router(7, 1)}), arpContribution([]desired.Namespace{router(7, 0)})
	b.ResetTimer()
	for i := range b.N {
		c := with
		if i%2 == 1 {
			c = without
		}
		a.update("7", c)
		if !a.flush() {
			b.Fatal("no change")
		}
	}
}
