package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestLivenessFollowsReportInterval: an agent that says it reports
// every 0.2 s is dead after three silent intervals although
// agent_down_time is a minute, and its non-HA router moves at once
// (the controller wakes when an agent's down time runs out, not at its
// periodic pass, every agent_down_time / 3 = 20 s); a host that says
// no interval keeps agent_down_time.
func TestLivenessFollowsReportInterval(t *testing.T) {
	srv := noAuth(t, testutil.WithConfig(func(c *config.Server) { c.AgentDownTime = time.Minute }))
	old := regHost(t, srv, "old", agState(model.AgentTypeL2, ""))
	h1 := regHost(t, srv, "h1", agState(model.AgentTypeL3, "legacy"))
	h1.interval = 0.2
	h1.beat()
	r := mkRouter(t, srv, admin, map[string]any{"name": "r"})
	on := func(h *agentHost) {
		t.Helper()
		eventually(t, "router on "+h.name, func() (bool, string) {
			got := routerAgents(t, srv, id(r))
			return slices.Equal(got, []string{h.l3()}), jsonOf(got)
		})
	}
	on(h1)
	h2 := regHost(t, srv, "h2", agState(model.AgentTypeL3, "legacy"))
	h2.interval = 0.2
	h2.beat()
	h1.pause()
	on(h2)
	if a := show(t, srv, admin, "agents", "agent", h1.l3()); a["alive"] != false {
		t.Errorf("h1 silent for three of its intervals: alive %v", a["alive"])
	}
	if a := show(t, srv, admin, "agents", "agent", old.ids[model.AgentTypeL2]); a["alive"] != true {
		t.Errorf("a host without report_interval within agent_down_time: alive %v", a["alive"])
	}
	if _, err := h2.client.Report(context.Background(), &syncproto.ReportRequest{Agents: h2.states, ReportInterval: -1}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("report_interval -1: %v, want 400", err)
	}
}
