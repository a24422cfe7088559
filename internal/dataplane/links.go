package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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

// vtepFinder finds the interface holding a local tunnel address. The
// host's addresses are dumped once per apply, on the first VXLAN device
// (one dump per device made a host apply cost networks x addresses).
type vtepFinder struct {
	nl    *netlink.Handle
	addrs []netlink.Addr
	err   error
	done  bool
}

func (f *vtepFinder) dev(local netip.Addr) (int, error) {
	if !f.done {
		f.addrs, f.err = dump2(f.nl.AddrList, nil, netlink.FAMILY_V4)
		f.done = true
	}
	if f.err != nil {
		return 0, f.err
	}
	for _, a := range f.addrs {
		if a.IP.Equal(net.IP(local.AsSlice())) {
			return a.LinkIndex, nil
		}
	}
	return 0, fmt.Errorf("no interface holds local_ip %s", local)
}

func applyVXLAN(nl *netlink.Handle, res *Result, byName map[string]netlink.Link, flags map[int]portFlags, vtep *vtepFinder, v desired.VXLAN) error {
	idx, err := vtep.dev(v.Local)
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
	var pi portFlags
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := nl.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("enslave %s to %s: %w", v.Name, v.Bridge, err)
		}
		res.did("set %s master %s", v.Name, v.Bridge)
		// A port just enslaved has the kernel's defaults: asking would
		// cost a dump of every link (LinkGetProtinfo), once per new
		// network, which made populating a network node quadratic.
		pi = newBridgePortFlags
	} else if pi, err = portFlagsOf(flags, l); err != nil {
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
// byName holds the links listed at the start of the apply, so that a
// host with thousands of ports whose instances are not there yet does
// not cost a lookup each (bridges made since are looked up); nil: look
// the port up (it was just made).
// noJoin leaves a port that is not in its bridge yet out (fail closed:
// its filter could not be applied).
func applyBridgePort(nl *netlink.Handle, res *Result, byName map[string]netlink.Link, p desired.BridgePort, noJoin bool) (bool, error) {
	l, ok := byName[p.Name]
	if byName == nil {
		var err error
		if l, err = nl.LinkByName(p.Name); err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return false, nil
			}
			return false, err
		}
	} else if !ok {
		return false, nil
	}
	br, ok := byName[p.Bridge]
	if !ok {
		var err error
		if br, err = nl.LinkByName(p.Bridge); err != nil {
			return false, fmt.Errorf("plug %s: bridge %s: %w", p.Name, p.Bridge, err)
		}
		if byName != nil {
			byName[p.Bridge] = br
		}
	}
	if p.MTU > 0 && l.Attrs().MTU != p.MTU {
		if err := nl.LinkSetMTU(l, p.MTU); err != nil {
			return false, fmt.Errorf("mtu %s: %w", p.Name, err)
		}
		res.did("set %s mtu %d", p.Name, p.MTU)
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if noJoin {
			return false, nil
		}
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

// vethEnd is where a veth pair's outer end lives: the host namespace
// (nl) or another agent namespace.
type vethEnd struct {
	h   *netlink.Handle
	ns  string // "" = host namespace
	own bool   // h was opened here and is closed by close
}

func outerEnd(nl *netlink.Handle, v desired.Veth) (*vethEnd, error) {
	if v.PeerNamespace == "" {
		return &vethEnd{h: nl}, nil
	}
	if err := netns.Create(v.PeerNamespace); err != nil {
		return nil, err
	}
	h, nsh, err := netns.Netlink(v.PeerNamespace)
	if err != nil {
		return nil, err
	}
	nsh.Close()
	return &vethEnd{h: h, ns: v.PeerNamespace, own: true}, nil
}

func (e *vethEnd) close() {
	if e.own {
		e.h.Close()
	}
}

func (e *vethEnd) where() string {
	if e.ns == "" {
		return "the host"
	}
	return e.ns
}

// applyVeth makes the pair, its inner end's MAC, MTU and addresses, and
// its outer end's place (a bridge) or addresses. It reports whether the
// port is plugged and which addresses it added.
func applyVeth(nl, inner *netlink.Handle, nsh netns.Handle, res *Result, nsName string, v desired.Veth, addrs map[int][]netlink.Addr) (bool, []netip.Prefix, error) {
	outer, err := outerEnd(nl, v)
	if err != nil {
		return false, nil, fmt.Errorf("veth %s in %s: peer netns: %w", v.Inner, nsName, err)
	}
	defer outer.close()
	in, err := inner.LinkByName(v.Inner)
	if err != nil {
		// Recreate the pair: a lone outer end is a leftover.
		if old, err := outer.h.LinkByName(v.Outer); err == nil {
			outer.h.LinkDel(old)
		}
		pair := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: v.Outer, MTU: v.MTU}, PeerName: v.Inner, PeerNamespace: netlink.NsFd(int(nsh))}
		if mac, err := net.ParseMAC(v.MAC); err == nil {
			pair.PeerHardwareAddr = mac
		}
		if err := outer.h.LinkAdd(pair); err != nil {
			return false, nil, fmt.Errorf("add veth %s/%s in %s: %w", v.Outer, v.Inner, nsName, err)
		}
		res.vethsAdded++
		if outer.ns == "" {
			res.did("add veth %s in %s (outer %s)", v.Inner, nsName, v.Outer)
		} else {
			res.did("add veth %s in %s (outer %s in %s)", v.Inner, nsName, v.Outer, outer.ns)
		}
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
	ok, err := plugOuter(outer, res, v)
	return ok, added, err
}

// plugOuter puts the outer end into its bridge, or gives it its
// addresses, and brings it up.
func plugOuter(outer *vethEnd, res *Result, v desired.Veth) (bool, error) {
	if v.Bridge != "" {
		return applyBridgePort(outer.h, res, nil, desired.BridgePort{Name: v.Outer, Bridge: v.Bridge, MTU: v.MTU}, false)
	}
	l, err := outer.h.LinkByName(v.Outer)
	if err != nil {
		return false, fmt.Errorf("veth %s in %s: %w", v.Outer, outer.where(), err)
	}
	if v.MTU > 0 && l.Attrs().MTU != v.MTU {
		if err := outer.h.LinkSetMTU(l, v.MTU); err != nil {
			return false, err
		}
		res.did("set %s mtu %d in %s", v.Outer, v.MTU, outer.where())
	}
	have, err := dump2(outer.h.AddrList, l, netlink.FAMILY_ALL)
	if err != nil {
		return false, fmt.Errorf("addresses of %s: %w", v.Outer, err)
	}
	if _, err := applyAddrs(outer.h, res, outer.where(), l, v.PeerAddrs, have); err != nil {
		return false, err
	}
	return true, setUp(outer.h, res, l)
}

// peerEnds returns, per namespace, the outer ends of other namespaces'
// veth pairs that live in it (they are not its to prune).
func peerEnds(h *desired.Host) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, ns := range h.Namespaces {
		for _, v := range ns.Veths {
			if v.PeerNamespace == "" {
				continue
			}
			if out[v.PeerNamespace] == nil {
				out[v.PeerNamespace] = map[string]bool{}
			}
			out[v.PeerNamespace][v.Outer] = true
		}
	}
	return out
}

// pairOwnersFirst orders the namespaces (indexes into nss, otherwise
// in their order; not a sorted copy, which cost every reconcile of a
// network node a millisecond) so that those with pairs whose outer end
// lives in another agent namespace (DVR's qrouter- with its rfp-/fpr-
// pair) come before the others (the fip- namespace): applying
// a pair creates the peer namespace and the outer end with its
// addresses, so the peer namespace's routes, rules and per-device
// sysctls that name that end find it on the first apply.
func pairOwnersFirst(nss []desired.Namespace) []int {
	order := make([]int, 0, len(nss))
	for _, owners := range []bool{true, false} {
		for i := range nss {
			if ownsPair(nss[i]) == owners {
				order = append(order, i)
			}
		}
	}
	return order
}

// pruneVeths deletes the veth devices of an agent namespace that the
// plan no longer has (keep: outer ends of other namespaces' pairs):
// deleting one end removes the pair, so the outer end (tap…) leaves its
// bridge in the host namespace too.
func pruneVeths(h *netlink.Handle, res *Result, ns desired.Namespace, keep map[string]bool) error {
	links, err := dump(h.LinkList)
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
		if l.Type() != "veth" || want[name] || keep[name] {
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
