package bench

import (
	"fmt"
	"net"
	"sort"

	"github.com/neutrino-net/neutrino/internal/ethtool"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
)

// Underlay is what a host's tunnel interface did during the first VXLAN
// run: if its frames average far above the MTU, TCP's GSO super-packets
// crossed it whole (encapsulated once, never segmented in software), so
// the offloads lose nothing on this path and what the routed paths lose
// is per-hop CPU.
type Underlay struct {
	Host       string   `json:"host"`
	Dev        string   `json:"dev"`
	MTU        int      `json:"mtu"`
	AvgTxBytes int      `json:"avg_tx_frame_bytes"`
	Offloads   []string `json:"offloads"` // the segmentation/GRO features on
	Error      string   `json:"error,omitempty"`
}

// offloadsShown are the features that decide whether GSO survives.
var offloadsShown = []string{"tx-tcp-segmentation", "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation",
	"tx-checksum-ip-generic", "rx-gro", "rx-udp-gro-forwarding"}

// underlayDev finds host's tunnel interface (the one with its tunnel IP).
func underlayDev(st *sandbox.State, host string) (ns string, l netlink.Link, err error) {
	h, ok := st.Host(host)
	if !ok {
		return "", nil, fmt.Errorf("no host %s", host)
	}
	ns = sandbox.NodeNS(st.Prefix, host)
	nh, err := probe.Handle(ns)
	if err != nil {
		return "", nil, err
	}
	defer nh.Close()
	addrs, err := nh.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", nil, err
	}
	for _, a := range addrs {
		if a.IP.Equal(net.IP(h.TunnelIP.AsSlice())) {
			l, err = nh.LinkByIndex(a.LinkIndex)
			return ns, l, err
		}
	}
	return "", nil, fmt.Errorf("%s: no interface with %s", host, h.TunnelIP)
}

// underlayTx returns the tx counters of host's tunnel interface.
func underlayTx(st *sandbox.State, host string) (bytes, packets uint64, err error) {
	_, l, err := underlayDev(st, host)
	if err != nil {
		return 0, 0, err
	}
	s := l.Attrs().Statistics
	if s == nil {
		return 0, 0, fmt.Errorf("no statistics on %s", l.Attrs().Name)
	}
	return s.TxBytes, s.TxPackets, nil
}

// underlayReport describes host's tunnel interface, with the average tx
// frame over the counters' change since (b0, p0).
func underlayReport(st *sandbox.State, host string, b0, p0 uint64) Underlay {
	u := Underlay{Host: host}
	ns, l, err := underlayDev(st, host)
	if err != nil {
		u.Error = err.Error()
		return u
	}
	u.Dev, u.MTU = l.Attrs().Name, l.Attrs().MTU
	if s := l.Attrs().Statistics; s != nil && s.TxPackets > p0 {
		u.AvgTxBytes = int((s.TxBytes - b0) / (s.TxPackets - p0))
	}
	c, err := ethtool.Dial(netns.Path(ns))
	if err != nil {
		u.Error = err.Error()
		return u
	}
	defer c.Close()
	f, err := c.Get(u.Dev)
	if err != nil {
		u.Error = err.Error()
		return u
	}
	for _, n := range offloadsShown {
		if f.Active[n] {
			u.Offloads = append(u.Offloads, n)
		}
	}
	sort.Strings(u.Offloads)
	return u
}
