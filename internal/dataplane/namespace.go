package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/dataplane/nft"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
)

// fipTable and fipDNATMap name the legacy router's floating IP map,
// whose removed keys have their conntrack entries deleted.
const (
	fipTable   = "ip neutrino"
	fipDNATMap = "fip_dnat"
)

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
	}
	inner, nsh, err := netns.Netlink(ns.Name)
	if err != nil {
		return nil, err
	}
	defer inner.Close()
	defer nsh.Close()
	var errs []error
	if len(ns.Sysctls) > 0 {
		errs = append(errs, netns.RunIn(nsh, func() error {
			for _, s := range ns.Sysctls {
				if err := netns.WriteSysctl(s.Key, s.Value); err != nil {
					return err
				}
			}
			return nil
		}))
	}
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
	errs = append(errs, applyRules(inner, res, ns), applyRoutes(inner, res, ns), applyNamespaceNeighs(inner, res, ns.Name, neighs))
	announce(res, ns, nr.Added)
	return plugged, errors.Join(errs...)
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
	if gone := r.RemovedKeys(fipTable, fipDNATMap); len(gone) > 0 {
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

// announce queues gratuitous ARPs, sent in the background once the
// apply is done, for the addresses this apply added that the plan wants
// announced (gateway and floating IPs): upstream sends 3, 2 seconds
// apart.
func announce(res *Result, ns desired.Namespace, added []netip.Prefix) {
	for _, g := range ns.GARP {
		if !slices.ContainsFunc(added, func(p netip.Prefix) bool { return p.Addr() == g.Addr }) {
			continue
		}
		res.announcements = append(res.announcements, func() {
			h, err := netns.Open(ns.Name)
			if err != nil {
				return
			}
			defer h.Close()
			SendGARP(h, g.Dev, g.Addr, 3)
		})
	}
}
