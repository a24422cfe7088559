package plan

import (
	"encoding/json"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// BenchmarkPlanRuleToggle is the planner's cost of a rule added to (and,
// alternately, removed from) a group the host's filtered port is in:
// what every agent does when a rule of a group every port shares
// changes (neutrino bench fanout's rule series).
func BenchmarkPlanRuleToggle(b *testing.B) {
	m := resetModel(b, withSecGroups())
	cfg := hostConfig("compute1", model.ModeDVR, walkHosts[1].vtep)
	cfg.SecurityGroups = true
	p := NewPlanner(cfg)
	s0, _, _ := m.SnapshotSince("compute1", 0)
	p.Plan(s0, nil, true)
	rule := &model.SecurityGroupRule{Standard: model.Standard{ID: "r-bench"}, SecurityGroupID: "sg-default",
		Direction: "ingress", EtherType: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(2000), PortRangeMax: ptr(2000),
		RemoteIPPrefix: ptr("198.51.100.0/24")}
	data, _ := json.Marshal(rule)
	steps := toggleSteps(m, "compute1", 1, func(i int, rev int64) *syncproto.Event {
		if i == 0 {
			return &syncproto.Event{Revision: rev, Upserts: []syncproto.Object{{Kind: model.KindSGRule, ID: rule.ID, Rev: rev, Data: data}}}
		}
		return &syncproto.Event{Revision: rev, Deletes: []syncproto.Key{{Kind: model.KindSGRule, ID: rule.ID}}}
	})
	benchSteps(b, p, steps, nil)
}
