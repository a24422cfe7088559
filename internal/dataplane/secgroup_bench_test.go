package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan/secgroup"
	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// sgHost is a host with filtered ports in realistic groups: 50 groups
// of 100 rules (5,000 rules: TCP and UDP ports and ranges, ICMP, IPv6,
// remote prefixes, and one rule in ten allows a remote group: sg00 to
// sg04). Port 0 is in every group (so even a one-port host has all 5,000
// rules), port j in sg00 and sg(1+j%49). 2,000 ports of other hosts are
// the members of sg00..sg04 (400 each).
type sgHost struct {
	s       *hostmodel.Snapshot
	ports   []secgroup.Port
	planner *secgroup.Planner
}

const sgGroups, sgRulesPer, sgRemote = 50, 100, 2000

func newSGHost(local int) *sgHost {
	h := &sgHost{s: hostmodel.NewSnapshot("h1"), planner: secgroup.NewPlanner(secgroup.Options{})}
	s := h.s
	group := func(i int) string { return fmt.Sprintf("sg%02d", i) }
	for g := range sgGroups {
		s.SGs[group(g)] = &model.SecurityGroup{Standard: model.Standard{ID: group(g)}, Stateful: true}
		for i := range sgRulesPer {
			id := fmt.Sprintf("r%02d-%03d", g, i)
			r := &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: group(g), Direction: "ingress", EtherType: "IPv4"}
			switch i % 10 {
			case 0:
				r.RemoteGroupID = new(group(i / 10 % 5))
			case 1:
				r.EtherType, r.Protocol, r.PortRangeMin, r.PortRangeMax = "IPv6", new("tcp"), new(2000+i), new(2000+i)
			case 2:
				r.Protocol, r.PortRangeMin, r.RemoteIPPrefix = new("icmp"), new(8), new(fmt.Sprintf("198.51.%d.0/24", i))
			case 3:
				r.Direction, r.Protocol, r.PortRangeMin, r.PortRangeMax = "egress", new("udp"), new(5000+10*i), new(5009+10*i)
			default:
				r.Protocol, r.PortRangeMin, r.PortRangeMax = new("tcp"), new(1000+i), new(1000+i)
				r.RemoteIPPrefix = new(fmt.Sprintf("10.%d.%d.0/24", g, i))
			}
			s.SGRules[id] = r
		}
	}
	for i := range sgRemote {
		id := fmt.Sprintf("remote%05d", i)
		s.Ports[id] = &model.Port{Standard: model.Standard{ID: id}, NetworkID: "n2", HostID: "h2", MACAddress: "fa:16:3e:00:00:01",
			FixedIPs: []model.FixedIP{{IPAddress: u32Addr(0x0a400000 + 2*uint32(i)).String()}}, PortSecurityEnabled: true,
			SecurityGroups: []string{group(i % 5)}}
	}
	for j := range local {
		id := fmt.Sprintf("local%04d", j)
		groups := []string{group(0), group(1 + j%49)}
		if j == 0 {
			groups = nil
			for g := range sgGroups {
				groups = append(groups, group(g))
			}
		}
		s.Ports[id] = &model.Port{Standard: model.Standard{ID: id}, NetworkID: "n1", HostID: "h1", MACAddress: fmt.Sprintf("fa:16:3e:01:%02x:%02x", j/256, j%256),
			FixedIPs: []model.FixedIP{{IPAddress: u32Addr(0x0a010000 + uint32(j)).String()}}, PortSecurityEnabled: true, SecurityGroups: groups}
		h.ports = append(h.ports, secgroup.Port{ID: id, Tap: fmt.Sprintf("tapb%04d", j), Bridge: "brqbench"})
	}
	return h
}

// plan replans after changes (nil: from scratch).
func (h *sgHost) plan(changes []hostmodel.Change) secgroup.Result {
	return h.planner.Plan(h.s, h.ports, []string{"brqbench"}, changes, changes == nil)
}

// toggle adds (on) or removes the benchmark's rule (in sg01) or member
// (of sg03) and returns the change.
func (h *sgHost) toggle(what string, on bool) hostmodel.Change {
	c := hostmodel.Change{Key: syncproto.Key{Kind: model.KindSGRule, ID: "new"}}
	if what == "member" {
		c.Key = syncproto.Key{Kind: model.KindPort, ID: "newmember"}
	}
	switch {
	case what == "rule" && on:
		r := &model.SecurityGroupRule{Standard: model.Standard{ID: "new"}, SecurityGroupID: "sg01", Direction: "ingress",
			EtherType: "IPv4", Protocol: new("udp"), PortRangeMin: new(53), PortRangeMax: new(53)}
		h.s.SGRules["new"], c.New = r, r
	case what == "rule":
		c.Old = h.s.SGRules["new"]
		delete(h.s.SGRules, "new")
	case on:
		p := &model.Port{Standard: model.Standard{ID: "newmember"}, HostID: "h3", MACAddress: "fa:16:3e:00:00:02",
			FixedIPs: []model.FixedIP{{IPAddress: "10.99.0.1"}}, PortSecurityEnabled: true, SecurityGroups: []string{"sg03"}}
		h.s.Ports["newmember"], c.New = p, p
	default:
		c.Old = h.s.Ports["newmember"]
		delete(h.s.Ports, "newmember")
	}
	return c
}

// BenchmarkSecGroupChange measures one security group change on hosts
// with 1, 100 and 1,000 filtered ports and 5,000 rules (newSGHost): a
// rule added to or removed from a group (one rule in the kernel), or a
// remote group member coming or going (one set element). One op is one
// change: the planner's replan (also reported alone, plan-µs/op) and
// the nft apply. The ratios of the 1,000-port to the 1-port host are
// logged at the end (go test -v).
func BenchmarkSecGroupChange(b *testing.B) {
	perOp := map[string]map[int]float64{"rule": {}, "member": {}}
	for _, n := range []int{1, 100, 1000} {
		ns := openNS(b, testutil.NewNetNS(b, "sgbench"))
		h := newSGHost(n)
		if _, err := nft.Apply(ns, h.plan(nil).Tables); err != nil {
			b.Fatalf("first apply with %d ports: %v", n, err)
		}
		for _, what := range []string{"rule", "member"} {
			b.Run(fmt.Sprintf("%s/ports=%d", what, n), func(b *testing.B) {
				b.ReportAllocs()
				var planning time.Duration
				for i := range b.N {
					start := time.Now()
					res := h.plan([]hostmodel.Change{h.toggle(what, i%2 == 0)})
					planning += time.Since(start)
					r, err := nft.Apply(ns, res.Tables)
					if err != nil {
						b.Fatal(err)
					}
					if len(r.Lines) != 1 {
						b.Fatalf("change %d: %q", i, r.Lines)
					}
				}
				perOp[what][n] = float64(b.Elapsed()) / float64(b.N)
				b.ReportMetric(float64(planning.Microseconds())/float64(b.N), "plan-µs/op")
				if b.N%2 == 1 { // leave the host as it was
					if _, err := nft.Apply(ns, h.plan([]hostmodel.Change{h.toggle(what, false)}).Tables); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	for _, what := range []string{"rule", "member"} {
		if one, big := perOp[what][1], perOp[what][1000]; one > 0 && big > 0 {
			b.Logf("%s change: %.2f ms with 1 port, %.2f ms with 100, %.2f ms with 1,000: ratio 1000:1 = %.2f",
				what, one/1e6, perOp[what][100]/1e6, big/1e6, big/one)
		}
	}
}

// A host with 200 filtered ports and 5,000 rules (newSGHost): the first
// apply is large (the socket buffers must hold its acknowledgements),
// later applies change nothing, also for a restarted agent: a fresh
// planner that recovers the mark indexes from the kernel, after a full
// read-back.
func TestSecGroupTablesAtScale(t *testing.T) {
	ns := openNS(t, testutil.NewNetNS(t, "sgscale"))
	h := newSGHost(200)
	want := h.plan(nil).Tables
	if _, err := nft.Apply(ns, want); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	r, err := nft.Apply(ns, want)
	if err != nil || len(r.Lines) != 0 {
		t.Fatalf("second apply: %v %v", r.Lines, err)
	}
	must(t, nft.Forget(ns))
	marks, err := nft.MarkVerdicts(ns, desired.FamilyINet, secgroup.Table, secgroup.EgressMap)
	must(t, err)
	if len(marks) != 200 {
		t.Fatalf("%d marks in the kernel, want 200", len(marks))
	}
	restarted := newSGHost(200)
	restarted.planner.Recover(secgroup.MarksByTap(marks))
	if r, err = nft.Apply(ns, restarted.plan(nil).Tables); err != nil || len(r.Lines) != 0 {
		t.Fatalf("restarted agent's apply after a full read-back: %v %v", r.Lines, err)
	}
}
