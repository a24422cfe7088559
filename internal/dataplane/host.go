package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/neutrino-net/neutrino/internal/agent/desired"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options say what apply may do beyond adding.
type Options struct {
	// Prune allows deleting what is ours but not desired. It must stay
	// false until the agent's model has its first full view, or a
	// restarting agent would tear down live traffic.
	Prune bool
	// OwnsNamespace reports whether a namespace name is this agent's.
	OwnsNamespace func(name string) bool
}

// Result reports what an apply did.
type Result struct {
	Changes []string        // one line per kernel change
	Plugged map[string]bool // port id -> its device is in place and up

	// announcements start once the whole apply is done: a GARP sent
	// before the FDB flood entries of a just-created VXLAN device exist
	// reaches nobody beyond this host, and the next round comes only
	// GARPInterval later.
	announcements []func()
}

func (r *Result) did(format string, args ...any) {
	r.Changes = append(r.Changes, fmt.Sprintf(format, args...))
}

// Apply reconciles the host namespace (the one this process runs in) and
// the agent's namespaces to h. Failures of one object are collected and
// the rest still applied.
func Apply(h *desired.Host, opts Options) (*Result, error) {
	res := &Result{Plugged: map[string]bool{}}
	nl, err := netlink.NewHandle()
	if err != nil {
		return res, err
	}
	defer nl.Close()
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range h.Sysctls {
		keep(WriteSysctl(s.Key, s.Value))
	}
	links, err := nl.LinkList()
	if err != nil {
		return res, fmt.Errorf("list links: %w", err)
	}
	byName := map[string]netlink.Link{}
	for _, l := range links {
		byName[l.Attrs().Name] = l
	}
	// Bridges.
	for _, b := range h.Bridges {
		keep(applyBridge(nl, res, byName, b))
	}
	// VXLAN devices.
	for _, v := range h.VXLANs {
		keep(applyVXLAN(nl, res, byName, v))
	}
	// Existing interfaces into their bridges.
	for _, p := range h.BridgePorts {
		ok, err := applyBridgePort(nl, res, p)
		keep(err)
		if ok && p.PortID != "" {
			res.Plugged[p.PortID] = true
		}
	}
	// Namespaces and what is in them.
	for _, ns := range h.Namespaces {
		plugged, err := applyNamespace(nl, res, ns)
		keep(err)
		for _, id := range plugged {
			res.Plugged[id] = true
		}
	}
	// FDB and neighbour entries.
	keep(applyFDB(nl, res, h))
	keep(applyNeighs(nl, res, h))
	if opts.Prune {
		keep(prune(nl, res, h, opts))
	}
	for _, a := range res.announcements {
		go a()
	}
	res.announcements = nil
	return res, errors.Join(errs...)
}

func ignoreExist(err error) error {
	if errors.Is(err, syscall.EEXIST) {
		return nil
	}
	return err
}

func applyBridge(nl *netlink.Handle, res *Result, byName map[string]netlink.Link, b desired.Bridge) error {
	l, ok := byName[b.Name]
	if ok && l.Type() != "bridge" {
		if err := nl.LinkDel(l); err != nil {
			return fmt.Errorf("replace %s: %w", b.Name, err)
		}
		ok = false
	}
	if !ok {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.Name, MTU: b.MTU}}
		if err := ignoreExist(nl.LinkAdd(br)); err != nil {
			return fmt.Errorf("add bridge %s: %w", b.Name, err)
		}
		res.did("add bridge %s", b.Name)
		var err error
		if l, err = nl.LinkByName(b.Name); err != nil {
			return err
		}
		byName[b.Name] = l
	}
	if b.MTU > 0 && l.Attrs().MTU != b.MTU {
		if err := nl.LinkSetMTU(l, b.MTU); err != nil {
			return fmt.Errorf("mtu %s: %w", b.Name, err)
		}
		res.did("set %s mtu %d", b.Name, b.MTU)
	}
	return setUp(nl, res, l)
}

func setUp(nl *netlink.Handle, res *Result, l netlink.Link) error {
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("up %s: %w", l.Attrs().Name, err)
	}
	res.did("set %s up", l.Attrs().Name)
	return nil
}

// vxlanMatches reports whether an existing device has the attributes we
// want; some (proxy, learning, local) cannot be changed in place, so a
// mismatch means delete and recreate (KERNEL.md §6).
func vxlanMatches(l netlink.Link, v desired.VXLAN, vtepIdx int) bool {
	x, ok := l.(*netlink.Vxlan)
	if !ok {
		return false
	}
	return x.VxlanId == v.VNI && x.SrcAddr.Equal(net.IP(v.Local.AsSlice())) && !x.Learning && x.Port == 4789 && x.VtepDevIndex == vtepIdx && !x.Proxy
}

// vtepDev finds the interface holding the local tunnel address.
func vtepDev(nl *netlink.Handle, local netip.Addr) (int, error) {
	addrs, err := nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return 0, err
	}
	for _, a := range addrs {
		if a.IP.Equal(net.IP(local.AsSlice())) {
			return a.LinkIndex, nil
		}
	}
	return 0, fmt.Errorf("no interface holds local_ip %s", local)
}

func applyVXLAN(nl *netlink.Handle, res *Result, byName map[string]netlink.Link, v desired.VXLAN) error {
	idx, err := vtepDev(nl, v.Local)
	if err != nil {
		return fmt.Errorf("vxlan %s: %w", v.Name, err)
	}
	br, ok := byName[v.Bridge]
	if !ok {
		return fmt.Errorf("vxlan %s: bridge %s missing", v.Name, v.Bridge)
	}
	l, exists := byName[v.Name]
	if exists && !vxlanMatches(l, v, idx) {
		if err := nl.LinkDel(l); err != nil {
			return fmt.Errorf("replace vxlan %s: %w", v.Name, err)
		}
		res.did("delete vxlan %s (attributes differ)", v.Name)
		exists = false
	}
	if !exists {
		x := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, MTU: v.MTU}, VxlanId: v.VNI,
			SrcAddr: net.IP(v.Local.AsSlice()), VtepDevIndex: idx, Port: 4789, Learning: false}
		if err := ignoreExist(nl.LinkAdd(x)); err != nil {
			return fmt.Errorf("add vxlan %s: %w", v.Name, err)
		}
		res.did("add vxlan %s id %d local %s", v.Name, v.VNI, v.Local)
		if l, err = nl.LinkByName(v.Name); err != nil {
			return err
		}
		byName[v.Name] = l
	}
	if v.MTU > 0 && l.Attrs().MTU != v.MTU {
		if err := nl.LinkSetMTU(l, v.MTU); err != nil {
			return fmt.Errorf("mtu %s: %w", v.Name, err)
		}
		res.did("set %s mtu %d", v.Name, v.MTU)
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := nl.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("enslave %s to %s: %w", v.Name, v.Bridge, err)
		}
		res.did("set %s master %s", v.Name, v.Bridge)
	}
	pi, err := netlink.LinkGetProtinfo(l)
	if err != nil {
		return fmt.Errorf("bridge port flags of %s: %w", v.Name, err)
	}
	if pi.Learning {
		if err := nl.LinkSetLearning(l, false); err != nil {
			return fmt.Errorf("learning off on %s: %w", v.Name, err)
		}
		res.did("set %s learning off", v.Name)
	}
	if pi.NeighSuppress != v.NeighSuppress {
		if err := nl.LinkSetBrNeighSuppress(l, v.NeighSuppress); err != nil {
			return fmt.Errorf("neigh_suppress on %s: %w", v.Name, err)
		}
		res.did("set %s neigh_suppress %v", v.Name, v.NeighSuppress)
	}
	return setUp(nl, res, l)
}

// applyBridgePort puts an existing interface into its bridge; a missing
// interface is not an error (the instance is not there yet).
func applyBridgePort(nl *netlink.Handle, res *Result, p desired.BridgePort) (bool, error) {
	l, err := nl.LinkByName(p.Name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, err
	}
	br, err := nl.LinkByName(p.Bridge)
	if err != nil {
		return false, fmt.Errorf("plug %s: bridge %s: %w", p.Name, p.Bridge, err)
	}
	if p.MTU > 0 && l.Attrs().MTU != p.MTU {
		if err := nl.LinkSetMTU(l, p.MTU); err != nil {
			return false, fmt.Errorf("mtu %s: %w", p.Name, err)
		}
		res.did("set %s mtu %d", p.Name, p.MTU)
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := nl.LinkSetMaster(l, br); err != nil {
			return false, fmt.Errorf("plug %s into %s: %w", p.Name, p.Bridge, err)
		}
		res.did("set %s master %s", p.Name, p.Bridge)
	}
	if err := setUp(nl, res, l); err != nil {
		return false, err
	}
	return true, nil
}

func applyNamespace(nl *netlink.Handle, res *Result, ns desired.Namespace) ([]string, error) {
	if !NamespaceExists(ns.Name) {
		if err := CreateNamespace(ns.Name); err != nil {
			return nil, err
		}
		res.did("add netns %s", ns.Name)
	}
	inner, nsh, err := InNamespace(ns.Name)
	if err != nil {
		return nil, err
	}
	defer inner.Close()
	defer nsh.Close()
	var errs []error
	if len(ns.Sysctls) > 0 {
		errs = append(errs, RunIn(nsh, func() error {
			for _, s := range ns.Sysctls {
				if err := WriteSysctl(s.Key, s.Value); err != nil {
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
	if ns.Nft != nil {
		changes, err := ApplyNft(nsh, ns.Nft)
		errs = append(errs, err)
		for _, c := range changes {
			res.did("%s in %s", c, ns.Name)
		}
		// A floating IP that went away or moved keeps its established
		// flows' NAT bindings until their conntrack entries are deleted.
		if gone := deletedKeys(changes, "fip_dnat"); len(gone) > 0 {
			if n, err := DeleteConntrack(nsh, gone...); err != nil {
				errs = append(errs, err)
			} else if n > 0 {
				res.did("conntrack delete %d entries of %v in %s", n, gone, ns.Name)
			}
		}
	}
	var plugged []string
	var added []netip.Prefix
	// Pairs the plan no longer has (a removed router interface or
	// gateway) go first, so that their addresses and routes cannot clash
	// with a replacement's.
	errs = append(errs, pruneVeths(inner, res, ns))
	// One address dump for the namespace: the kernel dumps every address
	// whatever the link asked for, and a router's qg- holds one per
	// floating IP.
	addrs := map[int][]netlink.Addr{}
	all, err := inner.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return plugged, fmt.Errorf("addresses in %s: %w", ns.Name, err)
	}
	for _, a := range all {
		addrs[a.LinkIndex] = append(addrs[a.LinkIndex], a)
	}
	for _, v := range ns.Veths {
		ok, a, err := applyVeth(nl, inner, nsh, res, ns.Name, v, addrs)
		errs = append(errs, err)
		added = append(added, a...)
		if ok && v.PortID != "" {
			plugged = append(plugged, v.PortID)
		}
	}
	errs = append(errs, applyRoutes(inner, res, ns))
	announce(res, ns, added)
	return plugged, errors.Join(errs...)
}

// deletedKeys returns the keys of a map's elements that ApplyNft deleted
// (removed, or replaced with another value), from its change lines.
func deletedKeys(changes []string, mapName string) []netip.Addr {
	var out []netip.Addr
	prefix := "nft delete element " + mapName + " "
	for _, c := range changes {
		rest, ok := strings.CutPrefix(c, prefix)
		if !ok {
			continue
		}
		key, _, _ := strings.Cut(rest, " ")
		if a, err := netip.ParseAddr(key); err == nil {
			out = append(out, a)
		}
	}
	return out
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
			h, err := netns.GetFromName(ns.Name)
			if err != nil {
				return
			}
			defer h.Close()
			SendGARP(h, g.Dev, g.Addr, 3)
		})
	}
}

func applyVeth(nl, inner *netlink.Handle, nsh netns.NsHandle, res *Result, nsName string, v desired.Veth, addrs map[int][]netlink.Addr) (bool, []netip.Prefix, error) {
	in, err := inner.LinkByName(v.Inner)
	if err != nil {
		// Recreate the pair: a lone outer end is a leftover.
		if old, err := nl.LinkByName(v.Outer); err == nil {
			nl.LinkDel(old)
		}
		pair := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.Outer, MTU: v.MTU}, PeerName: v.Inner, PeerNamespace: netlink.NsFd(int(nsh))}
		if mac, err := net.ParseMAC(v.MAC); err == nil {
			pair.PeerHardwareAddr = mac
		}
		if err := nl.LinkAdd(pair); err != nil {
			return false, nil, fmt.Errorf("add veth %s/%s in %s: %w", v.Outer, v.Inner, nsName, err)
		}
		res.did("add veth %s in %s (outer %s)", v.Inner, nsName, v.Outer)
		if in, err = inner.LinkByName(v.Inner); err != nil {
			return false, nil, err
		}
	}
	if mac, err := net.ParseMAC(v.MAC); err == nil && in.Attrs().HardwareAddr.String() != mac.String() {
		if err := inner.LinkSetHardwareAddr(in, mac); err != nil {
			return false, nil, fmt.Errorf("mac %s: %w", v.Inner, err)
		}
		res.did("set %s address %s in %s", v.Inner, v.MAC, nsName)
	}
	if v.MTU > 0 && in.Attrs().MTU != v.MTU {
		if err := inner.LinkSetMTU(in, v.MTU); err != nil {
			return false, nil, err
		}
		res.did("set %s mtu %d in %s", v.Inner, v.MTU, nsName)
	}
	added, err := applyAddrs(inner, res, nsName, in, v.Addrs, addrs[in.Attrs().Index])
	if err != nil {
		return false, added, err
	}
	if err := setUp(inner, res, in); err != nil {
		return false, added, err
	}
	ok, err := applyBridgePort(nl, res, desired.BridgePort{Name: v.Outer, Bridge: v.Bridge, MTU: v.MTU})
	return ok, added, err
}

// applyAddrs makes the link's global addresses (have: the link's
// addresses as dumped at the start of the apply) exactly want (the new
// are added before the old are removed).
func applyAddrs(h *netlink.Handle, res *Result, nsName string, l netlink.Link, want []netip.Prefix, have []netlink.Addr) ([]netip.Prefix, error) {
	var added []netip.Prefix
	cur := map[netip.Prefix]netlink.Addr{}
	for _, a := range have {
		if a.Scope == unix.RT_SCOPE_LINK && a.IP.To4() == nil {
			continue // IPv6 link-local belongs to the kernel
		}
		p, ok := prefixOf(a.IPNet)
		if ok {
			cur[p] = a
		}
	}
	for _, p := range want {
		if _, ok := cur[p]; ok {
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if err := ignoreExist(h.AddrAdd(l, a)); err != nil {
			return added, fmt.Errorf("add %s to %s in %s: %w", p, l.Attrs().Name, nsName, err)
		}
		res.did("add address %s dev %s in %s", p, l.Attrs().Name, nsName)
		added = append(added, p)
	}
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, p := range want {
		wanted[p] = true
	}
	for p, a := range cur {
		if !wanted[p] {
			if err := h.AddrDel(l, &a); err != nil {
				return added, fmt.Errorf("delete %s from %s: %w", p, l.Attrs().Name, err)
			}
			res.did("delete address %s dev %s in %s", p, l.Attrs().Name, nsName)
		}
	}
	return added, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// applyRoutes makes the namespace's main-table routes the desired ones.
// The main table is dumped once per apply (a router namespace with
// thousands of floating IPs has as many local routes, and the kernel
// dumps every table when asked for one).
func applyRoutes(h *netlink.Handle, res *Result, ns desired.Namespace) error {
	var cur []netlink.Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return fmt.Errorf("routes in %s: %w", ns.Name, err)
		}
		cur = append(cur, rs...)
	}
	for _, r := range ns.Routes {
		l, err := h.LinkByName(r.Dev)
		if err != nil {
			return fmt.Errorf("route %s in %s: %w", r.Dst, ns.Name, err)
		}
		route := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: net.IP(r.Dst.Addr().AsSlice()), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())}}
		if r.Via.IsValid() {
			route.Gw = net.IP(r.Via.AsSlice())
		}
		if slices.ContainsFunc(cur, func(c netlink.Route) bool {
			return c.LinkIndex == route.LinkIndex && routeDst(c) == r.Dst.Masked() && (route.Gw == nil || c.Gw.Equal(route.Gw))
		}) {
			continue
		}
		if err := h.RouteReplace(route); err != nil {
			return fmt.Errorf("route %s in %s: %w", r.Dst, ns.Name, err)
		}
		res.did("route %s via %s dev %s in %s", r.Dst, r.Via, r.Dev, ns.Name)
	}
	return pruneRoutes(h, res, ns, cur)
}

// routeDst is a route's destination; the default route's is 0.0.0.0/0
// or ::/0.
func routeDst(r netlink.Route) netip.Prefix {
	if p, ok := prefixOf(r.Dst); ok {
		return p.Masked()
	}
	if r.Family == netlink.FAMILY_V6 {
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
}

// pruneRoutes deletes the main-table routes of an agent namespace (cur,
// as dumped before this apply) whose destination the plan no longer has
// (an extra route taken off a router). A desired destination is never
// pruned: RouteReplace has already made it right. Only routes of the
// protocols we install with (boot, static) are candidates: connected
// routes (proto kernel) and learned ones (ra, dhcp) stay. Multipath
// routes are never ours and are left alone.
func pruneRoutes(h *netlink.Handle, res *Result, ns desired.Namespace, cur []netlink.Route) error {
	want := map[netip.Prefix]bool{}
	for _, r := range ns.Routes {
		want[r.Dst.Masked()] = true
	}
	var errs []error
	for _, rt := range cur {
		if (rt.Protocol != unix.RTPROT_BOOT && rt.Protocol != unix.RTPROT_STATIC) || rt.Type != unix.RTN_UNICAST || len(rt.MultiPath) > 0 {
			continue
		}
		dst := routeDst(rt)
		if want[dst] {
			continue
		}
		var via netip.Addr
		if a, ok := netip.AddrFromSlice(rt.Gw); ok {
			via = a.Unmap()
		}
		dev := fmt.Sprint(rt.LinkIndex)
		if l, err := h.LinkByIndex(rt.LinkIndex); err == nil {
			dev = l.Attrs().Name
		}
		if err := h.RouteDel(&rt); err != nil {
			if !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("delete route %s in %s: %w", dst, ns.Name, err))
			}
			continue
		}
		res.did("delete route %s via %s dev %s in %s", dst, via, dev, ns.Name)
	}
	return errors.Join(errs...)
}

// unplugNamespace deletes the veth pairs of a namespace about to go.
func unplugNamespace(res *Result, name string) error {
	inner, nsh, err := InNamespace(name)
	if err != nil {
		return nil // gone already, or a leftover file that DeleteNamespace removes
	}
	defer nsh.Close()
	defer inner.Close()
	return pruneVeths(inner, res, desired.Namespace{Name: name})
}

// pruneVeths deletes the veth devices of an agent namespace that the
// plan no longer has: deleting one end removes the pair, so the outer
// end (tap…) leaves its bridge in the host namespace too.
func pruneVeths(h *netlink.Handle, res *Result, ns desired.Namespace) error {
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("links in %s: %w", ns.Name, err)
	}
	want := map[string]bool{}
	for _, v := range ns.Veths {
		want[v.Inner] = true
	}
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if l.Type() != "veth" || want[name] {
			continue
		}
		if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete %s in %s: %w", name, ns.Name, err))
			continue
		}
		res.did("delete veth %s in %s", name, ns.Name)
	}
	return errors.Join(errs...)
}

type fdbKey struct {
	dev, mac, dst string
	master        bool
}

// applyFDB makes the VXLAN devices' FDB hold exactly the desired remote
// entries: "self" entries with a destination, and "master" static ones.
func applyFDB(nl *netlink.Handle, res *Result, h *desired.Host) error {
	want := map[string]map[fdbKey]bool{}
	for _, v := range h.VXLANs {
		want[v.Name] = map[fdbKey]bool{}
	}
	for _, f := range h.FDB {
		k := fdbKey{dev: f.Dev, mac: f.MAC, master: f.Master}
		if f.Dst.IsValid() {
			k.dst = f.Dst.String()
		}
		if want[f.Dev] != nil {
			want[f.Dev][k] = true
		}
	}
	var errs []error
	for dev, keys := range want {
		l, err := nl.LinkByName(dev)
		if err != nil {
			continue // reported by applyVXLAN
		}
		entries, err := nl.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			errs = append(errs, fmt.Errorf("fdb of %s: %w", dev, err))
			continue
		}
		have := map[fdbKey]netlink.Neigh{}
		own := l.Attrs().HardwareAddr.String()
		for _, n := range entries {
			mac := n.HardwareAddr.String()
			switch {
			case n.Flags&netlink.NTF_SELF != 0 && n.IP != nil:
				have[fdbKey{dev: dev, mac: mac, dst: n.IP.String()}] = n
			case n.Flags&netlink.NTF_SELF == 0 && n.MasterIndex != 0 && n.State&netlink.NUD_NOARP != 0 && mac != own:
				// The bridge reports its static entries without NTF_MASTER.
				have[fdbKey{dev: dev, mac: mac, master: true}] = n
			}
		}
		for k := range keys {
			if _, ok := have[k]; ok {
				continue
			}
			mac, _ := net.ParseMAC(k.mac)
			n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, HardwareAddr: mac}
			var err error
			if k.master {
				n.Flags, n.State = netlink.NTF_MASTER, netlink.NUD_NOARP
				err = nl.NeighSet(n)
			} else {
				n.Flags, n.State, n.IP = netlink.NTF_SELF, netlink.NUD_PERMANENT, net.ParseIP(k.dst)
				// Several destinations per MAC (the flood list) need append.
				err = ignoreExist(nl.NeighAppend(n))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("fdb add %s dev %s dst %s: %w", k.mac, dev, k.dst, err))
				continue
			}
			res.did("fdb add %s dev %s dst %s master %v", k.mac, dev, k.dst, k.master)
		}
		for k, n := range have {
			if keys[k] {
				continue
			}
			n := n
			if err := nl.NeighDel(&n); err != nil {
				errs = append(errs, fmt.Errorf("fdb del %s dev %s: %w", k.mac, dev, err))
				continue
			}
			res.did("fdb del %s dev %s dst %s master %v", k.mac, dev, k.dst, k.master)
		}
	}
	return errors.Join(errs...)
}

// applyNeighs makes the permanent neighbour entries on our bridges
// exactly the desired ones (host namespace only).
func applyNeighs(nl *netlink.Handle, res *Result, h *desired.Host) error {
	want := map[string]map[string]string{} // dev -> ip -> mac
	for _, b := range h.Bridges {
		want[b.Name] = map[string]string{}
	}
	for _, n := range h.Neighs {
		if n.Namespace == "" && want[n.Dev] != nil {
			want[n.Dev][n.IP.String()] = n.MAC
		}
	}
	var errs []error
	for dev, ips := range want {
		l, err := nl.LinkByName(dev)
		if err != nil {
			continue
		}
		entries, err := nl.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		have := map[string]netlink.Neigh{}
		for _, n := range entries {
			if n.State&netlink.NUD_PERMANENT != 0 {
				have[n.IP.String()] = n
			}
		}
		for ip, mac := range ips {
			if n, ok := have[ip]; ok && n.HardwareAddr.String() == mac {
				continue
			}
			hw, _ := net.ParseMAC(mac)
			n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: net.ParseIP(ip), HardwareAddr: hw}
			if err := nl.NeighSet(n); err != nil {
				errs = append(errs, fmt.Errorf("neigh %s dev %s: %w", ip, dev, err))
				continue
			}
			res.did("neigh %s lladdr %s dev %s", ip, mac, dev)
		}
		for ip, n := range have {
			if _, ok := ips[ip]; !ok {
				n := n
				if err := nl.NeighDel(&n); err != nil {
					errs = append(errs, err)
					continue
				}
				res.did("neigh del %s dev %s", ip, dev)
			}
		}
	}
	return errors.Join(errs...)
}

// prune deletes what is ours and no longer desired: namespaces of this
// agent, bridges and VXLAN devices (reverse order of creation).
func prune(nl *netlink.Handle, res *Result, h *desired.Host, opts Options) error {
	var errs []error
	if opts.OwnsNamespace != nil {
		all, err := ListNamespaces()
		errs = append(errs, err)
		for _, name := range all {
			if !opts.OwnsNamespace(name) || slices.ContainsFunc(h.Namespaces, func(n desired.Namespace) bool { return n.Name == name }) {
				continue
			}
			if h, err := netns.GetFromName(name); err == nil {
				CloseNft(h) // its pooled socket would keep the namespace alive
				h.Close()
			}
			// Unplug first, as upstream does: a namespace's devices live
			// on until the kernel's cleanup of the namespace runs, which
			// waits for every reference (a listener, a socket of an
			// in-flight GARP) and is batched; meanwhile a router would
			// keep forwarding and answering for its floating IPs.
			errs = append(errs, unplugNamespace(res, name))
			if err := DeleteNamespace(name); err != nil {
				errs = append(errs, err)
				continue
			}
			res.did("delete netns %s", name)
		}
	}
	links, err := nl.LinkList()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	wantLink := map[string]bool{}
	for _, b := range h.Bridges {
		wantLink[b.Name] = true
	}
	for _, v := range h.VXLANs {
		wantLink[v.Name] = true
	}
	for _, p := range h.BridgePorts {
		wantLink[p.Name] = true
	}
	for _, ns := range h.Namespaces {
		for _, v := range ns.Veths {
			wantLink[v.Outer] = true
		}
	}
	// VXLAN devices first, then bridges.
	for _, pass := range []string{"vxlan-", "brq"} {
		for _, l := range links {
			name := l.Attrs().Name
			if !strings.HasPrefix(name, pass) || wantLink[name] {
				continue
			}
			if err := nl.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
				continue
			}
			res.did("delete link %s", name)
		}
	}
	return errors.Join(errs...)
}
