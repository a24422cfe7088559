package probe

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// CTFlow is one IPv4 conntrack entry: the original tuple (as the first
// packet arrived) and the reply tuple (after NAT, as the answer must
// look).
type CTFlow struct {
	Proto                  uint8
	OrigSrc, OrigDst       netip.Addr
	OrigSport, OrigDport   uint16
	ReplySrc, ReplyDst     netip.Addr
	ReplySport, ReplyDport uint16
	Zone                   uint16
}

func (f CTFlow) String() string {
	return fmt.Sprintf("zone %d proto %d %s:%d -> %s:%d reply %s:%d -> %s:%d", f.Zone, f.Proto, f.OrigSrc, f.OrigSport, f.OrigDst, f.OrigDport,
		f.ReplySrc, f.ReplySport, f.ReplyDst, f.ReplyDport)
}

// Conntrack lists the IPv4 conntrack table of namespace ns.
func Conntrack(ns string) ([]CTFlow, error) {
	h, err := netns.GetFromPath(Path(ns))
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("conntrack netlink in %s: %w", ns, err)
	}
	defer nh.Close()
	flows, err := nh.ConntrackTableList(netlink.ConntrackTable, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("conntrack list in %s: %w", ns, err)
	}
	out := make([]CTFlow, 0, len(flows))
	for _, f := range flows {
		a := func(ip []byte) netip.Addr { x, _ := netip.AddrFromSlice(ip); return x.Unmap() }
		out = append(out, CTFlow{Proto: f.Forward.Protocol,
			OrigSrc: a(f.Forward.SrcIP), OrigDst: a(f.Forward.DstIP), OrigSport: f.Forward.SrcPort, OrigDport: f.Forward.DstPort,
			ReplySrc: a(f.Reverse.SrcIP), ReplyDst: a(f.Reverse.DstIP), ReplySport: f.Reverse.SrcPort, ReplyDport: f.Reverse.DstPort, Zone: f.Zone})
	}
	return out, nil
}
