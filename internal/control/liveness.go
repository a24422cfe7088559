package control

import (
	"bytes"
	"strconv"
	"time"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Agent liveness (docs/ha.md, "Failure detection"). An agent is alive
// while its last heartbeat is younger than its down time: three of its
// own report intervals, at most agent_down_time. Network nodes (agents
// that may carry centralized routers) report every 0.5 s by default, so
// a dead one is noticed after 1.5 s and its non-HA routers move; a
// compute reporting every 4 s is dead after 12 s, and thousands of them
// still write few heartbeats. An agent that does not say its interval
// (an older agent) has agent_down_time alone.

// livenessReports is how many report intervals without a heartbeat make
// an agent dead.
const livenessReports = 3

// heartbeatKey holds an agent's last heartbeat: unix seconds with
// milliseconds, then "/" and the host's report interval in seconds (0:
// not said), then "/" and the revision of the host's view it last
// applied in full. Heartbeats are plain keys, not agent records, so that
// they do not bump anything a client sees and stay cheap.
func heartbeatKey(agentID string) string { return "heartbeat/" + agentID }

// heartbeat is a parsed heartbeat key.
type heartbeat struct {
	at       time.Time
	interval time.Duration // 0 = not reported
	applied  int64
}

func readHeartbeat(v *store.View, agentID string) (heartbeat, bool) {
	b, ok := v.Value(heartbeatKey(agentID))
	if !ok {
		return heartbeat{}, false
	}
	return parseHeartbeat(b)
}

// parseHeartbeat parses a heartbeat key's value without allocating:
// every agent's is parsed at each liveness scan (10,000 of them).
func parseHeartbeat(b []byte) (heartbeat, bool) {
	at, rest, more := bytes.Cut(b, []byte{'/'})
	f, err := strconv.ParseFloat(string(at), 64)
	if err != nil {
		return heartbeat{}, false
	}
	hb := heartbeat{at: time.UnixMilli(int64(f*1000 + 0.5))}
	if more {
		interval, applied, hasApplied := bytes.Cut(rest, []byte{'/'})
		if r, err := strconv.ParseFloat(string(interval), 64); err == nil && r > 0 {
			hb.interval = time.Duration(r * float64(time.Second))
		}
		if hasApplied {
			hb.applied, _ = strconv.ParseInt(string(applied), 10, 64)
		}
	}
	return hb, true
}

// LastHeartbeat returns when the agent last reported.
func LastHeartbeat(v *store.View, agentID string) (time.Time, bool) {
	hb, ok := readHeartbeat(v, agentID)
	return hb.at, ok
}

// heartbeatValue is what heartbeatKey holds for a heartbeat at now from
// a host reporting every interval seconds (0: unknown) that applied its
// view up to revision applied.
func heartbeatValue(now time.Time, interval float64, applied int64) []byte {
	s := strconv.FormatFloat(float64(now.UnixMilli())/1000, 'f', 3, 64)
	if interval > 0 || applied > 0 {
		s += "/" + strconv.FormatFloat(interval, 'f', -1, 64)
	}
	if applied > 0 {
		s += "/" + strconv.FormatInt(applied, 10)
	}
	return []byte(s)
}

// DownTime is how long an agent reporting every interval (0: unknown)
// may be silent before it counts as dead: livenessReports intervals, at
// most agentDownTime.
func DownTime(interval, agentDownTime time.Duration) time.Duration {
	if interval <= 0 {
		return agentDownTime
	}
	return min(agentDownTime, livenessReports*interval)
}

// Alive reports whether the agent heartbeated within its down time.
func (c *Control) Alive(v *store.View, agentID string) bool {
	hb, ok := readHeartbeat(v, agentID)
	return ok && c.now().Sub(hb.at) < DownTime(hb.interval, c.cfg.AgentDownTime)
}

// livenessDeadline returns the earliest moment at which an agent that
// is alive now turns dead unless it reports again (zero if none is
// alive), and the set of agents alive now: the controller wakes at the
// deadline and runs a pass only if the set changed, so a dead network
// node's routers move within its down time, not at the next periodic
// pass.
func (c *Control) livenessDeadline(v *store.View) (time.Time, map[string]bool) {
	now := c.now()
	var next time.Time
	alive := map[string]bool{}
	v.Each(model.KindAgent, func(e *store.Entry) bool {
		hb, ok := readHeartbeat(v, e.ID)
		if !ok {
			return true
		}
		end := hb.at.Add(DownTime(hb.interval, c.cfg.AgentDownTime))
		if !end.After(now) {
			return true
		}
		alive[e.ID] = true
		if next.IsZero() || end.Before(next) {
			next = end
		}
		return true
	})
	return next, alive
}

// heartbeatScan is livenessDeadline for the controller, which asks it
// at every liveness deadline (at most every livenessScanGap): with
// 10,000 agents, building each one's heartbeat key and parsing its
// heartbeat at every scan was 5 % of the server's CPU while rules
// changed. It keeps the agents' keys until an agent is created,
// changed or deleted, and each one's last heartbeat parsed, parsing
// again only a value it has not seen (a value is a new slice when
// written; holding the old one keeps its address from being reused).
type heartbeatScan struct {
	rev    int64 // the agents are those of this revision and every one since
	valid  bool
	agents []scannedAgent
}

type scannedAgent struct {
	id, key string
	raw     []byte // the value hb was parsed from
	hb      heartbeat
	ok      bool
}

// deadline is c.livenessDeadline(v).
func (hs *heartbeatScan) deadline(c *Control, v *store.View) (time.Time, map[string]bool) {
	if !hs.valid || v.ChangesSince(hs.rev).AnyOf(agentKind) {
		hs.agents = hs.agents[:0]
		v.Each(model.KindAgent, func(e *store.Entry) bool {
			hs.agents = append(hs.agents, scannedAgent{id: e.ID, key: heartbeatKey(e.ID)})
			return true
		})
		hs.valid = true
	}
	hs.rev = v.Rev()
	now := c.now()
	var next time.Time
	alive := map[string]bool{}
	for i := range hs.agents {
		a := &hs.agents[i]
		b, ok := v.Value(a.key)
		if !ok {
			a.raw, a.ok = nil, false
			continue
		}
		if len(b) == 0 || len(b) != len(a.raw) || &b[0] != &a.raw[0] {
			a.hb, a.ok = parseHeartbeat(b)
			a.raw = b
		}
		if !a.ok {
			continue
		}
		end := a.hb.at.Add(DownTime(a.hb.interval, c.cfg.AgentDownTime))
		if !end.After(now) {
			continue
		}
		alive[a.id] = true
		if next.IsZero() || end.Before(next) {
			next = end
		}
	}
	return next, alive
}
