package testbed

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
)

// CreateProviderNetwork creates, as admin, a shared network of a given
// provider type ("vlan", "gre", ...; physnet "" for tunnels) and
// segmentation id, with an IPv4 subnet (cidr; DHCP on) as CreateNetwork
// does. Network.VNI is the segmentation id.
func (b *Bed) CreateProviderNetwork(name, typ, physnet string, seg int, cidr string) Network {
	b.T.Helper()
	body := map[string]any{"name": name, "shared": true, "provider:network_type": typ, "provider:segmentation_id": seg}
	if physnet != "" {
		body["provider:physical_network"] = physnet
	}
	var nw struct {
		Network struct {
			ID  string `json:"id"`
			MTU int    `json:"mtu"`
		} `json:"network"`
	}
	b.Do(http.MethodPost, "/v2.0/networks", map[string]any{"network": body}, &nw)
	var sn struct {
		Subnet struct {
			ID        string  `json:"id"`
			GatewayIP *string `json:"gateway_ip"`
		} `json:"subnet"`
	}
	b.Do(http.MethodPost, "/v2.0/subnets", map[string]any{"subnet": map[string]any{"network_id": nw.Network.ID, "ip_version": 4,
		"cidr": cidr, "name": name + "-v4"}}, &sn)
	n := Network{ID: nw.Network.ID, Name: name, SubnetID: sn.Subnet.ID, VNI: seg, MTU: nw.Network.MTU, CIDR: netip.MustParsePrefix(cidr)}
	if sn.Subnet.GatewayIP != nil {
		n.Gateway = netip.MustParseAddr(*sn.Subnet.GatewayIP)
	}
	return n
}

// CreateVLANExternalNetwork creates an external VLAN provider network
// (physnet, VLAN vid) with a subnet as CreateExternalNetwork does.
func (b *Bed) CreateVLANExternalNetwork(name, physnet string, vid int, cidr, gw, start, end string) ExternalNetwork {
	b.T.Helper()
	var nw struct {
		Network struct {
			ID string `json:"id"`
		} `json:"network"`
	}
	b.Do(http.MethodPost, "/v2.0/networks", map[string]any{"network": map[string]any{"name": name, "router:external": true, "shared": true,
		"provider:network_type": "vlan", "provider:physical_network": physnet, "provider:segmentation_id": vid}}, &nw)
	ext := ExternalNetwork{ID: nw.Network.ID, CIDR: netip.MustParsePrefix(cidr)}
	ext.SubnetID = b.AddExternalSubnet(ext.ID, name+"-v4", cidr, gw, start, end)
	return ext
}

// UpstreamVLAN gives the upstream router (the sandbox's upstream node)
// an 802.1Q sub-interface of its external-fabric interface for VLAN vid
// with address addr, as the walkthrough's ASA has on VLAN 1998: the
// upstream of a VLAN external network. It returns the device's name.
func (b *Bed) UpstreamVLAN(vid int, addr netip.Prefix) string {
	b.T.Helper()
	ns := sandbox.NodeNS(b.Prefix, sandbox.NodeUpstream)
	h, err := probe.Handle(ns)
	if err != nil {
		b.T.Fatal(err)
	}
	defer h.Close()
	parent, err := h.LinkByName("eth0")
	if err != nil {
		b.T.Fatal(err)
	}
	name := fmt.Sprintf("eth0.%d", vid)
	v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: parent.Attrs().Index}, VlanId: vid}
	if err := h.LinkAdd(v); err != nil {
		b.T.Fatalf("upstream vlan %d: %v", vid, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		b.T.Fatal(err)
	}
	ipn := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
		b.T.Fatal(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		b.T.Fatal(err)
	}
	return name
}

// CreateBoundPort creates, as admin, an instance port on a network bound
// to host (as Nova does before plugging), without plugging anything.
func (b *Bed) CreateBoundPort(name, networkID, host string) Port {
	b.T.Helper()
	var out struct {
		Port Port `json:"port"`
	}
	b.Do(http.MethodPost, "/v2.0/ports", map[string]any{"port": map[string]any{"name": name, "network_id": networkID,
		"binding:host_id": host, "device_owner": "compute:nova", "device_id": name}}, &out)
	return out.Port
}

// WaitVIFType waits until the port's binding:vif_type is want.
func (b *Bed) WaitVIFType(id, want string, timeout time.Duration) {
	b.T.Helper()
	Eventually(b.T, timeout, 100*time.Millisecond, "port "+id+" binding:vif_type", func() error {
		var out struct {
			Port struct {
				VIFType string `json:"binding:vif_type"`
			} `json:"port"`
		}
		if err := b.Try(http.MethodGet, "/v2.0/ports/"+id, nil, &out); err != nil {
			return err
		}
		if out.Port.VIFType != want {
			return fmt.Errorf("binding:vif_type %s, want %s", out.Port.VIFType, want)
		}
		return nil
	})
}
