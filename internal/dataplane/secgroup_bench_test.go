package dataplane

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan/secgroup"
	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// sgBenchSnap: local ports in group "g", which has n rules (TCP ports)
// and refers to remote group "m" with n members.
func sgBenchSnap(n, local int) (*hostmodel.Snapshot, []secgroup.Port) {
	s := hostmodel.NewSnapshot("h1")
	s.SGs["g"] = &model.SecurityGroup{Standard: model.Standard{ID: "g"}, Stateful: true}
	s.SGs["m"] = &model.SecurityGroup{Standard: model.Standard{ID: "m"}, Stateful: true}
	s.SGRules["remote"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "remote"}, SecurityGroupID: "g", Direction: "ingress",
		EtherType: "IPv4", RemoteGroupID: new("m")}
	for i := range n {
		id := fmt.Sprintf("r%05d", i)
		s.SGRules[id] = &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: "g", Direction: "ingress",
			EtherType: "IPv4", Protocol: new("tcp"), PortRangeMin: new(1000 + i), PortRangeMax: new(1000 + i)}
		mid := fmt.Sprintf("member%05d", i)
		s.Ports[mid] = &model.Port{Standard: model.Standard{ID: mid}, NetworkID: "n2", MACAddress: "fa:16:3e:00:00:01",
			FixedIPs: []model.FixedIP{{IPAddress: u32Addr(0x0a400000 + 2*uint32(i)).String()}}, PortSecurityEnabled: true, SecurityGroups: []string{"m"}}
	}
	var ports []secgroup.Port
	for i := range local {
		id := fmt.Sprintf("local%03d", i)
		s.Ports[id] = &model.Port{Standard: model.Standard{ID: id}, NetworkID: "n1", HostID: "h1", MACAddress: fmt.Sprintf("fa:16:3e:00:%02x:%02x", i/256, i%256),
			FixedIPs: []model.FixedIP{{IPAddress: u32Addr(0x0a010000 + uint32(i)).String()}}, PortSecurityEnabled: true, SecurityGroups: []string{"g"}}
		ports = append(ports, secgroup.Port{ID: id, Tap: fmt.Sprintf("tapbench%03d", i), Bridge: "brqbench"})
	}
	return s, ports
}

// BenchmarkSecGroupChange measures one apply of the security group
// tables after one change, with n rules and n remote members installed:
// a rule added (its group's chain refilled) or a member added (one set
// element). One op = the change's apply plus the apply that undoes it.
func BenchmarkSecGroupChange(b *testing.B) {
	for _, n := range []int{10, 1000} {
		for _, what := range []string{"rule", "member"} {
			b.Run(fmt.Sprintf("%s/existing=%d", what, n), func(b *testing.B) {
				ns := openNS(b, testutil.NewNetNS(b, "sgbench"))
				s, ports := sgBenchSnap(n, 20)
				apply := func() []string {
					r, err := nft.Apply(ns, secgroup.Plan(s, ports, []string{"brqbench"}).Tables)
					if err != nil {
						b.Fatal(err)
					}
					return r.Lines
				}
				apply()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if what == "rule" {
						s.SGRules["new"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "new"}, SecurityGroupID: "g",
							Direction: "ingress", EtherType: "IPv4", Protocol: new("udp")}
					} else {
						s.Ports["newmember"] = &model.Port{Standard: model.Standard{ID: "newmember"}, MACAddress: "fa:16:3e:00:00:02",
							FixedIPs: []model.FixedIP{{IPAddress: netip.MustParseAddr("10.99.0.1").String()}}, SecurityGroups: []string{"m"}}
					}
					if ch := apply(); len(ch) != 1 {
						b.Fatalf("add: %q", ch)
					}
					delete(s.SGRules, "new")
					delete(s.Ports, "newmember")
					if ch := apply(); len(ch) != 1 {
						b.Fatalf("remove: %q", ch)
					}
				}
			})
		}
	}
}

// A host with 200 filtered ports, a group of 1,000 rules and a remote
// group of 1,000 members: the first apply is one large transaction (the
// socket buffers must hold its acknowledgements), later applies change
// nothing, also after a full read-back.
func TestSecGroupTablesAtScale(t *testing.T) {
	ns := openNS(t, testutil.NewNetNS(t, "sgscale"))
	s, ports := sgBenchSnap(1000, 200)
	want := secgroup.Plan(s, ports, []string{"brqbench"}).Tables
	if _, err := nft.Apply(ns, want); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	r, err := nft.Apply(ns, want)
	if err != nil || len(r.Lines) != 0 {
		t.Fatalf("second apply: %v %v", r.Lines, err)
	}
	must(t, nft.Forget(ns))
	if r, err = nft.Apply(ns, want); err != nil || len(r.Lines) != 0 {
		t.Fatalf("apply after a full read-back: %v %v", r.Lines, err)
	}
}
