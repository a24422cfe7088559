package plan

import (
	"net/netip"
	"slices"
	"testing"
	"unsafe"

	"github.com/neutrino-net/neutrino/internal/desired"
)

func garp(dev, addr string) desired.GARP {
	return desired.GARP{Dev: dev, Addr: netip.MustParseAddr(addr)}
}

// TestARPFilterTable: gateway ports (qg-, fg-) on a bridge own the
// addresses their namespace announces on them; internal ports, ports
// in no bridge, IPv6 and an address two ports claim are left out.
func TestARPFilterTable(t *testing.T) {
	nss := []desired.Namespace{
		{Name: "qrouter-a", Veths: []desired.Veth{
			{Inner: "qg-a", Outer: "tapa", Bridge: "brqext"},
			{Inner: "qr-a", Outer: "tapra", Bridge: "brqint"},
		}, GARP: []desired.GARP{garp("qg-a", "203.0.113.10"), garp("qg-a", "203.0.113.11"), garp("qr-a", "10.0.0.1"),
			garp("qg-a", "203.0.113.99")}},
		{Name: "qrouter-b", Veths: []desired.Veth{{Inner: "qg-b", Outer: "tapb", Bridge: "brqext"}},
			GARP: []desired.GARP{garp("qg-b", "203.0.113.20"), garp("qg-b", "203.0.113.99")}},
		// A gateway port that owns nothing yet is still shielded.
		{Name: "qrouter-c", Veths: []desired.Veth{{Inner: "qg-c", Outer: "tapc", Bridge: "brqext"}}},
		// DVR: the fip namespace answers for floating IPs on fg-.
		{Name: "fip-ext", Veths: []desired.Veth{{Inner: "fg-x", Outer: "tapfg", Bridge: "brqext"},
			{Inner: "fpr-a", Outer: "rfp-a", PeerNamespace: "qrouter-a"}},
			GARP: []desired.GARP{garp("fg-x", "203.0.113.30")}},
		// Not on a bridge: no port to shield.
		{Name: "qrouter-d", Veths: []desired.Veth{{Inner: "qg-d", Outer: "tapd"}},
			GARP: []desired.GARP{garp("qg-d", "203.0.113.40")}},
	}
	got := ARPFilter(nss).String()
	want := `table bridge neutrino-arp {
  set gateway_ports { type ifname; elements = { "tapa", "tapb", "tapc", "tapfg" } }
  set ours { type ipv4_addr; elements = { 203.0.113.10, 203.0.113.11, 203.0.113.20, 203.0.113.30 } }
  set owned { type ifname . ipv4_addr; elements = { "tapa" . 203.0.113.10, "tapa" . 203.0.113.11, "tapb" . 203.0.113.20, "tapfg" . 203.0.113.30 } }
  chain forward { type filter hook forward priority -90;
    meta protocol arp oifname @gateway_ports arp daddr ip @ours oifname . arp daddr ip != @owned drop
  }
}
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if tb := ARPFilter(nss[4:]); tb != nil {
		t.Errorf("no gateway port on a bridge: got a table\n%s", tb)
	}
}

// TestARPFilterIncremental: router by router updates give the table
// the whole computation gives, keep the very same lists when nothing
// changed (the applier skips them by identity) and copy only the owner
// map for a new floating IP.
func TestARPFilterIncremental(t *testing.T) {
	router := func(name string, addrs ...string) desired.Namespace {
		ns := desired.Namespace{Name: "qrouter-" + name, Veths: []desired.Veth{{Inner: "qg-" + name, Outer: "tap" + name, Bridge: "brqext"}}}
		for _, a := range addrs {
			ns.GARP = append(ns.GARP, garp("qg-"+name, a))
		}
		return ns
	}
	var a arpState
	state := map[string]desired.Namespace{}
	step := func(id string, ns *desired.Namespace) bool {
		var c arpContrib
		if ns != nil {
			state[id] = *ns
			c = arpContribution([]desired.Namespace{*ns})
		} else {
			delete(state, id)
		}
		a.update(id, c)
		changed := a.flush()
		var all []desired.Namespace
		for _, n := range state {
			all = append(all, n)
		}
		if got, want := a.table.String(), ARPFilter(all).String(); got != want {
			t.Fatalf("after %s: incremental\n%s\nwhole\n%s", id, got, want)
		}
		return changed
	}
	ra, rb := router("a", "203.0.113.10"), router("b", "203.0.113.20")
	step("a", &ra)
	step("b", &rb)
	before := a.table
	if step("a", &ra) || a.table != before {
		t.Fatal("an unchanged router changed the table")
	}
	ra2 := router("a", "203.0.113.10", "203.0.113.11")
	if !step("a", &ra2) {
		t.Fatal("a new floating IP left the table alone")
	}
	if !sameKeys(a.table.Sets[0], before.Sets[0]) {
		t.Error("a new floating IP rebuilt the gateway port set")
	}
	rb2 := router("b", "203.0.113.20", "203.0.113.10") // claimed twice: no owner
	step("b", &rb2)
	if slices.Contains(a.table.Sets[1].Keys, "203.0.113.10") {
		t.Error("an address two ports claim has an owner")
	}
	step("b", nil)
	step("a", nil)
	if a.table != nil {
		t.Errorf("no router left, a table:\n%s", a.table)
	}
}

// sameKeys reports whether two sets share their key list.
func sameKeys(x, y desired.NftSet) bool {
	return unsafe.SliceData(x.Keys) == unsafe.SliceData(y.Keys)
}
