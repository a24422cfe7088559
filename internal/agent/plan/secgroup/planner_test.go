package secgroup

import (
	"fmt"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// change records one object change in s as the model would report it.
func change(s *hostmodel.Snapshot, kind, id string, obj any) hostmodel.Change {
	c := hostmodel.Change{Key: syncproto.Key{Kind: kind, ID: id}, New: obj}
	switch kind {
	case model.KindPort:
		if old := s.Ports[id]; old != nil {
			c.Old = old
		}
		if obj == nil {
			delete(s.Ports, id)
			c.New = nil
		} else {
			s.Ports[id] = obj.(*model.Port)
		}
	case model.KindSGRule:
		if old := s.SGRules[id]; old != nil {
			c.Old = old
		}
		if obj == nil {
			delete(s.SGRules, id)
			c.New = nil
		} else {
			s.SGRules[id] = obj.(*model.SecurityGroupRule)
		}
	case model.KindAddressGroup:
		if old := s.AddressGroups[id]; old != nil {
			c.Old = old
		}
		if obj == nil {
			delete(s.AddressGroups, id)
			c.New = nil
		} else {
			s.AddressGroups[id] = obj.(*model.AddressGroup)
		}
	case model.KindSG:
		if old := s.SGs[id]; old != nil {
			c.Old = old
		}
		if obj == nil {
			delete(s.SGs, id)
			c.New = nil
		} else {
			s.SGs[id] = obj.(*model.SecurityGroup)
		}
	}
	return c
}

// The planner, fed change by change, plans what a fresh plan of the
// same snapshot plans, and its Flush is Shrunk's answer.
func TestPlannerIncremental(t *testing.T) {
	s, ports := lab()
	bridges := []string{names.Bridge("n1")}
	pl := NewPlanner(Options{})
	prev := pl.Plan(s, ports, bridges, nil, true)
	if render(prev) != render(Plan(s, ports, bridges)) {
		t.Fatal("first plan differs from Plan")
	}
	clone := func(p *model.Port) *model.Port { c := *p; return &c }
	steps := []struct {
		what string
		do   func() []hostmodel.Change
	}{
		{"rule added", func() []hostmodel.Change {
			return []hostmodel.Change{change(s, model.KindSGRule, "w5", &model.SecurityGroupRule{Standard: model.Standard{ID: "w5"},
				SecurityGroupID: "web", Direction: "ingress", EtherType: "IPv4", Protocol: ptr("udp"), PortRangeMin: ptr(53), PortRangeMax: ptr(53)})}
		}},
		{"rule removed", func() []hostmodel.Change { return []hostmodel.Change{change(s, model.KindSGRule, "w1", nil)} }},
		{"remote member left", func() []hostmodel.Change { return []hostmodel.Change{change(s, model.KindPort, "vm5-port-eeee", nil)} }},
		{"remote member came", func() []hostmodel.Change {
			return []hostmodel.Change{change(s, model.KindPort, "vm7", &model.Port{Standard: model.Standard{ID: "vm7"}, NetworkID: "n1",
				HostID: "compute3", MACAddress: "fa:16:3e:00:00:07", FixedIPs: []model.FixedIP{{IPAddress: "10.0.0.17"}},
				PortSecurityEnabled: true, SecurityGroups: []string{"default"}})}
		}},
		{"port left a group", func() []hostmodel.Change {
			p := clone(s.Ports["vm2-port-bbbb"])
			p.SecurityGroups = []string{"default"}
			return []hostmodel.Change{change(s, model.KindPort, p.ID, p)}
		}},
		{"port security off", func() []hostmodel.Change {
			p := clone(s.Ports["vm6-port-ffff"])
			p.PortSecurityEnabled = false
			return []hostmodel.Change{change(s, model.KindPort, p.ID, p)}
		}},
		{"group stateless", func() []hostmodel.Change {
			g := *s.SGs["default"]
			g.Stateful = false
			return []hostmodel.Change{change(s, model.KindSG, "default", &g)}
		}},
		{"port joins web again", func() []hostmodel.Change {
			p := clone(s.Ports["vm2-port-bbbb"])
			p.SecurityGroups = []string{"web", "default"}
			return []hostmodel.Change{change(s, model.KindPort, p.ID, p)}
		}},
		{"address group shrinks", func() []hostmodel.Change {
			return []hostmodel.Change{change(s, model.KindAddressGroup, "ag1", &model.AddressGroup{Standard: model.Standard{ID: "ag1"},
				Addresses: []string{"203.0.113.7/32", "2001:db8:2::/48"}})}
		}},
		{"address group rule removed", func() []hostmodel.Change { return []hostmodel.Change{change(s, model.KindSGRule, "w6", nil)} }},
		{"nothing", func() []hostmodel.Change { return nil }},
	}
	for _, st := range steps {
		changes := st.do()
		got := pl.Plan(s, ports, bridges, changes, false)
		if g, w := render(got), render(Plan(s, ports, bridges)); g != w {
			t.Fatalf("%s: incremental plan differs:\n--- got\n%s--- want\n%s", st.what, g, w)
		}
		if g, w := flushText(got.Flush), flushText(Shrunk(prev, got)); g != w {
			t.Errorf("%s: flush %q, Shrunk says %q", st.what, g, w)
		}
		if want := st.what == "rule removed" || st.what == "remote member left" || st.what == "port left a group" || st.what == "group stateless" || strings.HasPrefix(st.what, "address group"); want != (len(got.Flush) > 0) {
			t.Errorf("%s: flush %q", st.what, flushText(got.Flush))
		}
		prev = got
	}
}

// A rule change hands the unchanged chains over as the same slices.
func TestPlannerKeepsUnchangedChains(t *testing.T) {
	s, ports := lab()
	bridges := []string{names.Bridge("n1")}
	pl := NewPlanner(Options{})
	before := pl.Plan(s, ports, bridges, nil, true)
	after := pl.Plan(s, ports, bridges, []hostmodel.Change{change(s, model.KindSGRule, "w5", &model.SecurityGroupRule{
		Standard: model.Standard{ID: "w5"}, SecurityGroupID: "web", Direction: "ingress", EtherType: "IPv4"})}, false)
	for ti := range before.Tables {
		for i, c := range before.Tables[ti].Chains {
			a := after.Tables[ti].Chains[i]
			same := len(c.Rules) == len(a.Rules) && (len(c.Rules) == 0 || &c.Rules[0] == &a.Rules[0])
			if same == (c.Name == "sg-web-in") {
				t.Errorf("chain %s: same slice %v", c.Name, same)
			}
		}
	}
}

// collidingIDs returns two port ids whose mark indexes start at the same
// hash, the second one sorting first.
func collidingIDs(t *testing.T) (big, small string) {
	seen := map[uint32]string{}
	for i := range 100000 {
		id := fmt.Sprintf("port-%05d", i)
		if other, ok := seen[hashIndex(id)]; ok {
			return id, other
		}
		seen[hashIndex(id)] = id
	}
	t.Fatal("no collision")
	return "", ""
}

// A port's mark index never moves while it stays, even when a port
// whose id sorts first and hashes to the same index comes; a new
// planner recovers the indexes from the kernel's (by tap).
func TestMarkIndexStable(t *testing.T) {
	big, small := collidingIDs(t)
	s := hostmodel.NewSnapshot("h")
	s.SGs["g"] = &model.SecurityGroup{Standard: model.Standard{ID: "g"}, Stateful: true}
	port := func(id string) Port {
		s.Ports[id] = &model.Port{Standard: model.Standard{ID: id}, NetworkID: "n", HostID: "h", MACAddress: "fa:16:3e:00:00:01",
			PortSecurityEnabled: true, SecurityGroups: []string{"g"}}
		return Port{ID: id, Tap: "tap" + id[5:], Bridge: "brq"}
	}
	pb := port(big)
	pl := NewPlanner(Options{})
	pl.Plan(s, []Port{pb}, []string{"brq"}, nil, true)
	want := pl.idx[big]
	ps := port(small)
	pl.Plan(s, []Port{ps, pb}, []string{"brq"}, []hostmodel.Change{{Key: syncproto.Key{Kind: model.KindPort, ID: small}, New: s.Ports[small]}}, false)
	if pl.idx[big] != want || pl.idx[small] == want {
		t.Errorf("%s had %#x, now %#x; %s got %#x", big, want, pl.idx[big], small, pl.idx[small])
	}
	pl.Plan(s, []Port{ps, pb}, []string{"brq"}, nil, true) // a full replan keeps them too
	if pl.idx[big] != want {
		t.Errorf("full replan moved %s to %#x", big, pl.idx[big])
	}
	// After a restart: what the kernel has wins over the hash.
	fresh := NewPlanner(Options{})
	fresh.Recover(map[string]uint32{pb.Tap: pl.idx[big], ps.Tap: pl.idx[small]})
	fresh.Plan(s, []Port{ps, pb}, []string{"brq"}, nil, true)
	if fresh.idx[big] != pl.idx[big] || fresh.idx[small] != pl.idx[small] {
		t.Errorf("after Recover: %#x %#x, want %#x %#x", fresh.idx[big], fresh.idx[small], pl.idx[big], pl.idx[small])
	}
}

// prevent_arp_spoofing = False: any ARP passes, the IP checks stay.
func TestAllowARPSpoofing(t *testing.T) {
	s, ports := lab()
	r := NewPlanner(Options{AllowARPSpoofing: true}).Plan(s, ports, []string{names.Bridge("n1")}, nil, true)
	for _, c := range r.Tables[bridgeT].Chains {
		if c.Name != srcChain(names.Tap("vm1-port-aaaa")) {
			continue
		}
		arp, ip := 0, 0
		for _, rule := range c.Rules {
			switch {
			case rule.L3Proto == "arp" && rule.Accept && rule.ARPSenderIP.IsValid():
				t.Errorf("ARP check left: %s", rule)
			case rule.L3Proto == "arp" && rule.Accept:
				arp++
			case rule.Saddr.IsValid() && rule.Accept:
				ip++
			}
		}
		if arp != 1 || ip == 0 {
			t.Errorf("arp accept %d, ip accepts %d", arp, ip)
		}
		return
	}
	t.Fatal("no src chain")
}
