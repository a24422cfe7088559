package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// fipDNATMap (floating IP -> fixed IP) and fipSNATMap (fixed IP ->
// floating IP) name the floating IP maps in any table of any agent
// namespace (legacy and DVR qrouter-, snat-): the floating IPs of their
// removed elements have their conntrack entries deleted.
const (
	fipDNATMap = "fip_dnat"
	fipSNATMap = "fip_snat"
)

// removedFIPs are the floating IPs whose translation an apply removed
// or changed: keys of fip_dnat, values of fip_snat (deleting by the
// fixed IP would also cut the instance's flows through default SNAT).
func removedFIPs(r *nft.Result) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, e := range r.Elements {
		var fip netip.Addr
		switch {
		case !e.Removed:
			continue
		case e.Map == fipDNATMap:
			fip = e.Key
		case e.Map == fipSNATMap:
			fip = e.Value
		}
		if fip.IsValid() && !seen[fip] {
			seen[fip] = true
			out = append(out, fip)
		}
	}
	return out
}

// applyNamespace reconciles one agent namespace: sysctls, nftables,
// veth pairs with their addresses, ip rules, routes and neighbours (in
// that order). peers are the outer ends of other namespaces' pairs that
// live here.
func applyNamespace(nl *netlink.Handle, res *Result, nr *NamespaceResult, ns desired.Namespace, peers map[string]bool, neighs []desired.Neigh) ([]string, error) {
	if !netns.Exists(ns.Name) {
		if err := netns.Create(ns.Name); err != nil {
			return nil, err
		}
		nr.Created = true
		res.did("add netns %s", ns.Name)
	} // else made by prepareNew (nr.Created says so)
	inner, nsh, err := netns.Netlink(ns.Name)
	if err != nil {
		return nil, err
	}
	defer inner.Close()
	defer nsh.Close()
	var errs []error
	// Global keys first (ip_forward before any device is up); the
	// per-device ones once the namespace's devices exist.
	global, perDev := splitSysctls(ns.Sysctls)
	_, err = applySysctls(nsh, res, ns.Name, global)
	errs = append(errs, err)
	if lo, err := inner.LinkByName("lo"); err == nil {
		errs = append(errs, setUp(inner, res, lo))
	}
	// NAT before addresses (upstream's order): a floating IP's /32 must
	// not be up on qg- before its translation exists, or the router
	// itself would answer for the instance in between.
	errs = append(errs, applyNamespaceNft(res, nr, ns, nsh))
	var plugged []string
	// Pairs the plan no longer has (a removed router interface or
	// gateway) go first, so that their addresses and routes cannot clash
	// with a replacement's.
	errs = append(errs, pruneVeths(inner, res, ns, peers))
	// One address dump for the namespace: the kernel dumps every address
	// whatever the link asked for, and a router's qg- holds one per
	// floating IP.
	addrs := map[int][]netlink.Addr{}
	all, err := dump2(inner.AddrList, nil, netlink.FAMILY_ALL)
	if err != nil {
		return plugged, errors.Join(append(errs, fmt.Errorf("addresses in %s: %w", ns.Name, err))...)
	}
	for _, a := range all {
		addrs[a.LinkIndex] = append(addrs[a.LinkIndex], a)
	}
	for _, v := range ns.Veths {
		ok, a, err := applyVeth(nl, inner, nsh, res, ns.Name, v, addrs)
		errs = append(errs, err)
		nr.Added = append(nr.Added, a...)
		if ok && v.PortID != "" {
			plugged = append(plugged, v.PortID)
		}
	}
	late, err := applySysctls(nsh, res, ns.Name, perDev)
	nr.lateSysctls = late
	errs = append(errs, err)
	errs = append(errs, applyRules(inner, res, ns), applyRoutes(inner, res, ns), applyNamespaceNeighs(inner, res, ns.Name, neighs))
	err = errors.Join(errs...)
	announce(res, ns, toAnnounce(ns, nr, err == nil))
	return plugged, err
}

// applyNamespaceNft reconciles the namespace's nftables tables and
// deletes the conntrack entries of floating IPs that went away or moved:
// established flows keep their NAT bindings until then.
func applyNamespaceNft(res *Result, nr *NamespaceResult, ns desired.Namespace, nsh netns.Handle) error {
	r, err := nft.Apply(nsh, ns.Nft)
	nr.Nft = r
	for _, c := range r.Lines {
		res.did("%s in %s", c, ns.Name)
	}
	if gone := removedFIPs(r); len(gone) > 0 {
		n, cerr := DeleteConntrack(nsh, gone...)
		nr.ConntrackDeleted = n
		if cerr != nil {
			err = errors.Join(err, cerr)
		} else if n > 0 {
			res.did("conntrack delete %d entries of %v in %s", n, gone, ns.Name)
		}
	}
	return err
}

// announced remembers, per agent namespace, the GARP entries of its
// last apply that ended without error: an entry not in it is new and is
// announced. Process memory on purpose: after a restart every entry is
// announced once more, which is harmless (the answer is the right one)
// and covers what changed while the agent was down.
var announced = struct {
	sync.Mutex
	m map[string]map[desired.GARP]bool
}{m: map[string]map[desired.GARP]bool{}}

// forgetAnnounced drops a namespace's memory (the namespace is gone).
func forgetAnnounced(name string) {
	announced.Lock()
	delete(announced.m, name)
	announced.Unlock()
}

// toAnnounce returns the namespace's GARP entries to announce: those
// new since its last clean apply (an address a DVR fip namespace answers
// for by proxy ARP is on no device, so "new in the plan" is what says it
// appeared) and those whose address this apply (re)added to its device.
// The memory is updated only after a clean apply, so that what a failed
// apply could not announce (its device missing) is announced by the
// retry.
//
// The first apply in this process of a namespace that existed (an agent
// restart) does not announce the addresses already on their devices:
// whoever added them announced them, and announcing every floating IP
// of a big node again (each GARP flooded to every router on the
// external network, three times) kept a restarted agent's CPU busy for
// seconds. What it adds, and what is on no device (proxy ARP), it
// announces.
func toAnnounce(ns desired.Namespace, nr *NamespaceResult, clean bool) []desired.GARP {
	announced.Lock()
	defer announced.Unlock()
	prev, restart := announced.m[ns.Name]
	restart = !restart && !nr.Created
	if nr.Created {
		prev = nil // deleted behind our back: everything is new
	}
	cur := make(map[desired.GARP]bool, len(ns.GARP))
	var out []desired.GARP
	for _, g := range ns.GARP {
		if cur[g] {
			continue
		}
		cur[g] = true
		added := slices.ContainsFunc(nr.Added, func(p netip.Prefix) bool { return p.Addr() == g.Addr })
		if added || !prev[g] && !(restart && onDevice(ns, g)) {
			out = append(out, g)
		}
	}
	if clean {
		announced.m[ns.Name] = cur
	}
	return out
}

// onDevice reports whether a GARP entry's address is a desired address
// of its device in the namespace.
func onDevice(ns desired.Namespace, g desired.GARP) bool {
	for _, v := range ns.Veths {
		if v.Inner == g.Dev && slices.ContainsFunc(v.Addrs, func(p netip.Prefix) bool { return p.Addr() == g.Addr }) {
			return true
		}
	}
	return false
}

// garpMu lets one gratuitous ARP out at a time. Each is flooded to
// every port of the external bridge, and its delivery into every other
// router's namespace is CPU time of the sender (about 3.5 ms per GARP on
// a node with 200 routers): after a cold start, hundreds of namespaces
// announcing at once took every core from the agent's heartbeats and
// reconciles. One at a time, the announcements take longer and leave
// the other cores alone.
//
// The bridge port flag neigh_suppress on the gateway ports cannot stop
// that flood: the bridge suppresses a gratuitous ARP only when it comes
// in through a port without the flag (br_do_proxy_suppress_arp returns
// early for a suppressed ingress port), so it would still reach every
// router and would hide the upstream's announcements from them
// (docs/performance.md, "Tried and rejected").
var garpMu sync.Mutex

// announce queues gratuitous ARPs, sent in the background once the
// apply is done, for the namespace's GARP entries that toAnnounce picks
// (gateway and floating IPs): upstream sends 3, 2 seconds apart. One
// goroutine per namespace sends round after round over all its entries,
// so that a restart that announces thousands does not open thousands of
// sockets at once.
func announce(res *Result, ns desired.Namespace, gs []desired.GARP) {
	if len(gs) == 0 {
		return
	}
	outers := outerPorts(ns, gs)
	res.announcements = append(res.announcements, func(host netns.Handle) {
		h, err := netns.Open(ns.Name)
		if err != nil {
			return
		}
		defer h.Close()
		waitPorts(host, outers)
		waitPorts(h, garpDevs(gs))
		for round := range 3 {
			if round > 0 {
				time.Sleep(GARPInterval)
			}
			for _, g := range gs {
				garpMu.Lock()
				SendGARP(h, g.Dev, g.Addr, 1)
				garpMu.Unlock()
			}
		}
	})
}
