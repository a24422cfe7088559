package sgview

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/agent/plan/secgroup"
	"github.com/neutrino-net/neutrino/internal/desired"
	"github.com/neutrino-net/neutrino/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func ptr[T any](v T) *T { return &v }

// host: compute1 with vm1 (default), vm2 (web and default, an allowed
// address pair), vm3 (port security off), the network's DHCP port; vm5
// on compute2 is a remote member of default.
func host() (*hostmodel.Snapshot, desired.Host) {
	s := hostmodel.NewSnapshot("compute1")
	s.SGs["sg-default"] = &model.SecurityGroup{Standard: model.Standard{ID: "sg-default"}, Name: "default", Stateful: true}
	s.SGs["sg-web"] = &model.SecurityGroup{Standard: model.Standard{ID: "sg-web"}, Name: "web", Stateful: true}
	rule := func(id, group, dir string, proto *string, lo, hi *int, prefix, remote *string) {
		s.SGRules[id] = &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: group, Direction: dir, EtherType: "IPv4",
			Protocol: proto, PortRangeMin: lo, PortRangeMax: hi, RemoteIPPrefix: prefix, RemoteGroupID: remote}
	}
	rule("d1", "sg-default", "egress", nil, nil, nil, nil, nil)
	rule("d2", "sg-default", "ingress", nil, nil, nil, nil, ptr("sg-default"))
	rule("w1", "sg-web", "ingress", ptr("tcp"), ptr(22), ptr(22), ptr("0.0.0.0/0"), nil)
	rule("w2", "sg-web", "ingress", ptr("icmp"), nil, nil, ptr("0.0.0.0/0"), nil)
	port := func(id, name, host, mac, ip string, groups ...string) *model.Port {
		p := &model.Port{Standard: model.Standard{ID: id}, Name: name, NetworkID: "n1", HostID: host, MACAddress: mac, DeviceOwner: "compute:nova",
			FixedIPs: []model.FixedIP{{SubnetID: "s1", IPAddress: ip}}, AdminStateUp: true, PortSecurityEnabled: true, SecurityGroups: groups}
		s.Ports[id] = p
		return p
	}
	port("p1", "vm1", "compute1", "fa:16:3e:00:00:01", "10.0.0.11", "sg-default")
	port("p2", "vm2", "compute1", "fa:16:3e:00:00:02", "10.0.0.12", "sg-web", "sg-default").AllowedAddressPairs =
		[]model.AddressPair{{IPAddress: "10.0.0.100"}}
	port("p3", "vm3", "compute1", "fa:16:3e:00:00:03", "10.0.0.13").PortSecurityEnabled = false
	port("p5", "vm5", "compute2", "fa:16:3e:00:00:05", "10.0.0.15", "sg-default")
	s.Ports["dhcp"] = &model.Port{Standard: model.Standard{ID: "dhcp"}, NetworkID: "n1", HostID: "compute1", DeviceOwner: model.OwnerDHCP,
		MACAddress: "fa:16:3e:00:00:fe", FixedIPs: []model.FixedIP{{IPAddress: "10.0.0.2"}}, PortSecurityEnabled: true}
	var h desired.Host
	var ports []secgroup.Port
	for _, id := range []string{"p1", "p2", "p3", "dhcp"} {
		bp := desired.BridgePort{Name: names.Tap(id), Bridge: names.Bridge("n1"), PortID: id}
		h.BridgePorts = append(h.BridgePorts, bp)
		ports = append(ports, secgroup.Port{ID: id, Tap: bp.Name, Bridge: bp.Bridge})
	}
	h.Nft = secgroup.Plan(s, ports, []string{names.Bridge("n1")}).Tables
	h.Normalize()
	return s, h
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestRenderHost(t *testing.T) {
	s, h := host()
	golden(t, "host.golden", Render(s, &h))
}

// Security groups off on the host: no tables, every port says why.
func TestRenderGroupsOff(t *testing.T) {
	s, h := host()
	h.Nft = nil
	golden(t, "off.golden", Render(s, &h))
}
