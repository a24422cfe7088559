package plan

import (
	"reflect"
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// hostParts is a host without its namespaces (deep-copied lists).
func hostParts(h desired.Host) desired.Host {
	out := desired.Host{}
	out.Bridges = append(out.Bridges, h.Bridges...)
	out.VXLANs = append(out.VXLANs, h.VXLANs...)
	out.BridgePorts = append(out.BridgePorts, h.BridgePorts...)
	out.FDB = append(out.FDB, h.FDB...)
	out.Neighs = append(out.Neighs, h.Neighs...)
	out.Sysctls = append(out.Sysctls, h.Sysctls...)
	out.Nft = append(out.Nft, h.Nft...)
	return out
}

// TestFloatingIPLeavesHostPartsAlone: a floating IP change replans its
// router's namespace only; the host's own lists stay equal, so that the
// agent's incremental apply leaves the host parts alone.
func TestFloatingIPLeavesHostPartsAlone(t *testing.T) {
	cs := walkthrough()
	m := replay(t, cs)
	for _, h := range walkHosts {
		p := NewPlanner(hostConfig(h.name, h.mode, h.vtep))
		s, _, _ := m.SnapshotSince(h.name, 0)
		want, _ := p.Plan(s, nil, true)
		before := hostParts(want)
		rev := s.Revision
		fip := &model.FloatingIP{Standard: model.Standard{ID: "fip1", ProjectID: "demo"}, FloatingNetworkID: "ext-net",
			FloatingIPAddress: "203.0.113.102", RouterID: ptr("router1"), Status: "ACTIVE"}
		apply(t, m, rev+1, change{model.KindFIP, "fip1", fip})
		s2, changes, ok := m.SnapshotSince(h.name, rev)
		want2, _ := p.Plan(s2, changes, !ok)
		if after := hostParts(want2); !reflect.DeepEqual(before, after) {
			t.Errorf("host %s: a floating IP change changed the host's lists:\n--- before\n%s--- after\n%s", h.name, before.String(), after.String())
		}
		m = replay(t, cs)
	}
}
