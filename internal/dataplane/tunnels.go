package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/vishvananda/netlink"
)

// applyVLAN makes a VLAN network's 802.1Q sub-interface of its physical
// interface and puts it into the network's bridge. A device of the name
// that is a VLAN of another id or parent is replaced (neither can change
// in place); one that is not a VLAN at all is not the agent's and is
// left alone (an error).
func applyVLAN(nl *netlink.Handle, res *Result, byName map[string]netlink.Link, v desired.VLAN) error {
	parent, ok := byName[v.Parent]
	if !ok {
		return fmt.Errorf("vlan %s: physical interface %s missing", v.Name, v.Parent)
	}
	br, ok := byName[v.Bridge]
	if !ok {
		return fmt.Errorf("vlan %s: bridge %s missing", v.Name, v.Bridge)
	}
	l, exists := byName[v.Name]
	if exists {
		x, isVLAN := l.(*netlink.Vlan)
		if !isVLAN {
			return fmt.Errorf("vlan %s: a %s device has its name", v.Name, l.Type())
		}
		if x.VlanId != v.VID || x.ParentIndex != parent.Attrs().Index {
			if err := nl.LinkDel(l); err != nil {
				return fmt.Errorf("replace vlan %s: %w", v.Name, err)
			}
			res.did("delete vlan %s (id or parent differ)", v.Name)
			exists = false
		}
	}
	if !exists {
		x := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, MTU: v.MTU, ParentIndex: parent.Attrs().Index}, VlanId: v.VID}
		if err := ignoreExist(nl.LinkAdd(x)); err != nil {
			return fmt.Errorf("add vlan %s: %w", v.Name, err)
		}
		res.did("add vlan %s id %d link %s", v.Name, v.VID, v.Parent)
		var err error
		if l, err = nl.LinkByName(v.Name); err != nil {
			return err
		}
		byName[v.Name] = l
	}
	if err := mtuAndMaster(nl, res, l, v.MTU, br); err != nil {
		return err
	}
	// The sub-interface passes traffic only while its parent is up.
	if err := setUp(nl, res, parent); err != nil {
		return err
	}
	return setUp(nl, res, l)
}

// greMatches reports whether an existing device is the GRE tap wanted:
// key, local and remote cannot be changed in place.
func greMatches(l netlink.Link, g desired.GRETap) bool {
	x, ok := l.(*netlink.Gretap)
	return ok && x.IKey == uint32(g.GREKey) && x.OKey == uint32(g.GREKey) &&
		x.Local.Equal(net.IP(g.Local.AsSlice())) && sameRemote(x.Remote, g.Remote)
}

// sameRemote compares a gretap's remote with the wanted one; the kernel
// reports a receive tap's (none wanted) as absent or 0.0.0.0.
func sameRemote(have net.IP, want netip.Addr) bool {
	if !want.IsValid() {
		return have == nil || have.IsUnspecified()
	}
	return have.Equal(net.IP(want.AsSlice()))
}

// applyGRETap makes a GRE network's tunnel to one remote host: a gretap
// with the network's key both ways, in the network's bridge, with
// learning off (the plan's static FDB entries point remote MACs at it),
// isolated (the bridge never forwards between two tunnel ports: a
// flooded frame from one remote host is not sent on to the others, which
// flooded it themselves) and neigh_suppress as the ARP responder wants.
func applyGRETap(nl *netlink.Handle, res *Result, byName map[string]netlink.Link, flags map[int]portFlags, g desired.GRETap) error {
	br, ok := byName[g.Bridge]
	if !ok {
		return fmt.Errorf("gretap %s: bridge %s missing", g.Name, g.Bridge)
	}
	l, exists := byName[g.Name]
	if exists && !greMatches(l, g) {
		if err := nl.LinkDel(l); err != nil {
			return fmt.Errorf("replace gretap %s: %w", g.Name, err)
		}
		res.did("delete gretap %s (attributes differ)", g.Name)
		exists = false
	}
	if !exists {
		// PMtuDisc: DF on the outer header (ip link's default), so that
		// an underlay smaller than the network's MTU shows as an error,
		// not as fragments.
		x := &netlink.Gretap{LinkAttrs: netlink.LinkAttrs{Name: g.Name, MTU: g.MTU}, IKey: uint32(g.GREKey), OKey: uint32(g.GREKey),
			Local: net.IP(g.Local.AsSlice()), PMtuDisc: 1}
		remote := "any"
		if g.Remote.IsValid() {
			x.Remote, remote = net.IP(g.Remote.AsSlice()), g.Remote.String()
		}
		if err := ignoreExist(nl.LinkAdd(x)); err != nil {
			return fmt.Errorf("add gretap %s: %w", g.Name, err)
		}
		res.did("add gretap %s key %d local %s remote %s", g.Name, g.GREKey, g.Local, remote)
		var err error
		if l, err = nl.LinkByName(g.Name); err != nil {
			return err
		}
		byName[g.Name] = l
	}
	if err := mtuAndMaster(nl, res, l, g.MTU, br); err != nil {
		return err
	}
	pi, err := portFlagsOf(flags, l)
	if err != nil {
		return fmt.Errorf("bridge port flags of %s: %w", g.Name, err)
	}
	if pi.Learning {
		if err := nl.LinkSetLearning(l, false); err != nil {
			return fmt.Errorf("learning off on %s: %w", g.Name, err)
		}
		res.did("set %s learning off", g.Name)
	}
	if !pi.Isolated {
		if err := nl.LinkSetIsolated(l, true); err != nil {
			return fmt.Errorf("isolated on %s: %w", g.Name, err)
		}
		res.did("set %s isolated on", g.Name)
	}
	if err := setFlood(res, l, pi, g.Remote.IsValid()); err != nil {
		return err
	}
	if pi.NeighSuppress != g.NeighSuppress {
		if err := nl.LinkSetBrNeighSuppress(l, g.NeighSuppress); err != nil {
			return fmt.Errorf("neigh_suppress on %s: %w", g.Name, err)
		}
		res.did("set %s neigh_suppress %v", g.Name, g.NeighSuppress)
	}
	return setUp(nl, res, l)
}

// mtuAndMaster gives a tunnel port its MTU and puts it into its bridge.
func mtuAndMaster(nl *netlink.Handle, res *Result, l netlink.Link, mtu int, br netlink.Link) error {
	name := l.Attrs().Name
	if mtu > 0 && l.Attrs().MTU != mtu {
		if err := nl.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("mtu %s: %w", name, err)
		}
		res.did("set %s mtu %d", name, mtu)
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := nl.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("enslave %s to %s: %w", name, br.Attrs().Name, err)
		}
		res.did("set %s master %s", name, br.Attrs().Name)
	}
	return nil
}

// prunableTunnel reports whether a host link is a tunnel port of the
// agent's that prune may delete when the plan no longer has it: a GRE tap
// named by the agent, or a VLAN sub-interface enslaved to one of the
// agent's bridges (a VLAN device is named after its parent, so its name
// alone does not make it ours; one the operator made elsewhere is never
// in a brq bridge).
func prunableTunnel(l netlink.Link, bridges map[int]bool) bool {
	switch l.(type) {
	case *netlink.Gretap:
		return isGREName(l.Attrs().Name)
	case *netlink.Vlan:
		return bridges[l.Attrs().MasterIndex]
	}
	return false
}

// isGREName reports whether a name is one the agent gives its GRE taps
// ("gre-" and 11 hex digits, names.GRE).
func isGREName(name string) bool {
	return len(name) == 15 && strings.HasPrefix(name, "gre-")
}
