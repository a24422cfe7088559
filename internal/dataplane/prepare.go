package dataplane

import (
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// prepareNew creates the namespaces of todo that do not exist yet (with
// the workers), then writes their global sysctls one namespace after the
// other, before the workers start making links. The kernel's handlers of
// the forwarding keys take the RTNL lock with rtnl_trylock() and restart
// the write(2) while another task holds it: written while the workers
// make veth pairs (each holding RTNL), a cold start on a network node
// spent a large share of its CPU re-entering those writes (perf:
// addrconf_sysctl_forward under proc_sys_call_handler). Failures are
// left to applyNamespace, which does the same again and reports them.
func prepareNew(nl *netlink.Handle, res *Result, todo []nsInput, workers int, stop func() bool) {
	var fresh []nsInput
	for _, in := range todo {
		if !netns.Exists(in.ns.Name) {
			fresh = append(fresh, in)
		}
	}
	if len(fresh) == 0 {
		return
	}
	made := make([]bool, len(fresh))
	idx := map[string]int{}
	for i, in := range fresh {
		idx[in.ns.Name] = i
	}
	runNamespaces(nl, fresh, workers, stop, func(_ *netlink.Handle, in nsInput) {
		made[idx[in.ns.Name]] = netns.Create(in.ns.Name) == nil
	})
	for i, in := range fresh {
		if !made[i] {
			continue
		}
		nr := res.Namespaces[in.ns.Name]
		nr.Created = true
		res.did("add netns %s", in.ns.Name)
		if stop() {
			continue
		}
		global, _ := splitSysctls(in.ns.Sysctls)
		h, err := netns.Open(in.ns.Name)
		if err != nil {
			continue
		}
		applySysctls(h, res, in.ns.Name, global)
		h.Close()
	}
}
