package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// backlogKey is the kernel's per-CPU input queue length. It exists only
// in the initial network namespace (the sandbox's agents cannot see it),
// so the benchmark sets it the way an operator's sysctl.conf would.
var backlogKey = "/proc/sys/net/core/netdev_max_backlog"

// wantBacklog is the backlog the benchmark runs with: a broadcast on
// network1's external bridge (an ARP request, a gratuitous ARP) is
// copied to every port in one go, each copy a frame on the sending CPU's
// backlog queue, and the bridge floods from its newest port to its
// oldest, the uplink, whose copy is the first the queue drops
// (docs/performance.md, "The backlog queue"). Ports: one gateway port
// per router, the DVR fip namespace's and the uplink; twice that leaves
// room for the traffic queued meanwhile (docs/deploy.md, "A network
// node with many routers"). set < 0: leave the host as it is; set > 0:
// that value; otherwise never lowered.
func wantBacklog(set, routers, cur int) int {
	switch {
	case set < 0:
		return cur
	case set > 0:
		return set
	}
	return max(cur, 2*(routers+2))
}

// raiseBacklog sets the backlog to wantBacklog's value and returns what
// puts the old value back (it is machine-wide: other work on the host
// sees it), which does nothing if it did not change it.
func raiseBacklog(set, routers int) (old, now int, restore func() error, err error) {
	noop := func() error { return nil }
	b, err := os.ReadFile(backlogKey)
	if err != nil {
		return 0, 0, noop, fmt.Errorf("read %s: %w", backlogKey, err)
	}
	old, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, 0, noop, fmt.Errorf("read %s: %w", backlogKey, err)
	}
	now = wantBacklog(set, routers, old)
	if now == old {
		return old, now, noop, nil
	}
	if err := os.WriteFile(backlogKey, []byte(strconv.Itoa(now)), 0o644); err != nil {
		return old, old, noop, fmt.Errorf("write %s: %w", backlogKey, err)
	}
	return old, now, func() error {
		return os.WriteFile(backlogKey, []byte(strconv.Itoa(old)), 0o644)
	}, nil
}
