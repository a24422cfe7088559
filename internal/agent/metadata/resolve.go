package metadata

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l3"
)

// GroupRouters is the Sync group of the routers' listeners.
const GroupRouters = "routers"

type candidate struct {
	inst   Instance
	subnet netip.Prefix // of the fixed IP; invalid if unknown
}

// ResolverFor returns a resolver over the snapshot's ports on the given
// networks: the caller is the port (not owned by network:*, with a
// device id) that has the caller's address among its fixed IPs. If
// several such ports share the address (overlapping subnets on different
// networks) the one whose subnet holds the local address the request
// arrived on wins; if that does not single one out, the caller is
// unknown. The index is built at the first request (snapshots do not
// change): each reconcile makes a resolver per router, and building
// them all up front cost every reconcile of a node with a thousand
// routers a pass over every port per router.
func ResolverFor(snap *hostmodel.Snapshot, networks []string) func(remote, local netip.Addr) (Instance, bool) {
	var (
		once sync.Once
		idx  map[netip.Addr][]candidate
	)
	return func(remote, local netip.Addr) (Instance, bool) {
		once.Do(func() { idx = resolverIndex(snap, networks) })
		return resolve(idx, remote, local)
	}
}

// ResolverOver is ResolverFor over whatever snapshot current returns
// at the time of each request (the index is rebuilt when it is another
// one): a listener that keeps it needs no new resolver when the view
// changes, so that the agent re-serves only the routers that changed.
func ResolverOver(current func() *hostmodel.Snapshot, networks []string) Resolver {
	var (
		mu   sync.Mutex
		snap *hostmodel.Snapshot
		idx  map[netip.Addr][]candidate
	)
	return func(remote, local netip.Addr) (Instance, bool) {
		s := current()
		mu.Lock()
		if s != snap || idx == nil {
			snap, idx = s, resolverIndex(s, networks)
		}
		i := idx
		mu.Unlock()
		return resolve(i, remote, local)
	}
}

// resolverIndex indexes the callers on networks by address.
func resolverIndex(snap *hostmodel.Snapshot, networks []string) map[netip.Addr][]candidate {
	idx := map[netip.Addr][]candidate{}
	for _, p := range snap.Ports {
		if !slices.Contains(networks, p.NetworkID) || strings.HasPrefix(p.DeviceOwner, "network:") || p.DeviceID == "" {
			continue
		}
		for _, ip := range p.FixedIPs {
			addr, err := netip.ParseAddr(ip.IPAddress)
			if err != nil {
				continue
			}
			project := p.ProjectID
			if project == "" {
				project = p.TenantID
			}
			c := candidate{inst: Instance{ID: p.DeviceID, ProjectID: project, PortID: p.ID}}
			if sub := snap.Subnets[ip.SubnetID]; sub != nil {
				if pfx, err := netip.ParsePrefix(sub.CIDR); err == nil {
					c.subnet = pfx.Masked()
				}
			}
			addr = addr.Unmap()
			idx[addr] = append(idx[addr], c)
		}
	}
	return idx
}

// resolve picks the caller of remote (see ResolverFor).
func resolve(idx map[netip.Addr][]candidate, remote, local netip.Addr) (Instance, bool) {
	cs := idx[remote.Unmap()]
	if len(cs) == 1 {
		return cs[0].inst, true
	}
	var found *Instance
	for i := range cs {
		if cs[i].subnet.IsValid() && local.IsValid() && cs[i].subnet.Contains(local.Unmap()) {
			if found != nil && *found != cs[i].inst {
				return Instance{}, false
			}
			found = &cs[i].inst
		}
	}
	if found == nil {
		return Instance{}, false
	}
	return *found, true
}

// RouterTargets returns the listeners the routers need, keyed by their
// namespace name: 0.0.0.0:<l3.MetadataPort> in each router namespace that
// has internal interfaces (routers: namespace -> the networks behind its
// qr- devices, as the plan's facts list them), resolving callers among
// the ports of those networks. Use with Sync(GroupRouters, ...).
func RouterTargets(snap *hostmodel.Snapshot, routers map[string][]string) map[string]Target {
	out := map[string]Target{}
	for ns, networks := range routers {
		if t, ok := RouterTarget(func() *hostmodel.Snapshot { return snap }, ns, networks); ok {
			out[ns] = t
		}
	}
	return out
}

// RouterTarget is the listener of one router namespace (see
// RouterTargets), resolving callers in the snapshot current returns at
// each request (ResolverOver); ok is false when it has no networks.
func RouterTarget(current func() *hostmodel.Snapshot, ns string, networks []string) (t Target, ok bool) {
	var nets []string
	for _, n := range networks {
		if !slices.Contains(nets, n) {
			nets = append(nets, n)
		}
	}
	if len(nets) == 0 {
		return Target{}, false
	}
	return Target{Namespace: ns, Listen: fmt.Sprintf("0.0.0.0:%d", l3.MetadataPort), Resolve: ResolverOver(current, nets)}, true
}
