package sandbox

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"
)

// DemoHA runs the HA part of the DVR walkthrough (docs/ha.md) in a
// sandbox with two network nodes: demo-router is distributed and HA, its
// SNAT part is active on one network node and standby on the other;
// demo-instance1 (no floating IP) pings the internet host every 100 ms
// while the active network node loses power (`neutrino sandbox fail`);
// the demo prints the measured gap, the time until the API reports the
// other node active, then heals the node (it returns as standby) and
// prints the loss during the heal.
func (s *State) DemoHA(ctx context.Context, out io.Writer) error {
	if len(s.Hosts()) < 3 || s.Hosts()[1].Mode != ModeDVRSNAT {
		return fmt.Errorf("the HA demo needs two network nodes (neutrino sandbox up --network-nodes 2)")
	}
	d := &dvrDemo{demo: &demo{s: s, out: out}}
	var err error
	if d.c, err = s.AdminClient(ctx); err != nil {
		return err
	}
	if d.user, err = s.ClientAs(ctx, "demo"); err != nil {
		return err
	}
	d.say("== L3 HA with DVR: failover of the SNAT part between network1 and network2, in sandbox %s ==", s.Prefix)
	h := &haDemo{dvrDemo: d}
	steps := []func(context.Context) error{d.agents, d.external, d.project, d.demoNet, h.router, h.agents,
		d.instance, d.fromInstance, h.failover, h.heal}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			if d.failed == 0 {
				d.failed++
				d.say("   ✗ %v", err)
			}
			break
		}
	}
	if d.failed > 0 {
		return fmt.Errorf("%d check(s) failed", d.failed)
	}
	d.say("\nAll %d checks passed.", d.checks)
	return nil
}

type haDemo struct {
	*dvrDemo
	active, standby string
}

func (h *haDemo) router(ctx context.Context) error {
	h.step("openstack router create --distributed --ha --project demo demo-router   # as admin (ha is admin-only)")
	r, err := h.post(ctx, h.c, "/v2.0/routers", "router", map[string]any{"name": "demo-router", "tenant_id": h.demoProject,
		"distributed": true, "ha": true})
	if err != nil {
		return err
	}
	h.routerID = r["id"].(string)
	return h.wireRouter(ctx)
}

// haStates reads GET /routers/{id}/l3-agents: host → ha_state.
func (h *haDemo) haStates(ctx context.Context) (map[string]string, error) {
	var resp struct {
		Agents []struct {
			Host    string `json:"host"`
			HAState string `json:"ha_state"`
		} `json:"agents"`
	}
	if err := h.c.Do(ctx, "GET", "/v2.0/routers/"+h.routerID+"/l3-agents", nil, &resp); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, a := range resp.Agents {
		m[a.Host] = a.HAState
	}
	return m, nil
}

func (h *haDemo) agents(ctx context.Context) error {
	h.step("openstack network agent list --router demo-router --long   # as admin: HA State")
	if err := h.check(ctx, "demo-router is active on one network node, standby on the other", dvrRouterWait, func() (string, error) {
		m, err := h.haStates(ctx)
		if err != nil {
			return "", err
		}
		h.active, h.standby = "", ""
		for host, st := range m {
			switch st {
			case "active":
				h.active = host
			case "standby":
				h.standby = host
			}
		}
		if len(m) != 2 || h.active == "" || h.standby == "" {
			return "", fmt.Errorf("l3-agents: %v", m)
		}
		h.snatHost = h.active
		return fmt.Sprintf("active %s, standby %s", h.active, h.standby), nil
	}); err != nil {
		return err
	}
	for _, host := range []string{h.active, h.standby} {
		if err := h.nsCheck(ctx, host, []string{h.snat(), h.qrouter()}, nil); err != nil {
			return err
		}
	}
	return h.check(ctx, "the standby's snat- is built but holds no address of demo-router", dvrRouterWait, func() (string, error) {
		addrs, err := nsAddrs(NodeNS(h.s.Prefix, h.standby), h.snat()+AgentSuffix(h.s.Prefix, h.standby))
		if err != nil {
			return "", err
		}
		if len(addrs) > 0 {
			return "", fmt.Errorf("it holds %v", addrs)
		}
		return "", nil
	})
}

func (h *haDemo) failover(ctx context.Context) error {
	const interval = 100 * time.Millisecond
	h.step(fmt.Sprintf("ping -i 0.1 %s   # in demo-instance1, kept running", InternetIP))
	p, err := h.s.StartPingStream("demo-instance1", InternetIP, interval)
	if err != nil {
		return err
	}
	defer p.Stop()
	time.Sleep(2 * time.Second)
	h.step("neutrino sandbox fail " + h.active + "   # power loss: links down, agent gone")
	from := p.Sent()
	t0 := time.Now()
	if err := h.s.Fail(h.active); err != nil {
		return err
	}
	var apiAt time.Duration
	if err := h.check(ctx, "the API reports "+h.standby+" active", 30*time.Second, func() (string, error) {
		m, err := h.haStates(ctx)
		if err != nil || m[h.standby] != "active" {
			return "", fmt.Errorf("l3-agents %v %v", m, err)
		}
		apiAt = time.Since(t0)
		return fmt.Sprintf("after %s", apiAt.Round(10*time.Millisecond)), nil
	}); err != nil {
		return err
	}
	return h.check(ctx, "demo-instance1's pings to the internet resume through "+h.standby, 30*time.Second, func() (string, error) {
		if !p.RecentlyAnswered(10) {
			return "", fmt.Errorf("not yet")
		}
		sent, lost, gap := p.Stats(from)
		return fmt.Sprintf("measured gap %s (%d of %d requests lost)", gap, lost, sent), nil
	})
}

func (h *haDemo) heal(ctx context.Context) error {
	p, err := h.s.StartPingStream("demo-instance1", InternetIP, 100*time.Millisecond)
	if err != nil {
		return err
	}
	defer p.Stop()
	time.Sleep(time.Second)
	h.step("neutrino sandbox heal " + h.active + "   # the agent starts and applies, then the links come back")
	from := p.Sent()
	if err := h.s.Heal(ctx, h.active); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	if err := h.check(ctx, h.active+" returns as standby (no second failover)", time.Second, func() (string, error) {
		m, err := h.haStates(ctx)
		if err != nil || m[h.active] != "standby" || m[h.standby] != "active" {
			return "", fmt.Errorf("l3-agents %v %v", m, err)
		}
		return "", nil
	}); err != nil {
		return err
	}
	return h.check(ctx, "no request lost while "+h.active+" came back", time.Second, func() (string, error) {
		sent, lost, _ := p.Stats(from)
		if lost > 0 {
			return "", fmt.Errorf("%d of %d lost", lost, sent)
		}
		return fmt.Sprintf("%d of %d answered", sent, sent), nil
	})
}

// nsAddrs lists the IPv4/IPv6 global addresses inside an agent
// namespace of a host.
func nsAddrs(_, ns string) ([]string, error) {
	hd, err := handle(ns)
	if err != nil {
		return nil, err
	}
	defer hd.Close()
	as, err := hd.AddrList(nil, 0)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range as {
		if a.IP.IsLoopback() || a.IP.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, a.IPNet.String())
	}
	slices.Sort(out)
	return out, nil
}
