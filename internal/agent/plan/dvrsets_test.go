package plan

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// dvrRules are one DVR interface's rules for each tunnel port, as
// l3.PlanDVR makes them.
func dvrRules(gwMAC, dvrMAC, gwIP string, outs ...string) []desired.NftRule {
	var rs []desired.NftRule
	for _, out := range outs {
		if dvrMAC != "" {
			rs = append(rs, desired.NftRule{OifName: out, EtherSaddr: gwMAC, SetEtherSaddr: dvrMAC, Comment: "dvr mac"})
		}
		rs = append(rs, desired.NftRule{OifName: out, EtherDaddr: gwMAC, Drop: true, Comment: "gateway mac stays on host"})
		if gwIP != "" {
			rs = append(rs, desired.NftRule{OifName: out, ARPTargetIP: netip.MustParseAddr(gwIP), Drop: true, Comment: "gateway arp stays on host"})
		}
	}
	return rs
}

func layoutText(rules []desired.NftRule) string {
	chains, sets := dvrLayout(rules)
	t := desired.NftTable{Family: desired.FamilyBridge, Name: DVRBridgeTable, Chains: chains, Sets: sets}
	return t.String()
}

func TestDVRLayout(t *testing.T) {
	var rules []desired.NftRule
	rules = append(rules, dvrRules("fa:16:3e:00:00:01", "fa:16:3f:00:00:09", "10.0.1.1", "vxlan-*", "eth1")...)
	rules = append(rules, dvrRules("fa:16:3e:00:00:02", "fa:16:3f:00:00:09", "", "vxlan-*", "eth1")...)
	rules = append(rules, dvrRules("fa:16:3e:00:00:03", "fa:16:3f:00:00:09", "10.0.3.1", "vxlan-*", "eth1")...)
	want := `table bridge neutrino-dvr {
  set tunnel-0-dvr-macs { type ether_addr; elements = { fa:16:3e:00:00:01, fa:16:3e:00:00:02, fa:16:3e:00:00:03 } }
  set tunnel-0-gateway-ips { type ipv4_addr; elements = { 10.0.1.1, 10.0.3.1 } }
  set tunnel-0-gateway-macs { type ether_addr; elements = { fa:16:3e:00:00:01, fa:16:3e:00:00:02, fa:16:3e:00:00:03 } }
  chain forward { type filter hook forward priority -100;
    oifname "vxlan-*" jump tunnel-0
    oifname "eth1" jump tunnel-0
  }
  chain tunnel-0 {
    ether saddr @tunnel-0-dvr-macs ether saddr set fa:16:3f:00:00:09 comment "gateway macs leave with the dvr mac"
    ether daddr @tunnel-0-gateway-macs drop comment "gateway macs stay on host"
    arp daddr ip @tunnel-0-gateway-ips drop comment "gateway arp stays on host"
  }
}
`
	if got := layoutText(rules); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// One router more changes set elements only: the chains are the same.
	more := append(rules, dvrRules("fa:16:3e:00:00:04", "fa:16:3f:00:00:09", "10.0.4.1", "vxlan-*", "eth1")...)
	c1, _ := dvrLayout(rules)
	c2, s2 := dvrLayout(more)
	if t1, t2 := (&desired.NftTable{Chains: c1}), (&desired.NftTable{Chains: c2}); t1.String() != t2.String() {
		t.Errorf("chains changed with a router more:\n%s", layoutText(more))
	}
	if len(s2) != 3 || len(s2[1].Keys) != 3 {
		t.Errorf("sets = %+v", s2)
	}
}

// Without a DVR MAC (not known yet) there is no rewrite; the drop rules
// stay, with empty sets when nothing is to drop.
func TestDVRLayoutNoDVRMAC(t *testing.T) {
	want := `table bridge neutrino-dvr {
  set tunnel-0-gateway-ips { type ipv4_addr; elements = {  } }
  set tunnel-0-gateway-macs { type ether_addr; elements = { fa:16:3e:00:00:01 } }
  chain forward { type filter hook forward priority -100;
    oifname "vxlan-*" jump tunnel-0
  }
  chain tunnel-0 {
    ether daddr @tunnel-0-gateway-macs drop comment "gateway macs stay on host"
    arp daddr ip @tunnel-0-gateway-ips drop comment "gateway arp stays on host"
  }
}
`
	if got := layoutText(dvrRules("fa:16:3e:00:00:01", "", "", "vxlan-*")); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Rules whose order would matter, or of another shape, keep a chain of
// single rules; ports with different rules get chains of their own.
func TestDVRLayoutFallback(t *testing.T) {
	// Two DVR MACs where one is another rewrite's match: the order tells.
	chained := append(dvrRules("fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "", "vxlan-*"),
		dvrRules("fa:16:3e:00:00:02", "fa:16:3f:00:00:09", "", "vxlan-*")...)
	// One MAC rewritten to two different MACs: the first acts.
	twice := append(dvrRules("fa:16:3e:00:00:01", "fa:16:3f:00:00:08", "", "vxlan-*"),
		dvrRules("fa:16:3e:00:00:01", "fa:16:3f:00:00:09", "", "vxlan-*")...)
	other := []desired.NftRule{{OifName: "vxlan-*", EtherDaddr: "fa:16:3e:00:00:01", Accept: true}}
	for name, rules := range map[string][]desired.NftRule{"chained": chained, "twice": twice, "other": other} {
		chains, sets := dvrLayout(rules)
		if len(sets) != 0 || len(chains) != 2 || len(chains[1].Rules) != len(rules) || chains[1].Rules[0].OifName != "" {
			t.Errorf("%s: not single rules:\n%s", name, layoutText(rules))
		}
	}
	// Two DVR MACs, neither a match: two rewrite rules, then the drops.
	two := append(dvrRules("fa:16:3e:00:00:01", "fa:16:3f:00:00:08", "", "vxlan-*"),
		dvrRules("fa:16:3e:00:00:02", "fa:16:3f:00:00:09", "", "vxlan-*")...)
	two = append(two, desired.NftRule{OifName: "gre-*", EtherDaddr: "fa:16:3e:00:00:01", Drop: true})
	want := `table bridge neutrino-dvr {
  set tunnel-0-dvr-macs { type ether_addr; elements = { fa:16:3e:00:00:01 } }
  set tunnel-0-dvr-macs-1 { type ether_addr; elements = { fa:16:3e:00:00:02 } }
  set tunnel-0-gateway-ips { type ipv4_addr; elements = {  } }
  set tunnel-0-gateway-macs { type ether_addr; elements = { fa:16:3e:00:00:01, fa:16:3e:00:00:02 } }
  set tunnel-1-gateway-ips { type ipv4_addr; elements = {  } }
  set tunnel-1-gateway-macs { type ether_addr; elements = { fa:16:3e:00:00:01 } }
  chain forward { type filter hook forward priority -100;
    oifname "vxlan-*" jump tunnel-0
    oifname "gre-*" jump tunnel-1
  }
  chain tunnel-0 {
    ether saddr @tunnel-0-dvr-macs ether saddr set fa:16:3f:00:00:08 comment "gateway macs leave with the dvr mac"
    ether saddr @tunnel-0-dvr-macs-1 ether saddr set fa:16:3f:00:00:09 comment "gateway macs leave with the dvr mac"
    ether daddr @tunnel-0-gateway-macs drop comment "gateway macs stay on host"
    arp daddr ip @tunnel-0-gateway-ips drop comment "gateway arp stays on host"
  }
  chain tunnel-1 {
    ether daddr @tunnel-1-gateway-macs drop comment "gateway macs stay on host"
    arp daddr ip @tunnel-1-gateway-ips drop comment "gateway arp stays on host"
  }
}
`
	if got := layoutText(two); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Rules not about one port stay flat in the forward chain.
	flat := []desired.NftRule{{EtherDaddr: "fa:16:3e:00:00:01", Drop: true}}
	if chains, sets := dvrLayout(flat); len(chains) != 1 || len(sets) != 0 || len(chains[0].Rules) != 1 {
		t.Errorf("flat: %+v %+v", chains, sets)
	}
}

// BenchmarkDVRBridgeTableOf is the planner's cost of the host's DVR
// table with 1,000 routers of two interfaces and four tunnel port
// patterns (the set layout is rebuilt on every plan of the host).
func BenchmarkDVRBridgeTableOf(b *testing.B) {
	var rules []desired.NftRule
	for k := range 2000 {
		mac := fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", k>>16&0xff, k>>8&0xff, k&0xff)
		ip := netip.AddrFrom4([4]byte{10, byte(k >> 8), byte(k), 1}).String()
		rules = append(rules, dvrRules(mac, "fa:16:3f:00:00:01", ip, "vxlan-*", "gre-*", "eth1", "eth1.*")...)
	}
	b.ReportAllocs()
	for b.Loop() {
		DVRBridgeTableOf(rules)
	}
}
