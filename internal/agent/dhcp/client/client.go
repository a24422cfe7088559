// Package client acquires an IPv4 address by a real DHCP exchange from
// inside a network namespace, for the testbed's fake instances (and
// tests). It only asks: applying the address, routes and MTU is the
// caller's job.
package client

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"

	"github.com/neutrino-net/neutrino/internal/netns"
)

// Result is what the server acknowledged.
type Result struct {
	Address    netip.Prefix // yiaddr with the subnet mask's length
	Router     netip.Addr   // option 3; invalid when absent
	DNS        []netip.Addr // option 6
	MTU        int          // option 26; 0 when absent
	Routes     []Route      // option 121
	DomainName string       // option 15
	Hostname   string       // option 12
	ServerID   netip.Addr   // option 54
	LeaseTime  time.Duration
	// Offer and ACK are the raw messages, for assertions on anything else.
	Offer, ACK *dhcpv4.DHCPv4
}

// Route is one classless static route; NextHop 0.0.0.0 means on link.
type Route struct {
	Destination netip.Prefix
	NextHop     netip.Addr
}

// Acquire runs DISCOVER/OFFER/REQUEST/ACK on device ifName in the network
// namespace at nsPath until it gets a lease or ctx ends. The device must
// be up; it needs no address (the client uses a packet socket).
//
// Exchanges that get no answer are restarted quickly at first (25 ms,
// doubling up to 1 s): fake instances boot against a local agent that
// may still be plugging their tap when the first DISCOVER leaves, and a
// real client's seconds-long backoff would then dominate the boot time.
func Acquire(ctx context.Context, nsPath, ifName string) (*Result, error) {
	wait := 25 * time.Millisecond
	for {
		start := time.Now()
		r, err := exchange(ctx, nsPath, ifName, wait)
		if err == nil || ctx.Err() != nil {
			return r, err
		}
		// An exchange that failed at once (no such device yet) is not a
		// reason to spin.
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait - time.Since(start)):
		}
		wait = min(2*wait, time.Second)
	}
}

// exchange is one DHCP exchange, each step waiting up to wait.
func exchange(ctx context.Context, nsPath, ifName string, wait time.Duration) (*Result, error) {
	var c *nclient4.Client
	// The packet socket and the interface lookup happen inside the
	// namespace; the exchange itself then runs on any thread.
	err := netns.Do(nsPath, func() error {
		var err error
		c, err = nclient4.New(ifName, nclient4.WithTimeout(wait), nclient4.WithRetry(1))
		return err
	})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dhcp client on %s in %s: %w", ifName, nsPath, err)
	}
	lease, err := c.Request(ctx, dhcpv4.WithRequestedOptions(
		dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionDomainNameServer,
		dhcpv4.OptionHostName, dhcpv4.OptionDomainName, dhcpv4.OptionInterfaceMTU,
		dhcpv4.OptionBroadcastAddress, dhcpv4.OptionClasslessStaticRoute))
	if err != nil {
		return nil, fmt.Errorf("dhcp on %s in %s: %w", ifName, nsPath, err)
	}
	return parse(lease.Offer, lease.ACK)
}

func parse(offer, ack *dhcpv4.DHCPv4) (*Result, error) {
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return nil, fmt.Errorf("ACK without an address")
	}
	bits := 32
	if m := ack.SubnetMask(); m != nil {
		ones, size := m.Size()
		if size != 32 {
			return nil, fmt.Errorf("ACK with a bad subnet mask %v", m)
		}
		bits = ones
	}
	r := &Result{
		Address:    netip.PrefixFrom(ip, bits),
		DomainName: ack.DomainName(),
		Hostname:   ack.HostName(),
		LeaseTime:  ack.IPAddressLeaseTime(0),
		Offer:      offer,
		ACK:        ack,
	}
	if rs := ack.Router(); len(rs) > 0 {
		r.Router = addr(rs[0])
	}
	for _, d := range ack.DNS() {
		r.DNS = append(r.DNS, addr(d))
	}
	if mtu, err := dhcpv4.GetUint16(dhcpv4.OptionInterfaceMTU, ack.Options); err == nil {
		r.MTU = int(mtu)
	}
	for _, rt := range ack.ClasslessStaticRoute() {
		ones, _ := rt.Dest.Mask.Size()
		r.Routes = append(r.Routes, Route{
			Destination: netip.PrefixFrom(addr(rt.Dest.IP), ones),
			NextHop:     addr(rt.Router),
		})
	}
	r.ServerID = addr(ack.ServerIdentifier())
	return r, nil
}

func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip.To4())
	return a
}
