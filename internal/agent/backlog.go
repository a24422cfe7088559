package agent

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/desired"
)

// A broadcast a bridge floods (an ARP request, a gratuitous ARP) becomes
// one frame per port at once on the sending CPU's backlog queue, which
// holds net.core.netdev_max_backlog frames: past that the kernel drops
// the rest of the copies and whatever else arrives meanwhile. The bridge
// floods from its newest port to its oldest, so the copy dropped first
// is the uplink's, the one the upstream router needs (a network node's
// external bridge: a port per router; docs/deploy.md, "A network
// node with many routers"). The agent does not set the key: it is
// machine-wide, exists only in the initial network namespace, and is
// the operator's (sysctl.conf), as upstream's agents leave it.
const backlogPath = "/proc/sys/net/core/netdev_max_backlog"

// bridgePorts counts the ports of each bridge in the plan: tunnels,
// VLAN sub-interfaces, existing interfaces and the host ends of the
// namespaces' veth pairs.
func bridgePorts(h *desired.Host) map[string]int {
	n := map[string]int{}
	add := func(br string) {
		if br != "" {
			n[br]++
		}
	}
	for _, v := range h.VXLANs {
		add(v.Bridge)
	}
	for _, v := range h.VLANs {
		add(v.Bridge)
	}
	for _, g := range h.GRETaps {
		add(g.Bridge)
	}
	for _, p := range h.BridgePorts {
		add(p.Bridge)
	}
	for i := range h.Namespaces {
		for _, v := range h.Namespaces[i].Veths {
			if v.PeerNamespace == "" {
				add(v.Bridge)
			}
		}
	}
	return n
}

// widestBridge is the bridge with the most ports (ties: the first by
// name, so that the warning names a stable one).
func widestBridge(ports map[string]int) (name string, n int) {
	for br, c := range ports {
		if c > n || (c == n && br < name) {
			name, n = br, c
		}
	}
	return name, n
}

// backlogShort: the rule of thumb, a backlog of at least twice the
// widest bridge's ports (room for one flood and the traffic queued
// meanwhile); backlog 0 = unknown (the key cannot be read), never short.
func backlogShort(ports, backlog int) bool {
	return backlog > 0 && 2*ports > backlog
}

// readBacklog is the host's backlog, 0 where the agent cannot see it (a
// network namespace other than the initial one).
func readBacklog() int {
	b, err := os.ReadFile(backlogPath)
	if err != nil {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return v
}

// backlogSample is the last reading of the backlog: re-read when the
// widest bridge changed or a minute later (an operator's new value),
// not on every reconcile (a /proc/sys lookup walks the namespaces).
type backlogSample struct {
	ports, value int
	at           time.Time
}

// checkBacklog sets the widest bridge gauge and warns once each time
// the widest bridge outgrows the backlog (again after it fitted).
func (a *Agent) checkBacklog(want *desired.Host) {
	br, n := widestBridge(bridgePorts(want))
	a.metrics.bridgePorts.Set(float64(n))
	if r := &a.backlogRead; r.at.IsZero() || r.ports != n || time.Since(r.at) > time.Minute {
		*r = backlogSample{ports: n, value: readBacklog(), at: time.Now()}
	}
	backlog := a.backlogRead.value
	a.metrics.backlog.Set(float64(backlog))
	short := backlogShort(n, backlog)
	if short && !a.backlogWarned {
		a.log.Warn("a bridge has more than half as many ports as net.core.netdev_max_backlog: a flooded broadcast (ARP) can be dropped on its way to the uplink; raise the sysctl to at least twice the ports",
			"bridge", br, "ports", n, "netdev_max_backlog", backlog)
	}
	a.backlogWarned = short
}
