package dataplane

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// portFlags are the bridge port flags the agent manages on a tunnel
// port (VXLAN device, GRE tap).
type portFlags struct {
	Learning, NeighSuppress, Isolated bool
	// NoFlood: unicast, broadcast and multicast flooding are all off
	// (a GRE receive tap); any of them on reads as false.
	NoFlood bool
}

// dumpPortFlags reads every bridge port's flags, by link index, in one
// AF_BRIDGE link dump of the calling thread's namespace (the one
// netlink.LinkGetProtinfo reads). LinkGetProtinfo dumps every link of
// the namespace for each call, so asking it per VXLAN device made a
// reconcile cost networks × links: on a network node with 100 routers
// it was a quarter of the agent's steady-state reconcile CPU.
func dumpPortFlags() (map[int]portFlags, error) {
	var msgs [][]byte
	var err error
	for try := 0; try < 3; try++ {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		msgs, err = req.Execute(unix.NETLINK_ROUTE, 0)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	out := map[int]portFlags{}
	for _, m := range msgs {
		ans := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[ans.Len():])
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type != unix.IFLA_PROTINFO|unix.NLA_F_NESTED {
				continue
			}
			infos, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return nil, err
			}
			f := portFlags{NoFlood: true}
			for _, in := range infos {
				switch {
				case len(in.Value) == 0:
				case in.Attr.Type == nl.IFLA_BRPORT_LEARNING:
					f.Learning = in.Value[0] != 0
				case in.Attr.Type == nl.IFLA_BRPORT_NEIGH_SUPPRESS:
					f.NeighSuppress = in.Value[0] != 0
				case in.Attr.Type == nl.IFLA_BRPORT_ISOLATED:
					f.Isolated = in.Value[0] != 0
				case in.Attr.Type == nl.IFLA_BRPORT_UNICAST_FLOOD, in.Attr.Type == nl.IFLA_BRPORT_BCAST_FLOOD,
					in.Attr.Type == nl.IFLA_BRPORT_MCAST_FLOOD:
					f.NoFlood = f.NoFlood && in.Value[0] == 0
				}
			}
			out[int(ans.Index)] = f
		}
	}
	return out, nil
}

// newBridgePortFlags are a port's flags right after it joins a bridge
// (Linux new_nbp: learning and all flooding on, the rest off).
var newBridgePortFlags = portFlags{Learning: true}

// portFlagsOf returns l's flags from a dump taken at the start of the
// apply, or asks the kernel for a port that was not in it (made or
// enslaved since).
func portFlagsOf(dumped map[int]portFlags, l netlink.Link) (portFlags, error) {
	if f, ok := dumped[l.Attrs().Index]; ok {
		return f, nil
	}
	pi, err := netlink.LinkGetProtinfo(l)
	if err != nil {
		return portFlags{}, err
	}
	// Protinfo has no broadcast or multicast flood flags: a port not in
	// the dump counts as flooding (setFlood then sets all three).
	return portFlags{Learning: pi.Learning, NeighSuppress: pi.NeighSuppress, Isolated: pi.Isolated}, nil
}

// setFlood turns a bridge port's unicast, broadcast and multicast
// flooding on (flood) or off. Only GRE receive taps have it off, so an
// ordinary port is left alone unless its flooding is off.
func setFlood(res *Result, l netlink.Link, have portFlags, flood bool) error {
	if have.NoFlood == !flood {
		return nil
	}
	for _, attr := range []uint16{nl.IFLA_BRPORT_UNICAST_FLOOD, nl.IFLA_BRPORT_BCAST_FLOOD, nl.IFLA_BRPORT_MCAST_FLOOD} {
		if err := setBridgePortFlag(l, attr, flood); err != nil {
			return fmt.Errorf("flood %v on %s: %w", flood, l.Attrs().Name, err)
		}
	}
	res.did("set %s flood %v", l.Attrs().Name, flood)
	return nil
}

// setBridgePortFlag sets one boolean bridge port attribute (netlink has
// setters for a few of them only) in the calling thread's namespace, the
// one dumpPortFlags reads.
func setBridgePortFlag(l netlink.Link, attr uint16, on bool) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	msg.Index = int32(l.Attrs().Index)
	req.AddData(msg)
	v := byte(0)
	if on {
		v = 1
	}
	pi := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
	pi.AddRtAttr(int(attr), []byte{v})
	req.AddData(pi)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
