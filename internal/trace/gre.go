package trace

import (
	"github.com/neutrino-net/neutrino/internal/desired"
)

// greTunnel sends the frame through a GRE tap: it goes to the tap's
// remote address, and the host with that address takes it on its tap of
// the same key towards this host's address, or else (no tap of its own
// towards this host) on the network's receive tap, as the kernel matches
// a GRE packet to the most specific tunnel.
func (t *walker) greTunnel(host string, g desired.GRETap) {
	if !g.Remote.IsValid() {
		t.drop(host, g.Name, "the receive tap of GRE key %d sends nothing (no remote)", g.GREKey)
		return
	}
	rh, in, ok := t.greReceiver(g)
	if !ok {
		t.drop(host, g.Name, "GRE key %d: %s is no host's tunnel address with that key", g.GREKey, g.Remote)
		return
	}
	t.hop(host, g.Name, "GRE key %d to %s (%s) in by %s, src MAC %s", g.GREKey, g.Remote, rh, in.Name, t.p.srcMAC)
	t.bridge(rh, in.Bridge, in.Name)
}

// greReceiver is the host whose GRE taps of g's key have g's remote as
// their local address, and the tap there that takes g's packets.
func (t *walker) greReceiver(g desired.GRETap) (host string, tap desired.GRETap, ok bool) {
	for _, name := range t.hostNames() {
		var any desired.GRETap
		for _, r := range t.w.Hosts[name].GRETaps {
			if r.GREKey != g.GREKey || r.Local != g.Remote {
				continue
			}
			if r.Remote == g.Local {
				return name, r, true
			}
			if !r.Remote.IsValid() {
				any = r
			}
		}
		if any.Name != "" {
			return name, any, true
		}
	}
	return "", desired.GRETap{}, false
}

// greFlood are the hosts and bridges a frame flooded on bridge br of h
// reaches over its GRE taps (head-end replication: one copy per tap with
// a remote), with the tap each copy leaves by.
func (t *walker) greFlood(h *desired.Host, br string) []floodPeer {
	var out []floodPeer
	for _, g := range h.GRETaps {
		if g.Bridge != br || !g.Remote.IsValid() {
			continue
		}
		if rh, in, ok := t.greReceiver(g); ok {
			out = append(out, floodPeer{dev: g.Name, host: rh, br: in.Bridge})
		}
	}
	return out
}
