package agent

import (
	"testing"

	"github.com/neutrino-net/neutrino/internal/desired"
)

func TestBridgePortsAndBacklog(t *testing.T) {
	h := &desired.Host{
		VXLANs:      []desired.VXLAN{{Name: "vxlan-1", Bridge: "brq1"}},
		BridgePorts: []desired.BridgePort{{Name: "eth1", Bridge: "brqext"}, {Name: "tap1", Bridge: "brq1"}},
		Namespaces: []desired.Namespace{
			{Name: "qrouter-a", Veths: []desired.Veth{{Inner: "qg-a", Outer: "tqg-a", Bridge: "brqext"}, {Inner: "qr-a", Outer: "tqr-a", Bridge: "brq1"}}},
			{Name: "qrouter-b", Veths: []desired.Veth{{Inner: "qg-b", Outer: "tqg-b", Bridge: "brqext"}}},
			// A pair between two namespaces is on no bridge.
			{Name: "fip-x", Veths: []desired.Veth{{Inner: "fpr-x", Outer: "rfp-x", PeerNamespace: "qrouter-a", Bridge: "brqext"}}},
		},
	}
	ports := bridgePorts(h)
	if ports["brqext"] != 3 || ports["brq1"] != 3 || len(ports) != 2 {
		t.Fatalf("bridgePorts = %v, want brqext 3, brq1 3", ports)
	}
	if br, n := widestBridge(ports); br != "brq1" || n != 3 {
		t.Errorf("widestBridge = %s %d, want brq1 3 (ties by name)", br, n)
	}
	for _, c := range []struct {
		ports, backlog int
		short          bool
	}{{1002, 1000, true}, {500, 1000, false}, {501, 1000, true}, {1002, 2004, false}, {5000, 0, false}} {
		if got := backlogShort(c.ports, c.backlog); got != c.short {
			t.Errorf("backlogShort(%d, %d) = %v, want %v", c.ports, c.backlog, got, c.short)
		}
	}
}
