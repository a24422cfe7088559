package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// FDBEntry is one AF_BRIDGE neighbour of a device.
type FDBEntry struct {
	MAC string
	// Dst is the remote VTEP of a VXLAN device's own entry ("self");
	// invalid for bridge ("master") entries.
	Dst    netip.Addr
	Self   bool // the device's own table (vxlan), not the bridge's
	State  int
	Master int // bridge index for bridge entries
}

func (e FDBEntry) String() string {
	if e.Self {
		return fmt.Sprintf("%s dst %s self", e.MAC, e.Dst)
	}
	return fmt.Sprintf("%s master %d state %#x", e.MAC, e.Master, e.State)
}

// FDB lists the AF_BRIDGE neighbours of dev in namespace ns, sorted.
func FDB(ns, dev string) ([]FDBEntry, error) {
	h, err := Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", dev, ns, err)
	}
	ns2, err := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("fdb of %s in %s: %w", dev, ns, err)
	}
	var out []FDBEntry
	for _, n := range ns2 {
		e := FDBEntry{MAC: n.HardwareAddr.String(), Self: n.Flags&netlink.NTF_SELF != 0, State: n.State, Master: n.MasterIndex}
		if a, ok := netip.AddrFromSlice(n.IP); ok && n.IP != nil {
			e.Dst = a.Unmap()
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// Neighbour is one IPv4 neighbour entry.
type Neighbour struct {
	IP        netip.Addr
	MAC       string
	Permanent bool
	State     int
}

// Neighbours lists the IPv4 neighbour entries of dev in namespace ns.
func Neighbours(ns, dev string) ([]Neighbour, error) {
	h, err := Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", dev, ns, err)
	}
	list, err := h.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("neighbours of %s in %s: %w", dev, ns, err)
	}
	var out []Neighbour
	for _, n := range list {
		a, _ := netip.AddrFromSlice(n.IP)
		out = append(out, Neighbour{IP: a.Unmap(), MAC: n.HardwareAddr.String(), Permanent: n.State&netlink.NUD_PERMANENT != 0, State: n.State})
	}
	return out, nil
}

// FlushNeighbour deletes the neighbour entry of ip on dev in ns (none is
// no error).
func FlushNeighbour(ns, dev string, ip netip.Addr) error {
	h, err := Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", dev, ns, err)
	}
	err = h.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, IP: ip.AsSlice()})
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("flush neighbour %s on %s in %s: %w", ip, dev, ns, err)
	}
	return nil
}

// LinkStats returns the counters of dev in namespace ns.
func LinkStats(ns, dev string) (*netlink.LinkStatistics, error) {
	h, err := Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", dev, ns, err)
	}
	if l.Attrs().Statistics == nil {
		return nil, fmt.Errorf("%s in %s: no statistics", dev, ns)
	}
	return l.Attrs().Statistics, nil
}

// Link returns dev in namespace ns; found is false if it does not exist.
func Link(ns, dev string) (link netlink.Link, found bool, err error) {
	h, err := Handle(ns)
	if err != nil {
		return nil, false, err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%s in %s: %w", dev, ns, err)
	}
	return l, true, nil
}

// Routes lists the IPv4 routes of the main table in namespace ns.
func Routes(ns string) ([]netlink.Route, error) {
	h, err := Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.RouteList(nil, netlink.FAMILY_V4)
}
