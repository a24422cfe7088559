package plan

import (
	"net/netip"
	"testing"

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
	got := arpFilter(nss).String()
	want := `table bridge neutrino-arp {
  map gateway_ports { type ifname : verdict; elements = { "tapa" : goto drop, "tapb" : goto drop, "tapc" : goto drop, "tapfg" : goto drop } }
  map owner { type ipv4_addr : verdict; elements = { 203.0.113.10 : goto own-tapa, 203.0.113.11 : goto own-tapa, 203.0.113.20 : goto own-tapb, 203.0.113.30 : goto own-tapfg } }
  chain drop {
    drop
  }
  chain forward { type filter hook forward priority -90;
    meta protocol arp arp daddr ip vmap @owner
  }
  chain own-tapa {
    oifname != "tapa" oifname vmap @gateway_ports
  }
  chain own-tapb {
    oifname != "tapb" oifname vmap @gateway_ports
  }
  chain own-tapfg {
    oifname != "tapfg" oifname vmap @gateway_ports
  }
}
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if tb := arpFilter(nss[4:]); tb != nil {
		t.Errorf("no gateway port on a bridge: got a table\n%s", tb)
	}
}

// TestARPFilterKeepsUnchangedTable: a plan that changes no owner hands
// over the very same table (the applier skips it by identity); a new
// floating IP changes the owner map only.
func TestARPFilterKeepsUnchangedTable(t *testing.T) {
	p := NewPlanner(HostConfig{})
	ns := desired.Namespace{Name: "qrouter-a", Veths: []desired.Veth{{Inner: "qg-a", Outer: "tapa", Bridge: "brqext"}},
		GARP: []desired.GARP{garp("qg-a", "203.0.113.10")}}
	p.arp = arpFilter([]desired.Namespace{ns})
	first := p.arp
	if t2 := arpFilter([]desired.Namespace{ns}); !sameARPFilter(t2, first) {
		t.Fatal("same namespaces: a different filter")
	}
	ns.GARP = append(ns.GARP, garp("qg-a", "203.0.113.11"))
	t3 := arpFilter([]desired.Namespace{ns})
	if sameARPFilter(t3, first) {
		t.Fatal("a new floating IP: the same filter")
	}
	if got := t3.Maps[1].Verdicts["203.0.113.11"]; got != "goto own-tapa" {
		t.Errorf("new address: %q", got)
	}
}
