package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/names"
	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/dataplane"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/netns"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/neutrino-net/neutrino/internal/testutil"
	"github.com/vishvananda/netlink"
)

func ptr[T any](v T) *T { return &v }

// A router whose gateway sits on a physical network this host does not
// map, and with a third interface on a GRE network on a host whose
// kernel lacks GRE: both ports fail to bind (the interface as an
// instance port would, not as a device that can never join its bridge),
// its plan applies without error (nothing to retry) and it routes
// between its two other internal subnets, packets checked both ways.
func TestUnpluggedGatewayStillRoutes(t *testing.T) {
	host := testutil.NewNetNS(t, "host")
	suffix := fmt.Sprintf("@ug%d", os.Getpid())
	t.Cleanup(func() { netns.Delete("qrouter-r1" + suffix) })
	nl, err := netns.NetlinkAt(host)
	must(t, err)
	defer nl.Close()
	must(t, nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0peer"}))
	eth0, err := nl.LinkByName("eth0")
	must(t, err)
	a, _ := netlink.ParseAddr("10.0.1.11/24")
	must(t, nl.AddrAdd(eth0, a))
	must(t, nl.LinkSetUp(eth0))

	cfg := plan.HostConfig{Host: "network1", Mode: model.ModeLegacy, LocalIP: netip.MustParseAddr("10.0.1.11"),
		PhysicalInterfaces: map[string]string{"physnet-other": "eth1"}, L2Population: true, NS: names.Namespaces{Suffix: suffix},
		LacksGRE: true}
	want, facts := plan.Plan(unpluggedSnapshot(), cfg)
	if facts.BindingFailed["gw"] != "extnet" || facts.BindingFailed["qr-c"] != l2.LacksGREReason || len(facts.BindingFailed) != 2 {
		t.Fatalf("binding failures %v", facts.BindingFailed)
	}
	var res *dataplane.Result
	must(t, netns.In(host, func() error {
		var err error
		res, err = dataplane.Apply(&want, dataplane.Options{})
		return err
	}))
	if !res.Plugged["qr-a"] || !res.Plugged["qr-b"] || res.Plugged["qr-c"] {
		t.Fatalf("router interfaces plugged: %v, want qr-a and qr-b", res.Plugged)
	}
	clientA := client(t, nl, host, "brqnet-a", "10.241.0.3/22", "10.241.0.1")
	clientB := client(t, nl, host, "brqnet-b", "10.242.0.3/22", "10.242.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := probe.PingUntil(ctx, clientA, netip.MustParseAddr("10.242.0.3"), 200*time.Millisecond); err != nil {
		t.Fatalf("APPS -> DMZ through the router: %v", err)
	}
	if err := probe.PingUntil(ctx, clientB, netip.MustParseAddr("10.241.0.3"), 200*time.Millisecond); err != nil {
		t.Fatalf("DMZ -> APPS through the router: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// client is an instance: a namespace whose eth0 is a veth into bridge
// br of the host namespace, with an address and a default route.
func client(t *testing.T, nl *netlink.Handle, host, br, addr, gw string) string {
	t.Helper()
	name := testutil.NewNetNS(t, "vm")
	h, err := netns.Open(name)
	must(t, err)
	defer h.Close()
	tap := fmt.Sprintf("tapvm%d", len(br)+int(addr[5]))
	must(t, nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: tap}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(h))}))
	l, err := nl.LinkByName(tap)
	must(t, err)
	b, err := nl.LinkByName(br)
	must(t, err)
	must(t, nl.LinkSetMaster(l, b))
	must(t, nl.LinkSetUp(l))
	in, err := netns.NetlinkAt(name)
	must(t, err)
	defer in.Close()
	eth0, err := in.LinkByName("eth0")
	must(t, err)
	a, _ := netlink.ParseAddr(addr)
	must(t, in.AddrAdd(eth0, a))
	must(t, in.LinkSetUp(eth0))
	must(t, in.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: net.ParseIP(gw)}))
	return name
}

// unpluggedSnapshot: router r1 on network1 with interfaces on two VXLAN
// networks and a GRE one, and its gateway on flat network extnet.
func unpluggedSnapshot() *hostmodel.Snapshot {
	s := hostmodel.NewSnapshot("network1")
	s.Agents["l3"] = &model.Agent{ID: "l3", AgentType: model.AgentTypeL3, Host: "network1"}
	s.L3Bindings["r1"] = &model.Binding{ID: "r1", AgentIDs: []string{"l3"}}
	s.Networks["ext"] = &model.Network{Standard: model.Standard{ID: "ext"}, NetworkType: "flat", PhysicalNetwork: ptr("extnet"), MTU: 1500, External: true}
	s.Subnets["ext-v4"] = &model.Subnet{Standard: model.Standard{ID: "ext-v4"}, NetworkID: "ext", CIDR: "203.0.113.0/24", IPVersion: 4, GatewayIP: ptr("203.0.113.1")}
	s.Ports["gw"] = &model.Port{Standard: model.Standard{ID: "gw"}, NetworkID: "ext", DeviceID: "r1", DeviceOwner: model.OwnerRouterGateway, HostID: "network1",
		MACAddress: "fa:16:3e:00:00:01", FixedIPs: []model.FixedIP{{SubnetID: "ext-v4", IPAddress: "203.0.113.101"}}}
	for i, n := range []struct{ net, typ, cidr, ip string }{{"net-a", "vxlan", "10.241.0.0/22", "10.241.0.1"},
		{"net-b", "vxlan", "10.242.0.0/22", "10.242.0.1"}, {"net-c", "gre", "10.243.0.0/22", "10.243.0.1"}} {
		s.Networks[n.net] = &model.Network{Standard: model.Standard{ID: n.net}, NetworkType: n.typ, SegmentationID: ptr(200 + i), MTU: 1450}
		s.Subnets[n.net+"-v4"] = &model.Subnet{Standard: model.Standard{ID: n.net + "-v4"}, NetworkID: n.net, CIDR: n.cidr, IPVersion: 4, GatewayIP: ptr(n.ip)}
		pid := "qr-" + n.net[len(n.net)-1:]
		s.Ports[pid] = &model.Port{Standard: model.Standard{ID: pid}, NetworkID: n.net, DeviceID: "r1", DeviceOwner: model.OwnerRouterInterface, HostID: "network1",
			MACAddress: fmt.Sprintf("fa:16:3e:00:01:0%d", i), FixedIPs: []model.FixedIP{{SubnetID: n.net + "-v4", IPAddress: n.ip}}}
	}
	s.Routers["r1"] = &model.Router{Standard: model.Standard{ID: "r1"}, AdminStateUp: true, GatewayPortID: "gw",
		ExternalGatewayInfo: &model.GatewayInfo{NetworkID: "ext", EnableSNAT: true}}
	return s
}
