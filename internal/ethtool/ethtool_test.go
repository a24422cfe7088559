package ethtool_test

import (
	"testing"

	"github.com/neutrino-net/neutrino/internal/ethtool"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

// TestVethGRO reads a fresh veth's features in a throwaway namespace,
// turns GRO on and off again, and checks that unknown features and
// devices are errors.
func TestVethGRO(t *testing.T) {
	ns := testutil.NewNetNS(t, "ethtool")
	h, err := netns.NetlinkAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "a0"}, PeerName: "b0"}); err != nil {
		t.Fatal(err)
	}
	c, err := ethtool.Dial(netns.Path(ns))
	if err != nil {
		t.Skipf("ethtool generic netlink: %v", err)
	}
	defer c.Close()
	f, err := c.Get("a0")
	if err != nil {
		t.Fatal(err)
	}
	// A veth keeps GSO super-packets whole, tunnelled ones included.
	for _, n := range []string{"tx-tcp-segmentation", "tx-udp_tnl-segmentation", "tx-checksum-ip-generic"} {
		if !f.Active[n] {
			t.Errorf("veth feature %s off by default; active: %v", n, f.Active)
		}
	}
	for _, on := range []bool{true, false} {
		if err := c.Set("a0", map[string]bool{"rx-gro": on}); err != nil {
			t.Fatalf("rx-gro %v: %v", on, err)
		}
		if f, err = c.Get("a0"); err != nil || f.Active["rx-gro"] != on {
			t.Fatalf("rx-gro after set %v: %v (err %v)", on, f.Active["rx-gro"], err)
		}
	}
	if err := c.Set("a0", map[string]bool{"no-such-feature": true}); err == nil {
		t.Error("set an unknown feature: no error")
	}
	if _, err := c.Get("nosuchdev0"); err == nil {
		t.Error("features of a missing device: no error")
	}
}
