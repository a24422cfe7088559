package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// The standby side of L3 HA (docs/ha.md). A standby pings the host of
// each HA router's active agent every haProbeInterval over the tunnel
// network, from the host's namespace: the active host's kernel answers,
// so neither an agent restart nor a lost server connection there looks
// like a failure. After haProbeTimeout without an answer the standby
// claims the router from the server, which grants it only when the
// active agent has been silent for l3_ha_fence_time; the granted claim
// reaches every host through its view (the binding's active agent and
// the router ports' host), and this host's next plan has the addresses.
const (
	haProbeInterval = 100 * time.Millisecond
	haProbeTimeout  = 500 * time.Millisecond
	haClaimEvery    = 200 * time.Millisecond
)

// haProbeKey is the L3 agent configuration that tells standbys where
// to probe this host (its tunnel address).
const haProbeKey = "ha_probe_address"

// haTarget is one active host this host probes as a standby.
type haTarget struct {
	addr    netip.Addr
	routers []string // HA routers active there, standby here
}

// haTargets lists, from the model, the active hosts to probe and this
// host's L3 agent id.
func (a *Agent) haTargets() (map[netip.Addr]*haTarget, string) {
	agents := map[string]*model.Agent{}
	mine := ""
	a.model.Each(model.KindAgent, func(o syncproto.Object) {
		var ag model.Agent
		if json.Unmarshal(o.Data, &ag) == nil {
			agents[ag.ID] = &ag
			if ag.Host == a.cfg.Host && ag.AgentType == model.AgentTypeL3 {
				mine = ag.ID
			}
		}
	})
	out := map[netip.Addr]*haTarget{}
	if mine == "" {
		return out, ""
	}
	// Collected first: the model's lock is held during Each, and taking
	// it again inside (Decode) deadlocks once a writer waits.
	var bindings []model.Binding
	a.model.Each(model.KindL3Binding, func(o syncproto.Object) {
		var b model.Binding
		if json.Unmarshal(o.Data, &b) == nil && b.ActiveAgentID != "" && b.ActiveAgentID != mine && slices.Contains(b.AgentIDs, mine) {
			bindings = append(bindings, b)
		}
	})
	for _, b := range bindings {
		var r model.Router
		if ok, err := a.model.Decode(model.KindRouter, b.ID, &r); !ok || err != nil || !r.HA || !r.AdminStateUp {
			continue
		}
		act := agents[b.ActiveAgentID]
		if act == nil {
			continue
		}
		s, _ := act.Configurations[haProbeKey].(string)
		addr, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		t := out[addr]
		if t == nil {
			t = &haTarget{addr: addr}
			out[addr] = t
		}
		t.routers = append(t.routers, b.ID)
	}
	return out, mine
}

// haWatch probes and claims until ctx ends.
func (a *Agent) haWatch(ctx context.Context) {
	if a.cfg.AgentMode != model.ModeLegacy && a.cfg.AgentMode != model.ModeDVRSNAT {
		return
	}
	p, err := newHAProber()
	if err != nil {
		a.log.Warn("HA probes unavailable: this host never takes over an HA router", "err", err)
		return
	}
	defer p.conn.Close()
	go p.receive()
	lastClaim := map[string]time.Time{}
	tick := time.NewTicker(haProbeInterval)
	defer tick.Stop()
	// The targets are listed again only when the model changed: listing
	// walks every object of the model under its lock and decodes every
	// router binding, ten times a second, which on a network node with
	// a thousand routers was a seventh of the agent's CPU and held off
	// the reconciles' snapshots.
	var (
		targets map[netip.Addr]*haTarget
		mine    string
		seenRev int64 = -1
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if rev := a.model.Revision(); rev != seenRev {
			targets, mine = a.haTargets()
			seenRev = rev
		}
		now := time.Now()
		p.track(targets, now)
		for addr, t := range targets {
			p.send(addr)
			last := p.last(addr)
			if now.Sub(last) < haProbeTimeout {
				continue
			}
			for _, rid := range t.routers {
				if now.Sub(lastClaim[rid]) < haClaimEvery {
					continue
				}
				lastClaim[rid] = now
				a.claim(ctx, rid, mine, addr, now.Sub(last))
			}
		}
	}
}

// claim asks the server for the router; a grant shows up in the view.
func (a *Agent) claim(ctx context.Context, rid, mine string, addr netip.Addr, silent time.Duration) {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	res, err := a.client.ClaimHA(cctx, rid, mine)
	switch {
	case err != nil:
		a.log.Warn("HA claim failed", "router", rid, "err", err)
	case res.Granted:
		a.log.Info("HA router taken over: the active host stopped answering", "router", rid, "active_host_addr", addr, "silent", silent.Round(time.Millisecond))
		a.wake()
	}
}

// haProber pings active hosts and remembers when each last answered.
type haProber struct {
	conn *icmp.PacketConn
	id   int
	seq  int
	mu   sync.Mutex
	seen map[netip.Addr]time.Time // last reply, or when the target appeared
}

func newHAProber() (*haProber, error) {
	c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, err
	}
	return &haProber{conn: c, id: os.Getpid() & 0xffff, seen: map[netip.Addr]time.Time{}}, nil
}

// track starts the clock of new targets (a standby that just learned
// of an active host gives it haProbeTimeout to answer) and forgets old
// ones.
func (p *haProber) track(targets map[netip.Addr]*haTarget, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr := range targets {
		if _, ok := p.seen[addr]; !ok {
			p.seen[addr] = now
		}
	}
	for addr := range p.seen {
		if targets[addr] == nil {
			delete(p.seen, addr)
		}
	}
}

func (p *haProber) last(addr netip.Addr) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[addr]
}

func (p *haProber) send(addr netip.Addr) {
	p.seq++
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: p.id, Seq: p.seq & 0xffff, Data: []byte("neutrino-ha")}}
	if b, err := msg.Marshal(nil); err == nil {
		// A send refused (no route, link down) is a missed answer.
		p.conn.WriteTo(b, &net.IPAddr{IP: addr.AsSlice()})
	}
}

// receive records echo replies of ours until the socket is closed.
func (p *haProber) receive() {
	buf := make([]byte, 1500)
	for {
		n, peer, err := p.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); !ok || e.ID != p.id {
			continue
		}
		ip, ok := peer.(*net.IPAddr)
		if !ok {
			continue
		}
		addr, ok := netip.AddrFromSlice(ip.IP)
		if !ok {
			continue
		}
		p.mu.Lock()
		if _, tracked := p.seen[addr.Unmap()]; tracked {
			p.seen[addr.Unmap()] = time.Now()
		}
		p.mu.Unlock()
	}
}
