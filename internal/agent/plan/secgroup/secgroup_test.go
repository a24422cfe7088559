package secgroup

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func ptr[T any](v T) *T { return &v }

// Lab: network n1 on compute1 with
//   - vm1 in the default group (egress any, ingress from the group),
//   - vm2 in "web" (ingress tcp 80-81 from anywhere, ICMP echo from
//     198.51.100.0/24, egress tcp 443) and default,
//   - vm3 with port security off,
//   - vm4 in default with an allowed address pair (its own MAC) and a
//     second one with another MAC; IPv6 address too,
//   - vm5 on compute2 in default (a remote member),
//   - a stateless group "raw" on vm6.
func lab() (*hostmodel.Snapshot, []Port) {
	s := hostmodel.NewSnapshot("compute1")
	s.Networks["n1"] = &model.Network{Standard: model.Standard{ID: "n1"}, NetworkType: "vxlan", SegmentationID: ptr(101), MTU: 1450}
	s.SGs["default"] = &model.SecurityGroup{Standard: model.Standard{ID: "default"}, Name: "default", Stateful: true}
	s.SGs["web"] = &model.SecurityGroup{Standard: model.Standard{ID: "web"}, Name: "web", Stateful: true}
	s.SGs["raw"] = &model.SecurityGroup{Standard: model.Standard{ID: "raw"}, Name: "raw", Stateful: false}
	rule := func(id, group, dir, eth string, proto *string, lo, hi *int, prefix, remote *string) {
		s.SGRules[id] = &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: group, Direction: dir, EtherType: eth,
			Protocol: proto, PortRangeMin: lo, PortRangeMax: hi, RemoteIPPrefix: prefix, RemoteGroupID: remote}
	}
	rule("d1", "default", "egress", "IPv4", nil, nil, nil, nil, nil)
	rule("d2", "default", "egress", "IPv6", nil, nil, nil, nil, nil)
	rule("d3", "default", "ingress", "IPv4", nil, nil, nil, nil, ptr("default"))
	rule("d4", "default", "ingress", "IPv6", nil, nil, nil, nil, ptr("default"))
	rule("w1", "web", "ingress", "IPv4", ptr("tcp"), ptr(80), ptr(81), ptr("0.0.0.0/0"), nil)
	rule("w2", "web", "ingress", "IPv4", ptr("icmp"), ptr(8), nil, ptr("198.51.100.0/24"), nil)
	rule("w3", "web", "egress", "IPv4", ptr("6"), ptr(443), ptr(443), nil, nil)
	rule("w4", "web", "ingress", "IPv6", ptr("icmp"), ptr(128), ptr(0), ptr("2001:db8::/32"), nil)
	rule("r1", "raw", "ingress", "IPv4", ptr("udp"), ptr(53), ptr(53), nil, nil)
	// An address group: ssh from its CIDRs.
	s.AddressGroups["ag1"] = &model.AddressGroup{Standard: model.Standard{ID: "ag1"}, Addresses: []string{"203.0.113.0/24", "2001:db8:2::/48"}}
	s.SGRules["w6"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "w6"}, SecurityGroupID: "web", Direction: "ingress", EtherType: "IPv4",
		Protocol: ptr("tcp"), PortRangeMin: ptr(22), PortRangeMax: ptr(22), RemoteAddressGroupID: ptr("ag1")}
	port := func(id, host, mac, ip string, groups ...string) *model.Port {
		p := &model.Port{Standard: model.Standard{ID: id}, NetworkID: "n1", HostID: host, MACAddress: mac, DeviceOwner: "compute:nova",
			FixedIPs: []model.FixedIP{{SubnetID: "s1", IPAddress: ip}}, AdminStateUp: true, PortSecurityEnabled: true, SecurityGroups: groups}
		s.Ports[id] = p
		return p
	}
	port("vm1-port-aaaa", "compute1", "fa:16:3e:00:00:01", "10.0.0.11", "default")
	port("vm2-port-bbbb", "compute1", "fa:16:3e:00:00:02", "10.0.0.12", "web", "default")
	port("vm3-port-cccc", "compute1", "fa:16:3e:00:00:03", "10.0.0.13").PortSecurityEnabled = false
	vm4 := port("vm4-port-dddd", "compute1", "fa:16:3e:00:00:04", "10.0.0.14", "default")
	vm4.FixedIPs = append(vm4.FixedIPs, model.FixedIP{SubnetID: "s6", IPAddress: "2001:db8::14"})
	vm4.AllowedAddressPairs = []model.AddressPair{{IPAddress: "10.0.0.100"}, {IPAddress: "10.0.9.0/24", MACAddress: "FA:16:3E:00:00:99"}, {IPAddress: "2001:db8:1::/64"}}
	port("vm5-port-eeee", "compute2", "fa:16:3e:00:00:05", "10.0.0.15", "default")
	port("vm6-port-ffff", "compute1", "fa:16:3e:00:00:06", "10.0.0.16", "raw")
	s.Ports["dhcp"] = &model.Port{Standard: model.Standard{ID: "dhcp"}, NetworkID: "n1", HostID: "compute1", DeviceOwner: model.OwnerDHCP,
		MACAddress: "fa:16:3e:00:00:fe", FixedIPs: []model.FixedIP{{IPAddress: "10.0.0.2"}}, PortSecurityEnabled: true}
	var ports []Port
	for _, id := range []string{"vm1-port-aaaa", "vm2-port-bbbb", "vm3-port-cccc", "vm4-port-dddd", "vm6-port-ffff", "dhcp"} {
		ports = append(ports, Port{ID: id, Tap: names.Tap(id), Bridge: names.Bridge("n1")})
	}
	return s, ports
}

func render(r Result) string {
	h := desired.Host{Nft: r.Tables}
	h.Normalize()
	return "filtered " + strings.Join(r.Filtered, " ") + "\n" + h.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestPlanLab(t *testing.T) {
	s, ports := lab()
	golden(t, "lab.golden", render(Plan(s, ports, []string{names.Bridge("n1")})))
}

// No filtered port, no tables (and the caller keeps br_netfilter off).
func TestPlanNoFilteredPorts(t *testing.T) {
	s, ports := lab()
	for _, p := range s.Ports {
		p.PortSecurityEnabled = false
	}
	if r := Plan(s, ports, nil); len(r.Tables) != 0 || len(r.Filtered) != 0 {
		t.Errorf("got %s", render(r))
	}
}

// tableDiff returns the chains, sets and map elements that differ
// between two plans (by rendered line).
func tableDiff(a, b Result) []string {
	set := func(r Result) map[string]bool {
		m := map[string]bool{}
		h := desired.Host{Nft: r.Tables}
		h.Normalize()
		cur := ""
		for _, l := range strings.Split(h.String(), "\n") {
			if strings.HasPrefix(l, "  chain ") {
				cur = l
			}
			m[cur+"|"+l] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	var out []string
	for k := range sb {
		if !sa[k] {
			out = append(out, "+"+k)
		}
	}
	for k := range sa {
		if !sb[k] {
			out = append(out, "-"+k)
		}
	}
	return out
}

// A rule added to a group changes only that group's chain; a member
// joining a remote group changes only the member set.
func TestPlanSmallChanges(t *testing.T) {
	s, ports := lab()
	bridges := []string{names.Bridge("n1")}
	before := Plan(s, ports, bridges)
	s.SGRules["w5"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "w5"}, SecurityGroupID: "web", Direction: "ingress", EtherType: "IPv4",
		Protocol: ptr("udp"), PortRangeMin: ptr(53), PortRangeMax: ptr(53)}
	after := Plan(s, ports, bridges)
	for _, d := range tableDiff(before, after) {
		if !strings.Contains(d, "chain sg-web-in") {
			t.Errorf("rule add changed %s", d)
		}
	}
	s.Ports["vm7"] = &model.Port{Standard: model.Standard{ID: "vm7"}, NetworkID: "n1", HostID: "compute3", MACAddress: "fa:16:3e:00:00:07",
		FixedIPs: []model.FixedIP{{IPAddress: "10.0.0.17"}}, PortSecurityEnabled: true, SecurityGroups: []string{"default"}}
	member := Plan(s, ports, bridges)
	diff := tableDiff(after, member)
	if len(diff) != 2 {
		t.Errorf("member add changed %v", diff)
	}
	for _, d := range diff {
		if !strings.Contains(d, "set rg-default-v4") {
			t.Errorf("member add changed %s", d)
		}
	}
}

func TestAllocateStable(t *testing.T) {
	a := allocate([]string{"p1", "p2", "p3"})
	b := allocate([]string{"p1", "p3"})
	if a["p1"] != b["p1"] || a["p3"] != b["p3"] {
		t.Errorf("removing p2 renumbered: %v vs %v", a, b)
	}
	for _, v := range a {
		if v == 0 || v > 0xffff {
			t.Errorf("out of range: %v", a)
		}
	}
}

func flushText(fs []Flush) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	return strings.Join(out, "; ")
}

// Conntrack entries are deleted for the ports whose filtering lost
// something, and only then.
func TestShrunk(t *testing.T) {
	s, ports := lab()
	bridges := []string{names.Bridge("n1")}
	zone := "zone 8235 "
	plan := func() Result { return Plan(s, ports, bridges) }
	r0 := plan()
	s.SGRules["w5"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "w5"}, SecurityGroupID: "web", Direction: "ingress", EtherType: "IPv4"}
	r1 := plan()
	if f := Shrunk(r0, r1); len(f) != 0 {
		t.Errorf("rule added: flush %s", flushText(f))
	}
	delete(s.SGRules, "w1")
	r2 := plan()
	if got, want := flushText(Shrunk(r1, r2)), zone+"10.0.0.12"; got != want {
		t.Errorf("web rule removed: flush %q, want %q", got, want)
	}
	delete(s.Ports, "vm5-port-eeee") // a remote member of default leaves
	r3 := plan()
	if got, want := flushText(Shrunk(r2, r3)), zone+"10.0.0.15"; got != want { // the member that left
		t.Errorf("member removed: flush %q, want %q", got, want)
	}
	s.Ports["vm2-port-bbbb"].SecurityGroups = []string{"default"} // leaves web
	r4 := plan()
	if got, want := flushText(Shrunk(r3, r4)), zone+"10.0.0.12"; got != want {
		t.Errorf("port left a group: flush %q, want %q", got, want)
	}
	if f := Shrunk(r4, plan()); len(f) != 0 {
		t.Errorf("no change: flush %s", flushText(f))
	}
}
