package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

// vlanGREWalkthrough is the legacy walkthrough as its text has it
// (legacy-l3-agent-and-floating-ips): EXT_NET on VLAN 1998 of the
// mapped physnet, APPS and DMZ on GRE keys 10 and 20.
func vlanGREWalkthrough(cs []change) []change {
	out := make([]change, len(cs))
	for i, c := range cs {
		out[i] = c
		n, ok := c.obj.(*model.Network)
		if !ok {
			continue
		}
		x := *n
		switch n.ID {
		case "ext-net":
			x.NetworkType, x.SegmentationID = "vlan", ptr(1998)
		case "apps-net":
			x.NetworkType, x.SegmentationID, x.MTU = "gre", ptr(10), 1458
		case "dmz-net":
			x.NetworkType, x.SegmentationID, x.MTU = "gre", ptr(20), 1458
		default:
			continue
		}
		out[i].obj = &x
	}
	return out
}

// TestVLANGREWalkthroughGolden compares each host's whole plan with its
// golden file: network1 has eth1.1998 in EXT_NET's bridge (the router's
// qg- beside it) and a GRE tap per network towards each compute, the
// computes one towards network1 (and none towards each other: they
// share no network).
func TestVLANGREWalkthroughGolden(t *testing.T) {
	m := replay(t, vlanGREWalkthrough(walkthrough()))
	for _, h := range walkHosts {
		golden(t, "vlangre-"+h.name+".golden", planText(t, m, h.name, h.mode, h.vtep))
	}
}

// TestVLANGREIncrementalEqualsFresh: the planner's per-network splicing
// keeps VLAN sub-interfaces and GRE taps as a plan from scratch has them,
// after every event of random replays.
func TestVLANGREIncrementalEqualsFresh(t *testing.T) {
	for seed := range uint64(5) {
		cs := vlanGREWalkthrough(randomReplay(seed, 11, walkthrough()))
		m := hostmodel.New()
		in := newIncremental()
		for i, c := range cs {
			apply(t, m, int64(i+1), c)
			for _, h := range walkHosts {
				got := in.plan(m, h.name)
				want, facts := Plan(m.Snapshot(h.name), hostConfig(h.name, h.mode, h.vtep))
				if w := want.String() + "# facts\n" + facts.String(); got != w {
					t.Fatalf("seed %d, event %d (%s %s), host %s: incremental plan differs:\n--- got\n%s--- want\n%s", seed, i, c.kind, c.id, h.name, got, w)
				}
			}
		}
	}
}

// TestVLANGREKernelLacks: on a host whose kernel has neither, the
// walkthrough's networks are not plugged; the router's gateway and
// interfaces fail to bind with the missing feature, and so do the
// instance and DHCP ports; no device is planned into a bridge the plan
// does not make (a namespace that could never be applied).
func TestVLANGREKernelLacks(t *testing.T) {
	m := replay(t, vlanGREWalkthrough(walkthrough()))
	for _, h := range walkHosts {
		cfg := hostConfig(h.name, h.mode, h.vtep)
		cfg.LacksVLAN, cfg.LacksGRE = true, true
		d, facts := Plan(m.Snapshot(h.name), cfg)
		want := map[string]string{
			"network1": "port dhcp-apps-net binding_failed: kernel lacks GRE support (ip_gre module)\n" +
				"port dhcp-dmz-net binding_failed: kernel lacks GRE support (ip_gre module)\n" +
				"port qg-router1 binding_failed: kernel lacks 802.1Q VLAN support (8021q module)\n" +
				"port qr-apps-net binding_failed: kernel lacks GRE support (ip_gre module)\n" +
				"port qr-dmz-net binding_failed: kernel lacks GRE support (ip_gre module)\n",
			"compute1": "port vm-apps binding_failed: kernel lacks GRE support (ip_gre module)\n",
			"compute2": "port vm-dmz binding_failed: kernel lacks GRE support (ip_gre module)\n",
		}[h.name]
		var lines []string
		for id, why := range facts.BindingFailed {
			lines = append(lines, "port "+id+" binding_failed: "+why+"\n")
		}
		slices.Sort(lines)
		got := strings.Join(lines, "")
		if got != want {
			t.Errorf("%s: binding failures\n%s\nwant\n%s", h.name, got, want)
		}
		for _, ns := range d.Namespaces {
			for _, v := range ns.Veths {
				if v.Bridge != "" && !slices.ContainsFunc(d.Bridges, func(b desired.Bridge) bool { return b.Name == v.Bridge }) {
					t.Errorf("%s: %s in %s planned into bridge %s, which the plan does not make", h.name, v.Inner, ns.Name, v.Bridge)
				}
			}
		}
	}
}
