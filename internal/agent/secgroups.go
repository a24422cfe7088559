package agent

import (
	"github.com/neutrino-net/neutrino/internal/agent/plan/secgroup"
	"github.com/neutrino-net/neutrino/internal/dataplane"
	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
)

// recoverMarks hands the planner the mark index each instance tap has
// in the kernel's security group tables, before the first plan: a
// restarted agent keeps every port's index (a port whose index moved
// would need its four map elements and chains rewritten, and an index
// that a hash collision gave away would move).
func (a *Agent) recoverMarks() {
	host, err := netns.Current()
	if err != nil {
		a.log.Warn("security group marks", "err", err)
		return
	}
	defer host.Close()
	m, err := nft.MarkVerdicts(host, desired.FamilyINet, secgroup.Table, secgroup.EgressMap)
	if err != nil {
		a.log.Warn("security group marks", "err", err)
		return
	}
	a.planner.RecoverSecGroups(secgroup.MarksByTap(m))
}

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
