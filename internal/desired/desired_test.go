package desired

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Golden compares got with testdata/<name> whole; -update rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered state (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// everything is a host with one of each kind of thing, listed out of
// order and with duplicates: what DVR (rules, tables, a veth between two
// namespaces, static ARP), security groups (inet and bridge tables) and
// a legacy router need.
func everything() *Host {
	return &Host{
		Sysctls: []Sysctl{{"net/bridge/bridge-nf-call-iptables", "0"}, {"net/bridge/bridge-nf-call-arptables", "0"}},
		Bridges: []Bridge{{"brqnet-b", 1450}, {"brqnet-a", 1500}, {"brqnet-a", 1500}},
		VXLANs:  []VXLAN{{Name: "vxlan-101", VNI: 101, Local: addr("10.0.1.21"), Bridge: "brqnet-b", MTU: 1450, NeighSuppress: true}},
		BridgePorts: []BridgePort{
			{Name: "tapport-1", Bridge: "brqnet-b", MTU: 1450, PortID: "port-1"},
			{Name: "eth1", Bridge: "brqnet-a", MTU: 1500},
		},
		FDB: []FDB{
			{Dev: "vxlan-101", MAC: "fa:16:3e:00:00:02", Master: true},
			{Dev: "vxlan-101", MAC: "00:00:00:00:00:00", Dst: addr("10.0.1.22")},
			{Dev: "vxlan-101", MAC: "fa:16:3e:00:00:02", Dst: addr("10.0.1.22")},
		},
		Nft: []NftTable{{Family: FamilyBridge, Name: "neutrino-dvr", Chains: []NftChain{{Name: "forward", Type: "filter", Hook: "forward", Rules: []NftRule{
			{OifName: "vxlan-*", EtherSaddr: "fa:16:3e:00:00:01", SetEtherSaddr: "fa:16:3f:12:34:56", Comment: "dvr mac"},
			{OifName: "vxlan-*", EtherDaddr: "fa:16:3e:00:00:01", Drop: true},
			{OifName: "vxlan-*", ARPTargetIP: addr("10.0.0.1"), Drop: true},
			{OifName: "gre-*", EtherSaddrSet: "macs", SetEtherSaddr: "fa:16:3f:12:34:56"},
			{OifName: "gre-*", EtherDaddrSet: "macs", Drop: true},
			{OifName: "gre-*", ARPTargetSet: "ips", Drop: true},
		}}}, Sets: []NftSet{
			{Name: "macs", Type: TypeEtherAddr, Hash: true, Keys: []string{"fa:16:3e:00:00:02", "fa:16:3e:00:00:01"}},
			{Name: "ips", Type: TypeIPv4Addr, Hash: true, Keys: []string{"10.0.0.1"}},
		}}},
		Neighs: []Neigh{
			{Namespace: "qrouter-r1", Dev: "qr-port-2", IP: addr("10.0.0.12"), MAC: "fa:16:3e:00:00:02"},
			{Dev: "brqnet-b", IP: addr("10.0.0.12"), MAC: "fa:16:3e:00:00:02"},
		},
		Namespaces: []Namespace{
			{
				Name: "qrouter-r1",
				Veths: []Veth{
					{Inner: "rfp-r1", Outer: "fpr-r1", PeerNamespace: "fip-ext", MTU: 1500,
						Addrs: []netip.Prefix{pfx("169.254.106.114/31")}, PeerAddrs: []netip.Prefix{pfx("169.254.106.115/31")}},
					{Inner: "qr-port-2", Outer: "tapport-2", Bridge: "brqnet-b", MAC: "fa:16:3e:00:00:01", MTU: 1450, Addrs: []netip.Prefix{pfx("10.0.0.1/24")}, PortID: "port-2"},
				},
				Rules: []Rule{
					{Priority: 32768, From: pfx("10.0.0.5/32"), Table: 16},
					{Priority: 2852018177, From: pfx("10.0.0.0/24"), Table: 2852018177},
					{Priority: 100, IifName: "rfp-r1", To: pfx("10.0.0.0/24"), Table: 254},
				},
				Routes: []Route{
					{Table: 16, Dst: pfx("0.0.0.0/0"), Via: addr("169.254.106.115"), Dev: "rfp-r1"},
					{Dst: pfx("10.1.0.0/16"), Via: addr("10.0.0.254"), Dev: "qr-port-2"},
					{Table: 254, Dst: pfx("10.1.0.0/16"), Via: addr("10.0.0.254"), Dev: "qr-port-2"},
				},
				Sysctls: []Sysctl{{"net/ipv4/ip_forward", "1"}},
				Nft: []NftTable{
					{Family: FamilyINet, Name: "neutrino-sg",
						Sets: []NftSet{{Name: "remote_sg1", Type: TypeIPv4Addr, Elements: []netip.Prefix{pfx("10.0.0.9/32"), pfx("10.0.0.5/32")}}},
						Chains: []NftChain{{Name: "forward", Type: "filter", Hook: "forward", Priority: 0, Rules: []NftRule{
							{SaddrSet: "remote_sg1", TCPDport: 22, Accept: true, Comment: "ssh from sg1"},
							{OifName: "qr-*", Drop: true},
						}}}},
					{Name: "neutrino",
						Maps: []NftMap{{Name: "fip_snat", Elements: map[netip.Addr]netip.Addr{addr("10.0.0.5"): addr("203.0.113.20")}},
							{Name: "fip_dnat", Elements: map[netip.Addr]netip.Addr{addr("203.0.113.20"): addr("10.0.0.5")}}},
						Chains: []NftChain{
							{Name: "prerouting", Type: "nat", Hook: "prerouting", Priority: -100, Rules: []NftRule{{DNATMap: "fip_dnat"}}},
							{Name: "postrouting", Type: "nat", Hook: "postrouting", Priority: 100, Rules: []NftRule{{SNATMap: "fip_snat"}}},
						}},
					{Family: FamilyBridge, Name: "neutrino-br", Chains: []NftChain{{Name: "forward", Type: "filter", Hook: "forward", Rules: []NftRule{{Daddr: pfx("169.254.169.254/32"), Drop: true}}}}},
				},
				GARP: []GARP{{Dev: "qr-port-2", Addr: addr("10.0.0.1")}},
			},
			{Name: "fip-ext"},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	h := everything()
	h.Normalize()
	golden(t, "everything.golden", h.String())
}

// TestNormalizeIsOrderFree: the same state listed in another order
// renders the same text.
func TestNormalizeIsOrderFree(t *testing.T) {
	a := everything()
	a.Normalize()
	b := everything()
	reverse(b.Namespaces)
	reverse(b.FDB)
	b.Nft = append(b.Nft, b.Nft...)
	for i := range b.Namespaces {
		ns := &b.Namespaces[i]
		reverse(ns.Veths)
		reverse(ns.Routes)
		reverse(ns.Rules)
		reverse(ns.Nft)
	}
	b.Normalize()
	if a.String() != b.String() {
		t.Fatalf("order changed the text:\n%s\nvs\n%s", a, b)
	}
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}
