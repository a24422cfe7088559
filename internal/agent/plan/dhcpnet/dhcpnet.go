// Package dhcpnet plans what the in-process DHCP server serves: for each
// network this host serves DHCP for, its subnets and a static lease per
// port address. Pure: no kernel access.
package dhcpnet

import (
	"net/netip"
	"strings"

	"github.com/neutrino-net/neutrino/internal/agent/dhcp/dhcpdata"
	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/model"
)

// Network builds what the DHCP server needs for one network from the
// snapshot (pure): its DHCP-enabled IPv4 subnets served from the DHCP
// port's addresses, and a static lease per port address.
func Network(s *hostmodel.Snapshot, n *model.Network, dhcpPort *model.Port, domain string, isolatedMetadata bool) *dhcpdata.Network {
	out := &dhcpdata.Network{ID: n.ID, MTU: n.MTU, DomainName: domain, IsolatedMetadata: isolatedMetadata, Leases: map[string]dhcpdata.Lease{}}
	served := map[string]bool{}
	for _, sid := range n.Subnets {
		sub := s.Subnets[sid]
		if sub == nil || sub.IPVersion != 4 || !sub.EnableDHCP {
			continue
		}
		cidr, err := netip.ParsePrefix(sub.CIDR)
		if err != nil {
			continue
		}
		ds := dhcpdata.Subnet{ID: sub.ID, CIDR: cidr}
		for _, ip := range dhcpPort.FixedIPs {
			if ip.SubnetID == sub.ID {
				ds.ServerIP, _ = netip.ParseAddr(ip.IPAddress)
			}
		}
		if !ds.ServerIP.IsValid() {
			continue
		}
		if sub.GatewayIP != nil {
			if gw, err := netip.ParseAddr(*sub.GatewayIP); err == nil {
				ds.Gateway = &gw
			}
		}
		for _, d := range sub.DNSNameservers {
			if a, err := netip.ParseAddr(d); err == nil {
				ds.DNS = append(ds.DNS, a)
			}
		}
		for _, hr := range sub.HostRoutes {
			dst, err1 := netip.ParsePrefix(hr.Destination)
			hop, err2 := netip.ParseAddr(hr.NextHop)
			if err1 == nil && err2 == nil {
				ds.HostRoutes = append(ds.HostRoutes, dhcpdata.Route{Destination: dst, NextHop: hop})
			}
		}
		ds.HasRouter = SubnetHasRouter(s, sub)
		out.Subnets = append(out.Subnets, ds)
		served[sub.ID] = true
	}
	for _, p := range s.PortsOfNetwork(n.ID) {
		for _, ip := range p.FixedIPs {
			addr, err := netip.ParseAddr(ip.IPAddress)
			if err != nil || !served[ip.SubnetID] || !addr.Is4() {
				continue
			}
			mac := strings.ToLower(p.MACAddress)
			if _, dup := out.Leases[mac]; dup {
				continue // one lease per MAC: the first IPv4 address
			}
			l := dhcpdata.Lease{MAC: mac, IP: addr, SubnetID: ip.SubnetID, Hostname: "host-" + strings.ReplaceAll(addr.String(), ".", "-")}
			for _, o := range p.ExtraDHCPOpts {
				if o.IPVersion == 4 {
					l.ExtraOpts = append(l.ExtraOpts, dhcpdata.Opt{Name: o.OptName, Value: o.OptValue})
				}
			}
			out.Leases[mac] = l
		}
	}
	return out
}

// SubnetHasRouter reports whether a router has an interface on the
// subnet (then the router serves metadata, not the DHCP namespace). An
// interface on the subnet is a port on the subnet's network.
func SubnetHasRouter(s *hostmodel.Snapshot, sub *model.Subnet) bool {
	for _, p := range s.PortsOfNetwork(sub.NetworkID) {
		switch p.DeviceOwner {
		case model.OwnerRouterInterface, model.OwnerRouterInterfaceD, model.OwnerHARouterInterface:
			for _, ip := range p.FixedIPs {
				if ip.SubnetID == sub.ID {
					return true
				}
			}
		}
	}
	return false
}
