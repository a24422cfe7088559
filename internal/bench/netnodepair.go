package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// The empty node beside the full one. The benchmark's first figure
// compares associations on network1 before the routers are created with
// associations on it afterwards: minutes apart, under whatever load the
// machine had then (on the shared development machine the empty node's
// p50 moved between 4 and 15 ms from run to run). network2, a second
// network node that keeps only the probe router EMPTY, gives an empty
// node at the same time: its associations alternate with network1's,
// one each per round, so both see the same load.

// emptyHost is the network node that stays empty.
const emptyHost = "network2"

// fipProbe is a router with one instance and a floating IP for it.
type fipProbe struct {
	host       string
	router     string
	inst       *sandbox.Instance
	fipID      string
	fip        netip.Addr
	associated bool
}

// FIPPair is a round of interleaved associations on both nodes.
type FIPPair struct {
	Network1 Dist    `json:"network1"`
	Network2 Dist    `json:"network2_empty"`
	Ratio    float64 `json:"ratio"` // network1 / network2 p50
}

// agentID is the id of host's agent of agentType ("L3 agent", "DHCP
// agent", ...).
func (b *benchBed) agentID(ctx context.Context, host, agentType string) (string, error) {
	var out struct {
		Agents []struct {
			ID        string `json:"id"`
			Host      string `json:"host"`
			AgentType string `json:"agent_type"`
		} `json:"agents"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "/v2.0/agents", nil, &out); err != nil {
		return "", err
	}
	for _, a := range out.Agents {
		if a.Host == host && a.AgentType == agentType {
			return a.ID, nil
		}
	}
	return "", fmt.Errorf("no %s on %s", agentType, host)
}

// setL3Admin enables or disables host's L3 agent for new routers.
func (b *benchBed) setL3Admin(ctx context.Context, host string, up bool) error {
	id, err := b.agentID(ctx, host, "L3 agent")
	if err != nil {
		return err
	}
	return b.api.Do(ctx, http.MethodPut, "/v2.0/agents/"+id, map[string]any{"agent": map[string]any{"admin_state_up": up}}, nil)
}

// routerHost is the host of the L3 agent the router is bound to.
func (b *benchBed) routerHost(ctx context.Context, router string) (string, error) {
	var out struct {
		Agents []struct {
			Host string `json:"host"`
		} `json:"agents"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "/v2.0/routers/"+router+"/l3-agents", nil, &out); err != nil {
		return "", err
	}
	if len(out.Agents) != 1 {
		return "", fmt.Errorf("router %s is on %d L3 agents, want 1", router, len(out.Agents))
	}
	return out.Agents[0].Host, nil
}

// setupEmpty makes the router EMPTY on network2 with network PE and
// instance A2 on compute1, and a floating IP for A2; then network2's L3
// agent takes no new router (the server's failover is off: EMPTY stays).
// Only network2's L3 agent is enabled while EMPTY is created, so the
// scheduler can only pick it (setup disabled it for PROBE).
func (b *netNodeBed) setupEmpty(ctx context.Context, d *dvrBed) error {
	if err := b.setL3Admin(ctx, emptyHost, true); err != nil {
		return err
	}
	if err := b.setL3Admin(ctx, sandbox.NodeNetwork1, false); err != nil {
		return err
	}
	r, err := d.router(ctx, "EMPTY", false)
	if err != nil {
		return err
	}
	if err := b.setL3Admin(ctx, sandbox.NodeNetwork1, true); err != nil {
		return err
	}
	if err := b.setL3Admin(ctx, emptyHost, false); err != nil {
		return err
	}
	for id, want := range map[string]string{r: emptyHost, b.probeRouter: sandbox.NodeNetwork1} {
		if h, err := b.routerHost(ctx, id); err != nil || h != want {
			return fmt.Errorf("router %s on %q (%v), want %s", id, h, err, want)
		}
	}
	pe, sub, err := d.subnet(ctx, "PE", "10.250.3.0/24", true)
	if err != nil {
		return err
	}
	if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+r+"/add_router_interface", map[string]any{"subnet_id": sub}, nil); err != nil {
		return fmt.Errorf("attach PE: %w", err)
	}
	a2, err := b.st.Boot(ctx, sandbox.BootOptions{Name: "A2", Network: pe, Host: "compute1"})
	if err != nil {
		return err
	}
	f, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.extSub})
	if err != nil {
		return err
	}
	b.empty = &fipProbe{host: emptyHost, router: r, inst: a2, fipID: f["id"].(string), fip: netip.MustParseAddr(f["floating_ip_address"].(string))}
	// One untimed association: A2 has its address and the path works
	// before any run counts.
	srv, err := probe.ListenTCP(a2.Netns, "0.0.0.0:7777")
	if err != nil {
		return err
	}
	defer srv.Close()
	_, err = b.fipOnce(ctx, b.empty, 0)
	return err
}

// fipOnce disassociates p's floating IP if it is associated and waits
// until the agent has removed it, waits settle, then times associate ->
// the first TCP connection from the internet to p's instance (whose
// server listens on port 7777).
func (b *netNodeBed) fipOnce(ctx context.Context, p *fipProbe, settle time.Duration) (time.Duration, error) {
	put := func(port any) error {
		return b.api.Do(ctx, http.MethodPut, "/v2.0/floatingips/"+p.fipID, map[string]any{"floatingip": map[string]any{"port_id": port}}, nil)
	}
	if p.associated {
		if err := put(nil); err != nil {
			return 0, err
		}
		routerNS := b.st.HostNS(p.host, "qrouter-"+p.router)
		if err := waitFor(ctx, 60*time.Second, func() error { return fipGoneIn(ctx, routerNS, p.fip) }); err != nil {
			return 0, err
		}
		p.associated = false
	}
	time.Sleep(settle)
	start := time.Now()
	if err := put(p.inst.PortID); err != nil {
		return 0, err
	}
	p.associated = true
	inet := sandbox.NodeNS(b.st.Prefix, sandbox.NodeInternet)
	at, err := firstConnect(ctx, inet, netip.AddrPortFrom(p.fip, 7777), time.Millisecond, 60*time.Second)
	if err != nil {
		return 0, err
	}
	return at.Sub(start), nil
}

// fipInterleaved runs o.FIPRuns rounds of one settled association on
// network1 and one on network2 (which goes first alternates) and leaves
// both floating IPs associated.
func (b *netNodeBed) fipInterleaved(ctx context.Context, what string) (FIPPair, error) {
	var r FIPPair
	full := b.probe1()
	for _, p := range []*fipProbe{full, b.empty} {
		srv, err := probe.ListenTCP(p.inst.Netns, "0.0.0.0:7777")
		if err != nil {
			return r, err
		}
		defer srv.Close()
	}
	var lat1, lat2 []time.Duration
	for i := range b.o.FIPRuns {
		order := []*fipProbe{full, b.empty}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, p := range order {
			d, err := b.fipOnce(ctx, p, fipSettle)
			if err != nil {
				return r, fmt.Errorf("%s round %d: %w", p.host, i+1, err)
			}
			if p == full {
				lat1 = append(lat1, d)
			} else {
				lat2 = append(lat2, d)
			}
		}
	}
	r.Network1, r.Network2 = distOf(lat1), distOf(lat2)
	if r.Network2.P50Ms > 0 {
		r.Ratio = r.Network1.P50Ms / r.Network2.P50Ms
	}
	b.logf("floating IP associate, interleaved (%s): network1 p50 %.1f ms, network2 (empty) p50 %.1f ms: ratio %.2f", what, r.Network1.P50Ms, r.Network2.P50Ms, r.Ratio)
	return r, nil
}

// probe1 is network1's probe (PROBE, A1 and its floating IP).
func (b *netNodeBed) probe1() *fipProbe {
	if b.full == nil {
		b.full = &fipProbe{host: sandbox.NodeNetwork1, router: b.probeRouter, inst: b.a1, fipID: b.probeFIPID, fip: b.probeFIP, associated: true}
	}
	return b.full
}
