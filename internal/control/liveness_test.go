package control

import (
	"testing"
	"time"
)

// TestDownTime: an agent is dead after three of its own report
// intervals, never later than agent_down_time; without an interval,
// agent_down_time.
func TestDownTime(t *testing.T) {
	for _, c := range []struct{ interval, downTime, want time.Duration }{
		{500 * time.Millisecond, 15 * time.Second, 1500 * time.Millisecond}, // network node, defaults
		{4 * time.Second, 15 * time.Second, 12 * time.Second},               // compute, defaults
		{30 * time.Second, 75 * time.Second, 75 * time.Second},              // upstream's defaults: bounded
		{0, 15 * time.Second, 15 * time.Second},                             // an agent that does not say
		{time.Second, 2 * time.Second, 2 * time.Second},
	} {
		if got := DownTime(c.interval, c.downTime); got != c.want {
			t.Errorf("DownTime(%s, %s) = %s, want %s", c.interval, c.downTime, got, c.want)
		}
	}
}

// TestHeartbeatValue: the stored heartbeat keeps milliseconds and the
// interval, and older values (no interval) still parse.
func TestHeartbeatValue(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_123)
	for _, c := range []struct {
		raw      string
		interval time.Duration
		applied  int64
	}{
		{string(heartbeatValue(at, 0.5, 0)), 500 * time.Millisecond, 0},
		{string(heartbeatValue(at, 0.5, 42)), 500 * time.Millisecond, 42},
		{string(heartbeatValue(at, 0, 7)), 0, 7},
		{string(heartbeatValue(at, 0, 0)), 0, 0},
		{"1800000000.123", 0, 0},
	} {
		hb, ok := parseHeartbeat([]byte(c.raw))
		if !ok || !hb.at.Equal(at) || hb.interval != c.interval || hb.applied != c.applied {
			t.Errorf("%q: got %v %s %d %v, want %v %s %d", c.raw, hb.at, hb.interval, hb.applied, ok, at, c.interval, c.applied)
		}
	}
	if got := string(heartbeatValue(at, 0.5, 42)); got != "1800000000.123/0.5/42" {
		t.Errorf("heartbeatValue = %q", got)
	}
	if _, ok := parseHeartbeat([]byte("garbage")); ok {
		t.Error("garbage parsed")
	}
}

// TestParseHeartbeatAllocs: every agent's heartbeat is parsed at each
// liveness scan; parsing allocates nothing.
func TestParseHeartbeatAllocs(t *testing.T) {
	b := heartbeatValue(time.UnixMilli(1_800_000_000_123), 0.5, 42)
	if n := testing.AllocsPerRun(100, func() { parseHeartbeat(b) }); n != 0 {
		t.Errorf("parseHeartbeat: %v allocations", n)
	}
	if hb, ok := parseHeartbeat([]byte("1800000000.123/0.5/4/2")); !ok || hb.applied != 0 || hb.interval != 500*time.Millisecond {
		t.Errorf("extra fields: %+v %v", hb, ok)
	}
}
