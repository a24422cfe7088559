package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// AgentSyncOptions configure RunAgentSync.
type AgentSyncOptions struct {
	Ports    int
	Chunk    int // ports per bulk POST
	Sandbox  SandboxOptions
	Progress io.Writer
}

// DefaultAgentSync is `neutrino bench agent-sync`'s default.
func DefaultAgentSync() AgentSyncOptions { return AgentSyncOptions{Ports: 500, Chunk: 40} }

// AgentSyncDefinition says what RunAgentSync measures.
const AgentSyncDefinition = `A fresh sandbox with one compute host; a VXLAN network per 1000 ports (a
Linux bridge holds at most 1024), whose DHCP is on network1. compute1's agent is stopped; N instance ports bound to compute1
are created (bulk POSTs) and N taps appear in compute1's namespace (veth
pairs whose peers sit in one sink namespace). Then:
  cold: the agent starts with all N ports to plug (every tap into the
        network's bridge, the bridge, the VXLAN device and its FDB);
  warm: the agent is stopped (SIGTERM) and started again with everything
        in place (it must find nothing to change).
Times run from just before the agent process is forked to
  initial apply: the timestamp of its "initial apply" log line (first
                 full reconcile after start);
  all ACTIVE:    the API shows all N ports ACTIVE (polled every 50 ms);
                 on the warm start they must stay ACTIVE throughout.`

// SyncRun is one start of the agent.
type SyncRun struct {
	InitialApplyMs float64 `json:"initial_apply_ms"`
	AllActiveMs    float64 `json:"all_active_ms,omitempty"` // cold start
	StayedActive   bool    `json:"stayed_active,omitempty"` // warm start: all ACTIVE before and after
	Changes        int     `json:"changes"`
}

// AgentSyncReport is RunAgentSync's result.
type AgentSyncReport struct {
	Ports        int     `json:"ports"`
	Definition   string  `json:"definition"`
	CreatePortMs float64 `json:"create_ports_ms"` // setup, for scale
	CreateTapMs  float64 `json:"create_taps_ms"`
	Cold         SyncRun `json:"cold"`
	Warm         SyncRun `json:"warm"`
}

// RunAgentSync measures an agent's full sync with N ports on its host
// (see AgentSyncDefinition).
func RunAgentSync(ctx context.Context, o AgentSyncOptions) (*AgentSyncReport, error) {
	if o.Ports < 1 {
		return nil, fmt.Errorf("--ports %d: want at least 1", o.Ports)
	}
	if o.Chunk < 1 {
		o.Chunk = 40
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	b, cleanup, err := upSandbox(ctx, o.Sandbox, o.Progress, 1)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	const host = "compute1"
	// A Linux bridge takes at most 1024 ports (BR_MAX_PORTS; more fail
	// with EXFULL), so the ports are spread over one network per
	// perNetwork, each with a /22 subnet.
	const perNetwork = 1000
	var nets []*network
	for i := 0; i*perNetwork < o.Ports; i++ {
		if i >= 64 {
			return nil, fmt.Errorf("--ports %d: too many", o.Ports)
		}
		id, err := b.network(ctx, fmt.Sprintf("sync%d", i), fmt.Sprintf("10.64.%d.0/22", 4*i))
		if err != nil {
			return nil, err
		}
		if err := b.scheduleDHCP(ctx, id, sandbox.NodeNetwork1); err != nil {
			return nil, err
		}
		nw, err := b.getNetwork(ctx, id)
		if err != nil {
			return nil, err
		}
		nets = append(nets, nw)
	}
	project := nets[0].ProjectID
	// The default port quota (500) would stop us first.
	if err := b.api.Do(ctx, http.MethodPut, "/v2.0/quotas/"+project, map[string]any{"quota": map[string]any{"port": -1}}, nil); err != nil {
		return nil, fmt.Errorf("lift the port quota of project %s: %w", project, err)
	}
	if err := b.st.StopAgent(host, syscall.SIGTERM); err != nil {
		return nil, err
	}
	rep := &AgentSyncReport{Ports: o.Ports, Definition: AgentSyncDefinition}

	start := time.Now()
	var ids []string
	for len(ids) < o.Ports {
		n := min(o.Chunk, o.Ports-len(ids))
		var ports []map[string]any
		for j := range n {
			nw := nets[(len(ids)+j)/perNetwork]
			ports = append(ports, map[string]any{"network_id": nw.ID, "binding:host_id": host, "project_id": project,
				"device_owner": "compute:nova", "device_id": uuid.NewString()})
		}
		var out struct {
			Ports []struct {
				ID string `json:"id"`
			} `json:"ports"`
		}
		if err := b.api.Do(ctx, http.MethodPost, "/v2.0/ports", map[string]any{"ports": ports}, &out); err != nil {
			return nil, fmt.Errorf("bulk create %d ports: %w", n, err)
		}
		if len(out.Ports) != n {
			return nil, fmt.Errorf("bulk create of %d ports returned %d", n, len(out.Ports))
		}
		for _, p := range out.Ports {
			ids = append(ids, p.ID)
		}
	}
	rep.CreatePortMs = ms(time.Since(start))
	fmt.Fprintf(o.Progress, "created %d ports bound to %s in %s\n", len(ids), host, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if err := makeTaps(b.st, host, ids); err != nil {
		return nil, err
	}
	rep.CreateTapMs = ms(time.Since(start))
	fmt.Fprintf(o.Progress, "created %d taps in %s in %s\n", len(ids), sandbox.NodeNS(b.st.Prefix, host), time.Since(start).Round(time.Millisecond))

	if rep.Cold, err = b.syncRun(ctx, host, nets, len(ids), false); err != nil {
		return nil, fmt.Errorf("cold start: %w", err)
	}
	fmt.Fprintf(o.Progress, "cold: initial apply %.1f ms (%d changes), all ACTIVE %.1f ms\n", rep.Cold.InitialApplyMs, rep.Cold.Changes, rep.Cold.AllActiveMs)
	if err := b.st.StopAgent(host, syscall.SIGTERM); err != nil {
		return nil, err
	}
	if rep.Warm, err = b.syncRun(ctx, host, nets, len(ids), true); err != nil {
		return nil, fmt.Errorf("warm restart: %w", err)
	}
	fmt.Fprintf(o.Progress, "warm: initial apply %.1f ms (%d changes), ports stayed ACTIVE: %v\n", rep.Warm.InitialApplyMs, rep.Warm.Changes, rep.Warm.StayedActive)
	return rep, nil
}

// makeTaps creates a veth pair per port: tap<id> up in host's namespace,
// the peer in the sandbox's sink namespace (removed with the sandbox).
func makeTaps(st *sandbox.State, host string, ids []string) error {
	sinkNS := sandbox.NodeNS(st.Prefix, "sink")
	if err := probe.CreateNS(sinkNS); err != nil {
		return err
	}
	sink, err := netns.GetFromPath(probe.Path(sinkNS))
	if err != nil {
		return err
	}
	defer sink.Close()
	h, err := probe.Handle(sandbox.NodeNS(st.Prefix, host))
	if err != nil {
		return err
	}
	defer h.Close()
	for i, id := range ids {
		tap := sandbox.TapName(id)
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tap, MTU: 1450}, PeerName: fmt.Sprintf("s%d", i), PeerNamespace: netlink.NsFd(int(sink))}
		if err := h.LinkAdd(v); err != nil {
			return fmt.Errorf("add veth %s: %w", tap, err)
		}
		if err := h.LinkSetUp(v); err != nil {
			return fmt.Errorf("set %s up: %w", tap, err)
		}
	}
	return nil
}

// syncRun starts host's agent and times its initial apply and, on a
// cold start, all ports ACTIVE; on a warm start it checks that all ports
// were ACTIVE before and still are after the initial apply.
func (b *benchBed) syncRun(ctx context.Context, host string, nets []*network, n int, warm bool) (SyncRun, error) {
	var r SyncRun
	allActive := func() (bool, error) {
		up := 0
		for _, nw := range nets {
			st, err := b.portStatuses(ctx, nw.ID, "compute:nova")
			if err != nil {
				return false, err
			}
			for _, s := range st {
				if s == "ACTIVE" {
					up++
				}
			}
		}
		return up == n, nil
	}
	wasActive := false
	if warm {
		var err error
		if wasActive, err = allActive(); err != nil {
			return r, err
		}
	}
	logPath := b.st.AgentLog(host)
	t0 := time.Now()
	if _, err := b.st.StartAgent(host); err != nil {
		return r, err
	}
	deadline := t0.Add(5 * time.Minute)
	applied, active := false, warm
	nextStatus := t0
	for !applied || !active {
		now := time.Now()
		if now.After(deadline) {
			return r, fmt.Errorf("after 5 minutes: initial apply logged %v, all ports ACTIVE %v (see %s)", applied, active, logPath)
		}
		if !applied {
			if l, err := probe.InitialApply(logPath, host); err == nil {
				applied = true
				at := l.Time
				if at.IsZero() {
					at = now
				}
				r.InitialApplyMs = ms(at.Sub(t0))
				r.Changes, _ = l.Int("changes")
				if l.Fields["ok"] != "true" {
					return r, fmt.Errorf("initial apply failed: %s", l.Raw)
				}
			}
		}
		if !active && !now.Before(nextStatus) {
			nextStatus = now.Add(50 * time.Millisecond)
			if ok, err := allActive(); err == nil && ok {
				active = true
				r.AllActiveMs = ms(time.Since(t0))
			}
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if warm {
		ok, err := allActive()
		if err != nil {
			return r, err
		}
		r.StayedActive = wasActive && ok
	}
	return r, nil
}

// WriteTable prints the report.
func (r *AgentSyncReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "%s\n\n", r.Definition)
	fmt.Fprintf(w, "setup: %d ports created in %.0f ms, %d taps in %.0f ms\n\n", r.Ports, r.CreatePortMs, r.Ports, r.CreateTapMs)
	fmt.Fprintf(w, "%-6s %8s %20s %16s %10s\n", "start", "ports", "initial apply (ms)", "all ACTIVE (ms)", "changes")
	fmt.Fprintf(w, "%-6s %8d %20.1f %16.1f %10d\n", "cold", r.Ports, r.Cold.InitialApplyMs, r.Cold.AllActiveMs, r.Cold.Changes)
	stayed := "stayed"
	if !r.Warm.StayedActive {
		stayed = "NOT KEPT"
	}
	fmt.Fprintf(w, "%-6s %8d %20.1f %16s %10d\n", "warm", r.Ports, r.Warm.InitialApplyMs, stayed, r.Warm.Changes)
}

// WriteJSON prints the report as JSON.
func (r *AgentSyncReport) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}
