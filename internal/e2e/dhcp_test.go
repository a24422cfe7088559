package e2e_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/neutrino-net/neutrino/internal/agent/dhcp/client"
	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// TestDHCPAndPing: two instances on one VXLAN network, on compute1 and
// compute2, get their port's fixed IP, the network's MTU and the
// subnet's router and routes by DHCP, and reach each other.
func TestDHCPAndPing(t *testing.T) {
	b := testbed.Up(t, 2, testbed.Options{})
	n := b.CreateNetwork("net1", "192.168.1.0/24", map[string]any{
		"host_routes": []map[string]string{{"destination": "10.99.0.0/16", "nexthop": "192.168.1.254"}},
	})
	if n.MTU != 1450 || n.Gateway != netip.MustParseAddr("192.168.1.1") {
		t.Fatalf("network %+v: want MTU 1450 and gateway 192.168.1.1", n)
	}
	vm1 := b.Boot("vm1", "net1", "compute1")
	vm2 := b.Boot("vm2", "net1", "compute2")

	dhcpPorts := b.Ports("network_id=" + n.ID + "&device_owner=network:dhcp")
	if len(dhcpPorts) != 1 {
		t.Fatalf("%d DHCP ports on net1, want 1", len(dhcpPorts))
	}
	dhcpIP := dhcpPorts[0].IPv4()
	// Upstream's option 121 for a subnet without a router and isolated
	// metadata on: host routes, metadata via the DHCP port, default.
	wantRoutes := []client.Route{
		{Destination: netip.MustParsePrefix("10.99.0.0/16"), NextHop: netip.MustParseAddr("192.168.1.254")},
		{Destination: netip.MustParsePrefix("169.254.169.254/32"), NextHop: dhcpIP},
		{Destination: netip.MustParsePrefix("0.0.0.0/0"), NextHop: n.Gateway},
	}

	for _, vm := range []*sandbox.Instance{vm1, vm2} {
		p := b.Port(vm.PortID)
		leased := netip.MustParsePrefix(vm.IP)
		if want := netip.PrefixFrom(p.IPv4(), 24); leased != want || p.MAC != vm.MAC || p.HostID != vm.Host {
			t.Errorf("%s: lease %s MAC %s on %s; port has %s MAC %s on %s", vm.Name, leased, vm.MAC, vm.Host, want, p.MAC, p.HostID)
		}
		// A fresh exchange, to see the options themselves.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		r, err := client.Acquire(ctx, probe.Path(vm.Netns), "eth0")
		cancel()
		if err != nil {
			t.Fatalf("%s: DHCP: %v", vm.Name, err)
		}
		if r.Address != leased || r.MTU != 1450 || r.Router != n.Gateway || r.ServerID != dhcpIP {
			t.Errorf("%s: DHCP gave address %s MTU %d router %s server %s; want %s, 1450, %s, %s",
				vm.Name, r.Address, r.MTU, r.Router, r.ServerID, leased, n.Gateway, dhcpIP)
		}
		if d := cmp.Diff(wantRoutes, r.Routes, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
			cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
			t.Errorf("%s: option 121 routes (-want +got):\n%s", vm.Name, d)
		}
		// What the instance configured from it.
		l, found, err := probe.Link(vm.Netns, "eth0")
		if err != nil || !found {
			t.Fatalf("%s: eth0: %v", vm.Name, err)
		}
		if l.Attrs().MTU != 1450 {
			t.Errorf("%s: eth0 MTU %d, want 1450", vm.Name, l.Attrs().MTU)
		}
		rs, err := probe.Routes(vm.Netns)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			if r.Gw != nil {
				dst := "0.0.0.0/0"
				if r.Dst != nil {
					dst = r.Dst.String()
				}
				got = append(got, fmt.Sprintf("%s via %s", dst, r.Gw))
			}
		}
		slices.Sort(got)
		want := []string{"0.0.0.0/0 via 192.168.1.1", "10.99.0.0/16 via 192.168.1.254", "169.254.169.254/32 via " + dhcpIP.String()}
		if !slices.Equal(got, want) {
			t.Errorf("%s: routes via a gateway %v, want %v", vm.Name, got, want)
		}
	}

	b.MustPing("vm1", testbed.Addr(vm2))
	b.MustPing("vm2", testbed.Addr(vm1))
	for _, id := range []string{vm1.PortID, vm2.PortID} {
		b.WaitPortStatus(id, "ACTIVE", 10*time.Second)
	}
}
