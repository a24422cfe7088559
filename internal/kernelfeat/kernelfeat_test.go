package kernelfeat_test

import (
	"os"
	"testing"

	"github.com/neutrino-net/neutrino/internal/kernelfeat"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

// The probe answers for each feature either "made" or "missing" (never
// another failure) and leaves no device behind.
func TestProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (netlink)")
	}
	ns := testutil.NewNetNS(t, "probe")
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var f kernelfeat.Features
	netns.RunIn(h, func() error { f = kernelfeat.Probe(); return nil })
	for what, err := range map[string]error{kernelfeat.VLANName: f.VLAN, kernelfeat.GREName: f.GRE} {
		if err != nil && !kernelfeat.Missing(err) {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	links, _ := nl.LinkList()
	for _, l := range links {
		if name := l.Attrs().Name; len(name) > 3 && name[:3] == "nkp" {
			t.Errorf("probe left %s", name)
		}
	}
}
