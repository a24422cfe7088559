package client

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestParse(t *testing.T) {
	_, dst, _ := net.ParseCIDR("169.254.169.254/32")
	_, def, _ := net.ParseCIDR("0.0.0.0/0")
	ack, err := dhcpv4.New(
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.ParseIP("10.0.0.5")),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.ParseIP("10.0.0.1")),
		dhcpv4.WithDNS(net.ParseIP("192.0.2.53"), net.ParseIP("192.0.2.54")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0xaa})),
		dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
			&dhcpv4.Route{Dest: dst, Router: net.ParseIP("10.0.0.2")},
			&dhcpv4.Route{Dest: def, Router: net.ParseIP("10.0.0.1")})),
		dhcpv4.WithOption(dhcpv4.OptDomainName("openstacklocal")),
		dhcpv4.WithOption(dhcpv4.OptHostName("host-10-0-0-5")),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.0.2"))),
		dhcpv4.WithLeaseTime(3600),
	)
	if err != nil {
		t.Fatal(err)
	}
	ack, err = dhcpv4.FromBytes(ack.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	r, err := parse(ack, ack)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %s %v %d %v %s %s %s %s",
		r.Address, r.Router, r.DNS, r.MTU, r.Routes, r.DomainName, r.Hostname, r.ServerID, r.LeaseTime)
	want := "10.0.0.5/24 10.0.0.1 [192.0.2.53 192.0.2.54] 1450 [{169.254.169.254/32 10.0.0.2} {0.0.0.0/0 10.0.0.1}] openstacklocal host-10-0-0-5 10.0.0.2 " + (time.Hour).String()
	if got != want {
		t.Errorf("parse:\n got %s\nwant %s", got, want)
	}

	if _, err := parse(ack, &dhcpv4.DHCPv4{YourIPAddr: net.IPv4zero}); err == nil {
		t.Error("parse of an ACK without an address: no error")
	}
}
