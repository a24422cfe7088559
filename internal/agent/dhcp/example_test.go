package dhcp_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/neutrino-net/neutrino/internal/agent/dhcp"
)

func ExampleReply() {
	gw := netip.MustParseAddr("10.0.0.1")
	n := &dhcp.Network{
		ID:         "net1",
		MTU:        1450,
		DomainName: "openstacklocal",
		Subnets: []dhcp.Subnet{{
			ID:       "sub1",
			CIDR:     netip.MustParsePrefix("10.0.0.0/24"),
			Gateway:  &gw,
			ServerIP: netip.MustParseAddr("10.0.0.2"),
		}},
		Leases: map[string]dhcp.Lease{
			"fa:16:3e:00:00:0a": {MAC: "fa:16:3e:00:00:0a", IP: netip.MustParseAddr("10.0.0.5"), SubnetID: "sub1"},
		},
	}
	mac, _ := net.ParseMAC("fa:16:3e:00:00:0a")
	req, _ := dhcpv4.NewDiscovery(mac)
	resp, _ := dhcp.Reply(n, req)
	fmt.Println(resp.MessageType(), resp.YourIPAddr, resp.Router(), resp.HostName())
	// Output: OFFER 10.0.0.5 [10.0.0.1] host-10-0-0-5
}
