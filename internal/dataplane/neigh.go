package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

type fdbKey struct {
	dev, mac, dst string
	master        bool
}

// fdbDevices are the bridge ports whose FDB entries are the agent's:
// VXLAN devices ("self" entries towards VTEPs and "master" static ones)
// and the other ports of its bridges (instance taps, namespace veths'
// outer ends, physical interfaces), which carry only "master" static
// entries (DVR's gateway MAC pinned to the host's own qr- port). A port
// left out of the plan keeps what it has; its entries go with it.
func fdbDevices(h *desired.Host) map[string]bool {
	devs := map[string]bool{}
	for _, v := range h.VXLANs {
		devs[v.Name] = true
	}
	for _, g := range h.GRETaps {
		devs[g.Name] = true
	}
	for _, p := range h.BridgePorts {
		devs[p.Name] = true
	}
	for _, ns := range h.Namespaces {
		for _, v := range ns.Veths {
			if v.PeerNamespace == "" && v.Bridge != "" {
				devs[v.Outer] = true
			}
		}
	}
	for _, f := range h.FDB {
		devs[f.Dev] = true
	}
	return devs
}

// applyFDB makes the FDB entries of the agent's bridge ports exactly the
// desired ones: "self" entries with a destination, and "master" static
// ones. One dump of the whole bridge FDB serves every port; byName holds
// the namespace's links (listed after its bridges and ports were made).
func applyFDB(nl *netlink.Handle, res *Result, h *desired.Host, byName map[string]netlink.Link) error {
	want := map[string]map[fdbKey]bool{}
	for dev := range fdbDevices(h) {
		want[dev] = map[fdbKey]bool{}
	}
	for _, f := range h.FDB {
		k := fdbKey{dev: f.Dev, mac: f.MAC, master: f.Master}
		if f.Dst.IsValid() {
			k.dst = f.Dst.String()
		}
		want[f.Dev][k] = true
	}
	all, err := dump2(nl.NeighList, 0, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("fdb: %w", err)
	}
	byIndex := map[int][]netlink.Neigh{}
	for _, n := range all {
		byIndex[n.LinkIndex] = append(byIndex[n.LinkIndex], n)
	}
	var errs []error
	for dev, keys := range want {
		l, ok := byName[dev]
		if !ok {
			continue // reported by applyVXLAN; a tap not there yet
		}
		errs = append(errs, applyPortFDB(nl, res, l, keys, byIndex[l.Attrs().Index]))
	}
	return errors.Join(errs...)
}

// applyPortFDB makes one port's FDB entries (entries: its current ones)
// exactly keys.
func applyPortFDB(nl *netlink.Handle, res *Result, l netlink.Link, keys map[fdbKey]bool, entries []netlink.Neigh) error {
	dev := l.Attrs().Name
	have := map[fdbKey]netlink.Neigh{}
	own := l.Attrs().HardwareAddr.String()
	for _, n := range entries {
		mac := n.HardwareAddr.String()
		switch {
		case n.Flags&netlink.NTF_SELF != 0 && n.IP != nil:
			have[fdbKey{dev: dev, mac: mac, dst: n.IP.String()}] = n
		case n.Flags&netlink.NTF_SELF == 0 && n.MasterIndex != 0 && n.State&netlink.NUD_NOARP != 0 && mac != own:
			// The bridge reports its static entries without NTF_MASTER;
			// learned entries are not NOARP, the port's own MAC is
			// (permanent, "local"): both are the kernel's.
			have[fdbKey{dev: dev, mac: mac, master: true}] = n
		}
	}
	var errs []error
	for k := range keys {
		if _, ok := have[k]; ok {
			continue
		}
		mac, _ := net.ParseMAC(k.mac)
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_BRIDGE, HardwareAddr: mac}
		var err error
		if k.master {
			// Replace: a learned entry for the MAC becomes static.
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
		if err := nl.NeighDel(&n); err != nil {
			errs = append(errs, fmt.Errorf("fdb del %s dev %s: %w", k.mac, dev, err))
			continue
		}
		res.did("fdb del %s dev %s dst %s master %v", k.mac, dev, k.dst, k.master)
	}
	return errors.Join(errs...)
}

// applyNeighs makes the permanent neighbour entries on our bridges
// exactly the desired ones (host namespace only). The IPv4 entries it
// adds or changes are listed in res.NeighsSet, for announceNeighs. One
// dump of the namespace's IPv4 neighbours serves every bridge (a dump
// per bridge read every entry of the namespace once per network); byName
// holds the namespace's links.
func applyNeighs(nl *netlink.Handle, res *Result, h *desired.Host, byName map[string]netlink.Link) error {
	want := map[string]map[string]string{} // dev -> ip -> mac
	for _, b := range h.Bridges {
		want[b.Name] = map[string]string{}
	}
	for _, n := range h.Neighs {
		if n.Namespace == "" && want[n.Dev] != nil {
			want[n.Dev][n.IP.String()] = n.MAC
		}
	}
	all, err := dump2(nl.NeighList, 0, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("neighbours: %w", err)
	}
	byIndex := map[int][]netlink.Neigh{}
	for _, n := range all {
		if n.State&netlink.NUD_PERMANENT != 0 {
			byIndex[n.LinkIndex] = append(byIndex[n.LinkIndex], n)
		}
	}
	var errs []error
	for dev, ips := range want {
		l, ok := byName[dev]
		if !ok {
			continue
		}
		errs = append(errs, applyBridgeNeighs(nl, res, l, ips, byIndex[l.Attrs().Index]))
	}
	return errors.Join(errs...)
}

// applyBridgeNeighs makes one bridge's permanent entries (entries: its
// current ones) exactly ips (ip -> mac).
func applyBridgeNeighs(nl *netlink.Handle, res *Result, l netlink.Link, ips map[string]string, entries []netlink.Neigh) error {
	dev := l.Attrs().Name
	have := map[string]netlink.Neigh{}
	for _, n := range entries {
		have[n.IP.String()] = n
	}
	var errs []error
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
		if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
			res.NeighsSet = append(res.NeighsSet, desired.Neigh{Dev: dev, IP: a, MAC: mac})
		}
	}
	for ip, n := range have {
		if _, ok := ips[ip]; !ok {
			if err := nl.NeighDel(&n); err != nil {
				errs = append(errs, err)
				continue
			}
			res.did("neigh del %s dev %s", ip, dev)
		}
	}
	return errors.Join(errs...)
}

// announceNeighs queues one gratuitous ARP from the bridge on behalf of
// each entry in res.NeighsSet (sender = the entry's MAC, which
// neigh_suppress keeps off the VXLAN port). An instance may have learned
// the previous answer for that address meanwhile: a router interface
// removed and added again gets a new port and MAC behind the same
// gateway address, and an instance that asked before this host caught
// up was told the old MAC by this bridge and would keep sending to it
// until its neighbour entry expires (tens of seconds). The router's own
// gratuitous ARPs cannot correct it: neigh_suppress does not forward
// them across the tunnel.
//
// The announcements run after the apply from another goroutine, so they
// keep a handle of the namespace this apply runs in (the host's, or a
// test's), and send one entry after the other: a host's first apply can
// add thousands.
func announceNeighs(res *Result) {
	if len(res.NeighsSet) == 0 {
		return
	}
	host, err := netns.Current()
	if err != nil {
		return
	}
	set := slices.Clone(res.NeighsSet)
	res.announcements = append(res.announcements, func(netns.Handle) {
		defer host.Close()
		for _, n := range set {
			if hw, err := net.ParseMAC(n.MAC); err == nil {
				SendGARPFor(host, n.Dev, n.IP, hw, 1)
			}
		}
	})
}

// applyNamespaceNeighs makes the permanent IPv4 neighbour entries of an
// agent namespace exactly the desired ones: the namespace is the
// agent's, so every permanent entry in it is too.
func applyNamespaceNeighs(h *netlink.Handle, res *Result, nsName string, want []desired.Neigh) error {
	cur, err := dump2(h.NeighList, 0, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("neighbours in %s: %w", nsName, err)
	}
	type key struct {
		dev int
		ip  string
	}
	have := map[key]netlink.Neigh{}
	for _, n := range cur {
		if n.State&netlink.NUD_PERMANENT != 0 {
			have[key{n.LinkIndex, n.IP.String()}] = n
		}
	}
	wanted := map[key]bool{}
	var errs []error
	links := map[string]netlink.Link{} // a qr- device has hundreds of entries
	for _, w := range want {
		l, ok := links[w.Dev]
		if !ok {
			var err error
			if l, err = h.LinkByName(w.Dev); err != nil {
				errs = append(errs, fmt.Errorf("neigh %s dev %s in %s: %w", w.IP, w.Dev, nsName, err))
				continue
			}
			links[w.Dev] = l
		}
		k := key{l.Attrs().Index, w.IP.String()}
		wanted[k] = true
		if n, ok := have[k]; ok && n.HardwareAddr.String() == w.MAC {
			continue
		}
		hw, _ := net.ParseMAC(w.MAC)
		n := &netlink.Neigh{LinkIndex: k.dev, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: net.IP(w.IP.AsSlice()), HardwareAddr: hw}
		if err := h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("neigh %s dev %s in %s: %w", w.IP, w.Dev, nsName, err))
			continue
		}
		res.did("neigh %s lladdr %s dev %s in %s", w.IP, w.MAC, w.Dev, nsName)
	}
	for k, n := range have {
		if wanted[k] {
			continue
		}
		if err := h.NeighDel(&n); err != nil {
			errs = append(errs, err)
			continue
		}
		dev := fmt.Sprint(k.dev)
		if l, err := h.LinkByIndex(k.dev); err == nil {
			dev = l.Attrs().Name
		}
		res.did("neigh del %s dev %s in %s", k.ip, dev, nsName)
	}
	return errors.Join(errs...)
}
