package secgroup

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/model"
)

// randomRule is a rule of one of the lab's groups (or of a group no
// port is in), now and then one with a remote group or address group,
// or one this data plane cannot express.
func randomRule(rng *rand.Rand, id string) *model.SecurityGroupRule {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	r := &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: pick("default", "web", "web", "raw", "nobody"),
		Direction: pick("ingress", "egress"), EtherType: pick("IPv4", "IPv4", "IPv6")}
	if p := pick("", "tcp", "udp", "icmp", "bogus"); p != "" {
		r.Protocol = ptr(p)
		r.PortRangeMin, r.PortRangeMax = ptr(rng.IntN(3)+22), ptr(rng.IntN(3)+24)
	}
	switch rng.IntN(8) {
	case 0:
		r.RemoteGroupID = ptr(pick("default", "web"))
	case 1:
		r.RemoteAddressGroupID = ptr("ag1")
	case 2, 3:
		r.RemoteIPPrefix = ptr(pick("198.51.100.0/24", "2001:db8::/32", "0.0.0.0/0", "not-a-prefix"))
	}
	return r
}

// Rules added, removed and replaced at random, a few per plan, with now
// and then a port changing groups: the planner (which patches a rule
// without remote into its group's chains) plans what a fresh plan of
// the same snapshot plans, compared as whole rendered text, and flushes
// what Shrunk says.
func TestPlannerRuleDeltas(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			s, ports := lab()
			bridges := []string{names.Bridge("n1")}
			pl := NewPlanner(Options{})
			prev := pl.Plan(s, ports, bridges, nil, true)
			ids := []string{"w1", "w2", "w3", "w4", "d1", "d2", "d3", "x1", "x2", "x3", "x4", "x5", "x6"}
			for step := range 60 {
				var changes []hostmodel.Change
				for range rng.IntN(3) + 1 {
					id := ids[rng.IntN(len(ids))]
					switch rng.IntN(10) {
					case 0, 1, 2, 3:
						changes = append(changes, change(s, model.KindSGRule, id, randomRule(rng, id)))
					case 4, 5, 6, 7:
						changes = append(changes, change(s, model.KindSGRule, id, nil))
					case 8:
						// The same rule back, or added and removed in one plan.
						r := randomRule(rng, id)
						changes = append(changes, change(s, model.KindSGRule, id, r), change(s, model.KindSGRule, id, nil))
					default:
						p := *s.Ports["vm2-port-bbbb"]
						p.SecurityGroups = [][]string{{"default"}, {"web", "default"}, {"web"}}[rng.IntN(3)]
						changes = append(changes, change(s, model.KindPort, p.ID, &p))
					}
				}
				got := pl.Plan(s, ports, bridges, changes, false)
				if g, w := render(got), render(Plan(s, ports, bridges)); g != w {
					t.Fatalf("step %d: incremental plan differs:\n--- got\n%s--- want\n%s", step, g, w)
				}
				if g, w := flushText(got.Flush), flushText(Shrunk(prev, got)); g != w {
					t.Fatalf("step %d: flush %q, Shrunk says %q", step, g, w)
				}
				prev = got
			}
		})
	}
}

// TestPatchAfterChainsMoved: a group's chains are patched (patchChains
// remembers where they are), then a group whose chains sort before
// them comes and goes, moving them, and the first group is patched
// again: the plan is a fresh plan's each time (a remembered position is
// used only while the chain there has its name).
func TestPatchAfterChainsMoved(t *testing.T) {
	s, ports := lab()
	s.SGs["aaa"] = &model.SecurityGroup{Standard: model.Standard{ID: "aaa"}, Name: "aaa", Stateful: true}
	s.SGRules["a1"] = &model.SecurityGroupRule{Standard: model.Standard{ID: "a1"}, SecurityGroupID: "aaa", Direction: "ingress", EtherType: "IPv4"}
	bridges := []string{names.Bridge("n1")}
	pl := NewPlanner(Options{})
	pl.Plan(s, ports, bridges, nil, true)
	rawRule := func(id string, port int) *model.SecurityGroupRule {
		return &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: "raw", Direction: "ingress", EtherType: "IPv4",
			Protocol: ptr("tcp"), PortRangeMin: ptr(port), PortRangeMax: ptr(port)}
	}
	groups := [][]string{{"web", "default"}, {"aaa", "web", "default"}}
	for step := range 6 {
		var changes []hostmodel.Change
		if step%2 == 1 {
			p := *s.Ports["vm2-port-bbbb"]
			p.SecurityGroups = groups[(step/2+1)%2]
			changes = append(changes, change(s, model.KindPort, p.ID, &p))
		} else {
			changes = append(changes, change(s, model.KindSGRule, fmt.Sprint("r", step+2), rawRule(fmt.Sprint("r", step+2), 1000+step)))
		}
		got := pl.Plan(s, ports, bridges, changes, false)
		if g, w := render(got), render(Plan(s, ports, bridges)); g != w {
			t.Fatalf("step %d: incremental plan differs:\n--- got\n%s--- want\n%s", step, g, w)
		}
	}
}
