package l3

import (
	"regexp"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/desired"
)

// TestHAStandbyPlan: the active and the standby copy of an HA legacy
// router differ exactly in the addresses, the routes and the
// announcements (rendered whole, as the agent prints them); both get
// the IPv6 sysctl; the standby reports no floating IP status.
func TestHAStandbyPlan(t *testing.T) {
	render := func(active string) (string, Facts) {
		s := legacySnapshot()
		s.Routers["r1"].HA = true
		s.L3Bindings["r1"].AgentIDs = []string{"l3", "other"}
		s.L3Bindings["r1"].ActiveAgentID = active
		res := Plan(s, Config{Host: "network1", Mode: "dvr_snat", NS: names.Namespaces{Suffix: "@network1"}})
		if len(res.Routers) != 1 {
			t.Fatalf("routers: %+v", res.Routers)
		}
		h := desired.Host{Namespaces: []desired.Namespace{res.Routers[0].Namespace}}
		h.Normalize()
		return h.String(), res.Facts["r1"]
	}
	act, actFacts := render("l3")
	sb, sbFacts := render("other")
	for _, want := range []string{"addr 203.0.113.101/24", "addr 203.0.113.102/32", "addr 10.241.0.1/22", "route 0.0.0.0/0 via 203.0.113.1", "garp 203.0.113.102", "addr_gen_mode=1"} {
		if !strings.Contains(act, want) {
			t.Errorf("active plan lacks %q:\n%s", want, act)
		}
	}
	// The standby's plan is the active's without addresses, routes and
	// announcements.
	var want []string
	for _, l := range strings.Split(act, "\n") {
		if f := strings.TrimSpace(l); strings.HasPrefix(f, "route ") || strings.HasPrefix(f, "garp ") {
			continue
		}
		want = append(want, addrRE.ReplaceAllString(l, ""))
	}
	if w := strings.Join(want, "\n"); sb != w {
		t.Errorf("standby plan:\n%s\nwant:\n%s", sb, w)
	}
	if len(actFacts.FIPStatus) == 0 || len(sbFacts.FIPStatus) != 0 {
		t.Errorf("floating IP status: active %v, standby %v", actFacts.FIPStatus, sbFacts.FIPStatus)
	}
}

var addrRE = regexp.MustCompile(` addr \S+`)
