package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

type routeKey struct {
	table int
	dst   netip.Prefix
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// applyRoutes makes the namespace's routes, in every table, the desired
// ones. All tables are dumped once per apply (a router namespace with
// thousands of floating IPs has as many local routes, and the kernel
// dumps every table when asked for one).
func applyRoutes(h *netlink.Handle, res *Result, ns desired.Namespace) error {
	var cur []netlink.Route
	all := &netlink.Route{Table: unix.RT_TABLE_UNSPEC}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := dump(func() ([]netlink.Route, error) { return h.RouteListFiltered(fam, all, netlink.RT_FILTER_TABLE) })
		if err != nil {
			return fmt.Errorf("routes in %s: %w", ns.Name, err)
		}
		cur = append(cur, rs...)
	}
	have := map[routeKey][]netlink.Route{}
	for _, c := range cur {
		k := routeKey{c.Table, routeDst(c)}
		have[k] = append(have[k], c)
	}
	// One lookup per device, not per route: a fip- namespace has a
	// route per floating IP through one fpr- device.
	index := map[string]int{}
	for _, r := range ns.Routes {
		idx, ok := index[r.Dev]
		if !ok {
			l, err := h.LinkByName(r.Dev)
			if err != nil {
				return fmt.Errorf("route %s in %s: %w", r.Dst, ns.Name, err)
			}
			idx = l.Attrs().Index
			index[r.Dev] = idx
		}
		route := &netlink.Route{LinkIndex: idx, Dst: ipNet(r.Dst.Masked()), Table: r.TableOrMain()}
		if r.Via.IsValid() {
			route.Gw = net.IP(r.Via.AsSlice())
		}
		if slices.ContainsFunc(have[routeKey{r.TableOrMain(), r.Dst.Masked()}], func(c netlink.Route) bool {
			return c.LinkIndex == route.LinkIndex && (route.Gw == nil || c.Gw.Equal(route.Gw))
		}) {
			continue
		}
		if err := h.RouteReplace(route); err != nil {
			return fmt.Errorf("route %s in %s: %w", r, ns.Name, err)
		}
		res.did("%s in %s", r, ns.Name)
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

// pruneRoutes deletes the routes of an agent namespace (cur, as dumped
// before this apply) whose table and destination the plan no longer has
// (an extra route taken off a router). A desired destination is never
// pruned: RouteReplace has already made it right. Only routes of the
// protocols we install with (boot, static) are candidates: connected
// routes (proto kernel) and learned ones (ra, dhcp) stay. Multipath
// routes are never ours and are left alone.
func pruneRoutes(h *netlink.Handle, res *Result, ns desired.Namespace, cur []netlink.Route) error {
	want := map[routeKey]bool{}
	for _, r := range ns.Routes {
		want[routeKey{r.TableOrMain(), r.Dst.Masked()}] = true
	}
	var errs []error
	for _, rt := range cur {
		if (rt.Protocol != unix.RTPROT_BOOT && rt.Protocol != unix.RTPROT_STATIC) || rt.Type != unix.RTN_UNICAST || len(rt.MultiPath) > 0 {
			continue
		}
		dst := routeDst(rt)
		if want[routeKey{rt.Table, dst}] {
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
		gone := desired.Route{Table: rt.Table, Dst: dst, Via: via, Dev: dev}
		res.did("delete %s in %s", gone, ns.Name)
	}
	return errors.Join(errs...)
}

// kernelRule reports whether an ip rule is one the kernel installs in
// every namespace (local, main, default); the others in an agent
// namespace are the agent's.
func kernelRule(r netlink.Rule) bool {
	switch r.Priority {
	case 0, 32766, 32767:
		return true
	}
	return false
}

// ruleOf is the desired form of a kernel rule (ok=false: a selector the
// agent never sets, so not one it can compare).
func ruleOf(r netlink.Rule) (desired.Rule, bool) {
	out := desired.Rule{Priority: r.Priority, Table: r.Table, IifName: r.IifName}
	if r.Src != nil {
		p, ok := prefixOf(r.Src)
		if !ok {
			return out, false
		}
		out.From = p
	}
	if r.Dst != nil {
		p, ok := prefixOf(r.Dst)
		if !ok {
			return out, false
		}
		out.To = p
	}
	return out, r.Mark == 0 && !r.Invert && r.Goto < 0
}

// applyRules makes the namespace's ip rules (IPv4) exactly the desired
// ones, leaving the kernel's own.
func applyRules(h *netlink.Handle, res *Result, ns desired.Namespace) error {
	cur, err := dump1(h.RuleList, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("rules in %s: %w", ns.Name, err)
	}
	want := map[desired.Rule]bool{}
	for _, r := range ns.Rules {
		want[r] = true
	}
	have := map[desired.Rule]bool{}
	var errs []error
	for _, kr := range cur {
		if kernelRule(kr) {
			continue
		}
		r, ok := ruleOf(kr)
		if ok && want[r] && !have[r] {
			have[r] = true
			continue
		}
		if err := h.RuleDel(&kr); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete rule %d in %s: %w", kr.Priority, ns.Name, err))
			continue
		}
		res.did("delete rule pref %d table %d in %s", kr.Priority, kr.Table, ns.Name)
	}
	for _, r := range ns.Rules {
		if have[r] {
			continue
		}
		nr := netlink.NewRule()
		nr.Family = netlink.FAMILY_V4
		nr.Priority, nr.Table, nr.IifName = r.Priority, r.Table, r.IifName
		if r.From.IsValid() {
			nr.Src = ipNet(r.From)
		}
		if r.To.IsValid() {
			nr.Dst = ipNet(r.To)
		}
		if err := h.RuleAdd(nr); err != nil {
			errs = append(errs, fmt.Errorf("%s in %s: %w", r, ns.Name, err))
			continue
		}
		res.did("%s in %s", r, ns.Name)
	}
	return errors.Join(errs...)
}
