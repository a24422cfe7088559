package topology

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
)

// Credentials are the openrc variables (OS_AUTH_URL, OS_USERNAME, ...).
type Credentials map[string]string

// CredentialsFromEnv reads the OS_* variables an openrc file exports.
func CredentialsFromEnv(getenv func(string) string) Credentials {
	c := Credentials{}
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_USER_ID", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_PROJECT_ID",
		"OS_TENANT_NAME", "OS_USER_DOMAIN_ID", "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_ID", "OS_PROJECT_DOMAIN_NAME",
		"OS_DOMAIN_ID", "OS_DOMAIN_NAME", "OS_REGION_NAME", "OS_INTERFACE"} {
		if v := getenv(k); v != "" {
			c[k] = v
		}
	}
	return c
}

// authOptions maps openrc variables to a Keystone v3 password login
// scoped to the project (gophercloud's own env reader ignores
// OS_USER_DOMAIN_ID and OS_PROJECT_DOMAIN_ID, which openrc files use).
func (c Credentials) authOptions() (gophercloud.AuthOptions, error) {
	if c["OS_AUTH_URL"] == "" {
		return gophercloud.AuthOptions{}, errors.New("OS_AUTH_URL is not set: source an openrc file (e.g. . /run/neutrino/sandbox/demo-openrc)")
	}
	if c["OS_PASSWORD"] == "" || c["OS_USERNAME"]+c["OS_USER_ID"] == "" {
		return gophercloud.AuthOptions{}, errors.New("OS_USERNAME and OS_PASSWORD must be set")
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if c[k] != "" {
				return c[k]
			}
		}
		return ""
	}
	o := gophercloud.AuthOptions{
		IdentityEndpoint: c["OS_AUTH_URL"], Username: c["OS_USERNAME"], UserID: c["OS_USER_ID"], Password: c["OS_PASSWORD"],
		DomainID: first("OS_USER_DOMAIN_ID", "OS_DOMAIN_ID"), DomainName: first("OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME"),
	}
	if o.UserID != "" {
		o.Username, o.DomainID, o.DomainName = "", "", ""
	} else if o.DomainID != "" {
		o.DomainName = ""
	}
	project := first("OS_PROJECT_NAME", "OS_TENANT_NAME")
	if id := c["OS_PROJECT_ID"]; id != "" {
		o.Scope = &gophercloud.AuthScope{ProjectID: id}
	} else if project != "" {
		s := &gophercloud.AuthScope{ProjectName: project, DomainID: first("OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_ID")}
		if s.DomainID == "" {
			s.DomainName = cmpOr(first("OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME"), "Default")
		}
		o.Scope = s
	}
	return o, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// NetworkClient logs in with the credentials and returns a client of
// the Networking API endpoint the catalog names.
func NetworkClient(ctx context.Context, c Credentials) (*gophercloud.ServiceClient, error) {
	opts, err := c.authOptions()
	if err != nil {
		return nil, err
	}
	provider, err := openstack.AuthenticatedClient(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("log in at %s: %w", opts.IdentityEndpoint, err)
	}
	avail := gophercloud.AvailabilityPublic
	if i := c["OS_INTERFACE"]; i != "" {
		avail = gophercloud.Availability(strings.TrimSuffix(i, "URL"))
	}
	client, err := openstack.NewNetworkV2(provider, gophercloud.EndpointOpts{Region: c["OS_REGION_NAME"], Availability: avail})
	if err != nil {
		return nil, fmt.Errorf("network endpoint: %w", err)
	}
	return client, nil
}

// Fetch logs in with the credentials and reads the networks, subnets,
// routers, ports and floating IPs the API shows them.
func Fetch(ctx context.Context, c Credentials) (*Cloud, error) {
	client, err := NetworkClient(ctx, c)
	if err != nil {
		return nil, err
	}
	var raw rawCloud
	for _, r := range []struct {
		path string
		dst  any
	}{{"networks", &raw.Networks}, {"subnets", &raw.Subnets}, {"routers", &raw.Routers}, {"ports", &raw.Ports}, {"floatingips", &raw.FloatingIPs}} {
		if _, err := client.Get(ctx, client.ServiceURL(r.path), r.dst, nil); err != nil {
			return nil, fmt.Errorf("GET %s: %w", r.path, err)
		}
	}
	cl := raw.cloud()
	cl.Scope = strings.TrimSpace(cmpOr(c["OS_USERNAME"], c["OS_USER_ID"]) + " in project " + cmpOr(c["OS_PROJECT_NAME"], cmpOr(c["OS_TENANT_NAME"], c["OS_PROJECT_ID"])))
	return cl, nil
}

// rawCloud is the API's JSON, the fields drawn.
type rawCloud struct {
	Networks struct {
		Networks []struct {
			ID       string `json:"id"`
			Name     string `json:"name"`
			Status   string `json:"status"`
			External bool   `json:"router:external"`
			Shared   bool   `json:"shared"`
		} `json:"networks"`
	}
	Subnets struct {
		Subnets []struct {
			ID        string `json:"id"`
			Name      string `json:"name"`
			NetworkID string `json:"network_id"`
			CIDR      string `json:"cidr"`
			Gateway   string `json:"gateway_ip"`
		} `json:"subnets"`
	}
	Routers struct {
		Routers []struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			Status      string `json:"status"`
			Distributed bool   `json:"distributed"`
			Gateway     *struct {
				NetworkID string `json:"network_id"`
				IPs       []struct {
					IP string `json:"ip_address"`
				} `json:"external_fixed_ips"`
			} `json:"external_gateway_info"`
		} `json:"routers"`
	}
	Ports struct {
		Ports []rawPort `json:"ports"`
	}
	FloatingIPs struct {
		FloatingIPs []struct {
			ID        string `json:"id"`
			Address   string `json:"floating_ip_address"`
			NetworkID string `json:"floating_network_id"`
			PortID    string `json:"port_id"`
			FixedIP   string `json:"fixed_ip_address"`
			Status    string `json:"status"`
		} `json:"floatingips"`
	}
}

type rawPort struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	NetworkID   string `json:"network_id"`
	DeviceID    string `json:"device_id"`
	DeviceOwner string `json:"device_owner"`
	FixedIPs    []struct {
		IP string `json:"ip_address"`
	} `json:"fixed_ips"`
}

func (p rawPort) ips() []string {
	var out []string
	for _, f := range p.FixedIPs {
		out = append(out, f.IP)
	}
	return out
}

// routerOwners are the device_owner values of a router's interfaces
// (the gateway comes from external_gateway_info, visible to the
// router's owner even when its port is not).
var routerOwners = []string{"network:router_interface", "network:router_interface_distributed", "network:ha_router_replicated_interface"}

// cloud turns the API's lists into the drawing's model.
func (r rawCloud) cloud() *Cloud {
	c := &Cloud{}
	subnets := map[string][]Subnet{}
	for _, s := range r.Subnets.Subnets {
		subnets[s.NetworkID] = append(subnets[s.NetworkID], Subnet{ID: s.ID, Name: s.Name, CIDR: s.CIDR, Gateway: s.Gateway})
	}
	for _, n := range r.Networks.Networks {
		c.Networks = append(c.Networks, Network{ID: n.ID, Name: n.Name, Status: n.Status, External: n.External, Shared: n.Shared, Subnets: subnets[n.ID]})
	}
	floating := map[string][]string{} // port id + fixed ip -> floating addresses
	for _, f := range r.FloatingIPs.FloatingIPs {
		c.FloatingIPs = append(c.FloatingIPs, FloatingIP{ID: f.ID, Address: f.Address, NetworkID: f.NetworkID, PortID: f.PortID, FixedIP: f.FixedIP, Status: f.Status})
		if f.PortID != "" {
			floating[f.PortID] = append(floating[f.PortID], f.Address)
		}
	}
	ifaces := map[string][]Attachment{}
	instances := map[string]*Instance{}
	var order []string
	for _, p := range r.Ports.Ports {
		switch {
		case slices.Contains(routerOwners, p.DeviceOwner):
			ifaces[p.DeviceID] = append(ifaces[p.DeviceID], Attachment{NetworkID: p.NetworkID, IPs: p.ips()})
		case strings.HasPrefix(p.DeviceOwner, "compute:") || p.DeviceOwner == "" && p.DeviceID != "":
			in := instances[p.DeviceID]
			if in == nil {
				in = &Instance{ID: p.DeviceID, Name: cmpOr(p.Name, p.DeviceID)}
				instances[p.DeviceID] = in
				order = append(order, p.DeviceID)
			}
			in.Links = append(in.Links, Attachment{NetworkID: p.NetworkID, IPs: p.ips(), Floating: floating[p.ID]})
		}
	}
	for _, id := range order {
		c.Instances = append(c.Instances, *instances[id])
	}
	for _, rt := range r.Routers.Routers {
		out := Router{ID: rt.ID, Name: rt.Name, Status: rt.Status, Distributed: rt.Distributed}
		if g := rt.Gateway; g != nil && g.NetworkID != "" {
			a := Attachment{NetworkID: g.NetworkID}
			for _, ip := range g.IPs {
				a.IPs = append(a.IPs, ip.IP)
			}
			out.Links = append(out.Links, a)
		}
		out.Links = append(out.Links, ifaces[rt.ID]...)
		c.Routers = append(c.Routers, out)
	}
	return c
}
