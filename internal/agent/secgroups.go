package agent

import (
	"github.com/neutrino-net/neutrino/internal/agent/plan/secgroup"
	"github.com/neutrino-net/neutrino/internal/dataplane"
	"github.com/neutrino-net/neutrino/internal/netns"
)

// flushConntrack deletes the host namespace's conntrack entries of the
// ports whose security group filtering lost a rule or a remote member
// (after the apply: a flow re-created before the new rules are in place
// would pass under the old ones). Failures are logged: the flows then
// live on until they end, as before this cleanup existed.
func (a *Agent) flushConntrack(fs []secgroup.Flush) {
	if len(fs) == 0 {
		return
	}
	host, err := netns.Current()
	if err != nil {
		a.log.Warn("conntrack cleanup", "err", err)
		return
	}
	defer host.Close()
	for _, f := range fs {
		n, err := dataplane.DeleteConntrackZone(host, f.Zone, f.Addrs)
		if err != nil {
			a.log.Warn("conntrack cleanup", "zone", f.Zone, "addrs", f.Addrs, "err", err)
			continue
		}
		a.log.Info("conntrack cleanup", "zone", f.Zone, "addrs", f.Addrs, "deleted", n)
	}
}
