package trace

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// Rules go by priority and their selectors; a table without a matching
// route passes on to the next rule; main has the connected routes.
func TestLookupRoute(t *testing.T) {
	p, a := netip.MustParsePrefix, netip.MustParseAddr
	ns := &desired.Namespace{
		Rules: []desired.Rule{
			{Priority: 200, From: p("10.0.0.0/24"), Table: 20},
			{Priority: 100, From: p("10.0.0.5/32"), Table: 10},
			{Priority: 50, IifName: "in0", Table: 30},
		},
		Routes: []desired.Route{
			{Table: 10, Dst: p("0.0.0.0/0"), Via: a("169.254.0.1"), Dev: "rfp"},
			{Table: 20, Dst: p("0.0.0.0/0"), Via: a("10.0.0.3"), Dev: "qr"},
			{Table: 30, Dst: p("192.0.2.0/24"), Dev: "x"},
		},
	}
	ifs := []iface{{name: "qr", addrs: []netip.Prefix{p("10.0.0.1/24")}}, {name: "qr2", addrs: []netip.Prefix{p("10.0.1.1/24")}}}
	for _, c := range []struct {
		src, dst, iif string
		want          string // the route's device, "" = no route
	}{
		{"10.0.0.5", "198.51.100.1", "qr", "rfp"}, // the /32 rule first
		{"10.0.0.6", "198.51.100.1", "qr", "qr"},  // the subnet's rule
		{"10.0.0.6", "10.0.1.7", "qr", "qr"},      // table 20's default wins over main's connected route (rule order)
		{"10.0.2.6", "10.0.1.7", "qr", "qr2"},     // no rule: main, connected
		{"10.0.2.6", "198.51.100.1", "qr", ""},    // no rule, no default: no route
		{"10.0.2.6", "192.0.2.9", "in0", "x"},     // iif rule
		{"10.0.2.6", "198.51.100.1", "in0", ""},   // iif rule's table has no route: on to main, none
	} {
		rt, how, ok := lookupRoute(ns, ifs, a(c.src), a(c.dst), c.iif)
		if got := map[bool]string{true: rt.Dev}[ok]; got != c.want {
			t.Errorf("%s > %s in %s: %q (%s), want %q", c.src, c.dst, c.iif, got, how, c.want)
		}
		if !ok && !strings.Contains(how, "tables tried") {
			t.Errorf("no route without the tables tried: %s", how)
		}
	}
}

// Verdict maps dispatch by mark; goto does not come back; a chain's end
// returns to the caller; the drop names its chain.
func TestRunChain(t *testing.T) {
	tb := &desired.NftTable{
		Maps: []desired.NftMap{{Name: "m", KeyType: desired.TypeMark, ValueType: desired.TypeVerdict, Verdicts: map[string]string{"0x00000001": "jump a", "0x00000002": "goto b"}}},
		Chains: []desired.NftChain{
			{Name: "base", Type: "filter", Hook: "forward", Rules: []desired.NftRule{
				{Vmap: "m", VmapKey: "mark"},
				{Accept: true, Comment: "after the map"},
			}},
			{Name: "a", Rules: []desired.NftRule{{L4Proto: 6, DportMin: 22, Accept: true}}},
			{Name: "b", Rules: []desired.NftRule{{L4Proto: 17, Accept: true}}},
		},
	}
	for _, c := range []struct {
		mark         uint32
		proto        string
		verdict, chn string
	}{
		{1, "tcp", "accept", "a"},
		{1, "icmp", "accept", "base"}, // a falls through: back to base
		{2, "icmp", "", ""},           // goto b falls through: the base chain ends (policy)
		{3, "icmp", "accept", "base"}, // no map entry
	} {
		w := &walker{p: pkt{proto: c.proto, dport: 22}}
		var d decision
		w.runChain(tb, "base", &nfState{mark: c.mark}, &d, 0)
		if d.verdict != c.verdict || d.chain != c.chn {
			t.Errorf("mark %d %s: %q in %q, want %q in %q", c.mark, c.proto, d.verdict, d.chain, c.verdict, c.chn)
		}
	}
}
