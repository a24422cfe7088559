package testbed

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
)

// L3 helpers: external networks, routers, interfaces and floating IPs
// through the API, and reads of a router namespace on network1.

// ExternalNetwork is a flat network on the sandbox's external fabric
// (physnet "external", 203.0.113.0/24 with upstream at .1).
type ExternalNetwork struct {
	ID, SubnetID string
	CIDR         netip.Prefix
}

// CreateExternalNetwork creates EXT_NET-like network name with subnet
// cidr (gateway gw, allocation pool start..end, no DHCP).
func (b *Bed) CreateExternalNetwork(name, cidr, gw, start, end string) ExternalNetwork {
	b.T.Helper()
	var nw struct {
		Network struct {
			ID string `json:"id"`
		} `json:"network"`
	}
	b.Do(http.MethodPost, "/v2.0/networks", map[string]any{"network": map[string]any{"name": name, "router:external": true,
		"provider:network_type": "flat", "provider:physical_network": sandbox.Physnet}}, &nw)
	ext := ExternalNetwork{ID: nw.Network.ID, CIDR: netip.MustParsePrefix(cidr)}
	ext.SubnetID = b.AddExternalSubnet(ext.ID, name+"-v4", cidr, gw, start, end)
	return ext
}

// AddExternalSubnet adds another subnet (no DHCP) to an external
// network and returns its id; gw "" means no gateway.
func (b *Bed) AddExternalSubnet(netID, name, cidr, gw, start, end string) string {
	b.T.Helper()
	body := map[string]any{"name": name, "network_id": netID, "ip_version": 4, "cidr": cidr, "enable_dhcp": false,
		"allocation_pools": []map[string]string{{"start": start, "end": end}}}
	if gw != "" {
		body["gateway_ip"] = gw
	} else {
		body["gateway_ip"] = nil
	}
	var sn struct {
		Subnet struct {
			ID string `json:"id"`
		} `json:"subnet"`
	}
	b.Do(http.MethodPost, "/v2.0/subnets", map[string]any{"subnet": body}, &sn)
	return sn.Subnet.ID
}

// Router is a router as the tests use it.
type Router struct {
	ID            string
	GatewayIP     netip.Addr // invalid without a gateway
	GatewayPortID string
}

type routerJSON struct {
	ID                  string `json:"id"`
	GatewayPortID       string `json:"gw_port_id"`
	ExternalGatewayInfo *struct {
		ExternalFixedIPs []struct {
			IPAddress string `json:"ip_address"`
		} `json:"external_fixed_ips"`
	} `json:"external_gateway_info"`
}

func (r routerJSON) router() Router {
	out := Router{ID: r.ID, GatewayPortID: r.GatewayPortID}
	if r.ExternalGatewayInfo != nil {
		for _, f := range r.ExternalGatewayInfo.ExternalFixedIPs {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil && a.Is4() && !out.GatewayIP.IsValid() {
				out.GatewayIP = a
			}
		}
	}
	return out
}

// CreateRouter creates a centralized router (attrs: extra attributes)
// and, if extNetID is not "", sets its gateway on that network.
func (b *Bed) CreateRouter(name, extNetID string, attrs map[string]any) Router {
	b.T.Helper()
	body := map[string]any{"name": name, "distributed": false}
	for k, v := range attrs {
		body[k] = v
	}
	var out struct {
		Router routerJSON `json:"router"`
	}
	b.Do(http.MethodPost, "/v2.0/routers", map[string]any{"router": body}, &out)
	if extNetID != "" {
		return b.UpdateRouter(out.Router.ID, map[string]any{"external_gateway_info": map[string]any{"network_id": extNetID}})
	}
	return out.Router.router()
}

// UpdateRouter updates a router's attributes.
func (b *Bed) UpdateRouter(id string, attrs map[string]any) Router {
	b.T.Helper()
	var out struct {
		Router routerJSON `json:"router"`
	}
	b.Do(http.MethodPut, "/v2.0/routers/"+id, map[string]any{"router": attrs}, &out)
	r := out.Router.router()
	if r.GatewayIP.IsValid() && r.GatewayPortID == "" {
		for _, p := range b.Ports("device_owner=network:router_gateway&device_id=" + id) {
			r.GatewayPortID = p.ID
		}
	}
	return r
}

// AddRouterInterface attaches a subnet to a router and returns the
// router port's id.
func (b *Bed) AddRouterInterface(routerID, subnetID string) string {
	b.T.Helper()
	var out struct {
		PortID string `json:"port_id"`
	}
	b.Do(http.MethodPut, "/v2.0/routers/"+routerID+"/add_router_interface", map[string]any{"subnet_id": subnetID}, &out)
	return out.PortID
}

// RemoveRouterInterface detaches a subnet from a router.
func (b *Bed) RemoveRouterInterface(routerID, subnetID string) {
	b.T.Helper()
	b.Do(http.MethodPut, "/v2.0/routers/"+routerID+"/remove_router_interface", map[string]any{"subnet_id": subnetID}, nil)
}

// FloatingIP is a floating IP as the tests use it.
type FloatingIP struct {
	ID   string
	Addr netip.Addr
}

// CreateFloatingIP allocates a floating IP on extNetID, associated with
// portID unless it is "".
func (b *Bed) CreateFloatingIP(extNetID, portID string, attrs map[string]any) FloatingIP {
	b.T.Helper()
	body := map[string]any{"floating_network_id": extNetID}
	if portID != "" {
		body["port_id"] = portID
	}
	for k, v := range attrs {
		body[k] = v
	}
	var out struct {
		FIP struct {
			ID   string `json:"id"`
			Addr string `json:"floating_ip_address"`
		} `json:"floatingip"`
	}
	b.Do(http.MethodPost, "/v2.0/floatingips", map[string]any{"floatingip": body}, &out)
	return FloatingIP{ID: out.FIP.ID, Addr: netip.MustParseAddr(out.FIP.Addr)}
}

// AssociateFloatingIP points a floating IP at portID ("" disassociates).
func (b *Bed) AssociateFloatingIP(id, portID string) {
	b.T.Helper()
	if err := b.TryAssociateFloatingIP(id, portID); err != nil {
		b.T.Fatal(err)
	}
}

// TryAssociateFloatingIP is AssociateFloatingIP returning the error.
func (b *Bed) TryAssociateFloatingIP(id, portID string) error {
	var p any
	if portID != "" {
		p = portID
	}
	if err := b.Try(http.MethodPut, "/v2.0/floatingips/"+id, map[string]any{"floatingip": map[string]any{"port_id": p}}, nil); err != nil {
		return fmt.Errorf("associate floating ip %s with %q: %w", id, portID, err)
	}
	return nil
}

// RouterNS is the namespace of a legacy router on network1.
func (b *Bed) RouterNS(routerID string) string {
	return "qrouter-" + routerID + sandbox.AgentSuffix(b.Prefix, sandbox.NodeNetwork1)
}

// RouterLinks returns the IPv4 addresses of every device in a router
// namespace by device name (an error if the namespace is not there).
func RouterLinks(ns string) (map[string][]netip.Prefix, error) {
	h, err := probe.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	out := map[string][]netip.Prefix{}
	for _, l := range links {
		addrs, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, err
		}
		var ps []netip.Prefix
		for _, a := range addrs {
			ones, _ := a.Mask.Size()
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
				ps = append(ps, netip.PrefixFrom(ip, ones))
			}
		}
		slices.SortFunc(ps, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
		out[l.Attrs().Name] = ps
	}
	return out, nil
}

// FormatLinks renders RouterLinks output as sorted "dev addr,addr" lines.
func FormatLinks(m map[string][]netip.Prefix) string {
	var lines []string
	for dev, ps := range m {
		var as []string
		for _, p := range ps {
			as = append(as, p.String())
		}
		lines = append(lines, dev+" "+strings.Join(as, ","))
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

// RouteStrings lists a namespace's IPv4 main-table routes as
// "dst via gw dev name" strings.
func RouteStrings(ns string) ([]string, error) {
	h, err := probe.Handle(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range routes {
		dst := "default"
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones > 0 || !r.Dst.IP.IsUnspecified() {
				dst = r.Dst.String()
			}
		}
		s := dst
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		for _, nh := range r.MultiPath {
			s += " nexthop via " + nh.Gw.String()
		}
		if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
			s += " dev " + l.Attrs().Name
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}
