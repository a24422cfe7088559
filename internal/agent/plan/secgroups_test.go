package plan

import (
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
)

// withSecGroups is the legacy walkthrough with port security on the
// instance ports, in the project's default group.
func withSecGroups() []change {
	cs := walkthrough()
	for _, c := range cs {
		if p, ok := c.obj.(*model.Port); ok && p.DeviceOwner == "compute:nova" {
			p.PortSecurityEnabled, p.SecurityGroups = true, []string{"sg-default"}
		}
	}
	cs = append(cs, change{model.KindSG, "sg-default", &model.SecurityGroup{Standard: model.Standard{ID: "sg-default"}, Name: "default", Stateful: true}})
	for _, r := range []struct{ id, dir, remote string }{{"r1", "egress", ""}, {"r2", "ingress", "sg-default"}} {
		rule := &model.SecurityGroupRule{Standard: model.Standard{ID: r.id}, SecurityGroupID: "sg-default", Direction: r.dir, EtherType: "IPv4"}
		if r.remote != "" {
			rule.RemoteGroupID = ptr(r.remote)
		}
		cs = append(cs, change{model.KindSGRule, r.id, rule})
	}
	return cs
}

// With security groups on, a host with a filtered port gets both tables,
// br_netfilter on and no mid-stream TCP pickup; off (or on a host
// without such ports), none of them.
func TestPlanSecurityGroupsSwitch(t *testing.T) {
	m := replay(t, withSecGroups())
	for _, tc := range []struct {
		host string
		on   bool
		want bool
	}{{"compute1", true, true}, {"compute1", false, false}, {"network1", true, false}} {
		cfg := hostConfig(tc.host, model.ModeDVR, walkHosts[1].vtep)
		cfg.SecurityGroups = tc.on
		h, _ := Plan(m.Snapshot(tc.host), cfg)
		text := h.String()
		has := strings.Contains(text, "table bridge neutrino-sg") && strings.Contains(text, "table inet neutrino-sg") &&
			strings.Contains(text, "sysctl net/bridge/bridge-nf-call-iptables=1") &&
			strings.Contains(text, "sysctl net/netfilter/nf_conntrack_tcp_loose=0")
		off := !strings.Contains(text, "neutrino-sg") && strings.Contains(text, "sysctl net/bridge/bridge-nf-call-iptables=0") &&
			strings.Contains(text, "sysctl net/netfilter/nf_conntrack_tcp_loose=1")
		if has != tc.want || off == tc.want {
			t.Errorf("%s with security groups %v: tables %v, want %v:\n%s", tc.host, tc.on, has, tc.want, text)
		}
	}
}

// The incremental planner follows group, rule and port changes exactly
// as a plan from scratch does.
func TestPlannerSecurityGroupChanges(t *testing.T) {
	cs := withSecGroups()
	m := replay(t, cs)
	cfg := hostConfig("compute1", model.ModeDVR, walkHosts[1].vtep)
	cfg.SecurityGroups = true
	p := NewPlanner(cfg)
	rev := int64(len(cs))
	p.Plan(m.Snapshot("compute1"), nil, true)
	steps := []change{
		{model.KindSGRule, "r3", &model.SecurityGroupRule{Standard: model.Standard{ID: "r3"}, SecurityGroupID: "sg-default",
			Direction: "ingress", EtherType: "IPv4", Protocol: ptr("tcp"), PortRangeMin: ptr(22), PortRangeMax: ptr(22)}},
		{model.KindSGRule, "r2", nil},
		{model.KindPort, "vm-apps", &model.Port{Standard: model.Standard{ID: "vm-apps", ProjectID: "demo"}, NetworkID: "apps-net", AdminStateUp: true,
			DeviceOwner: "compute:nova", DeviceID: "APPS_INSTANCE", HostID: "compute1", MACAddress: "fa:16:3e:00:01:03",
			FixedIPs: []model.FixedIP{{SubnetID: "apps-sub", IPAddress: "10.241.0.3"}}}},
	}
	for i, st := range steps {
		cs = append(cs, st)
		m = replay(t, cs)
		s, changes, ok := m.SnapshotSince("compute1", rev)
		rev = s.Revision
		got, _ := p.Plan(s, changes, !ok)
		want, _ := Plan(m.Snapshot("compute1"), cfg)
		if got.String() != want.String() {
			t.Errorf("step %d: incremental plan differs:\n%s\nwant:\n%s", i, got.String(), want.String())
		}
	}
	if h, _ := p.Plan(m.Snapshot("compute1"), nil, false); strings.Contains(h.String(), "neutrino-sg") {
		t.Error("port security off: tables remain")
	}
}
