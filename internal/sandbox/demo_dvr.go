package sandbox

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// DemoDVR runs the DVR walkthrough ("Scenario: High Availability using
// Distributed Virtual Routing (DVR)", Open vSwitch) in the sandbox, step
// by step as the walkthrough words it: the agents per host, ext-net and
// ext-subnet, demo-net (VXLAN, made by admin for project demo),
// demo-subnet, the distributed demo-router with an interface and a
// gateway, the namespaces per host, demo-instance1 on compute1, pings to
// the router and to the internet (which sees the router's gateway
// address), a floating IP and the fip- namespace it brings, security
// group rules (the floating IP answers neither ping nor SSH before them,
// both after), and the east-west flow to demo-instance2 on demo-net2 on
// compute2. Each step prints the command it stands for; each check sends
// real packets or reads the host's namespaces and prints ✓ or ✗. It
// returns an error if any check failed.
func (s *State) DemoDVR(ctx context.Context, out io.Writer) error {
	d := &dvrDemo{demo: &demo{s: s, out: out}, snatHost: NodeNetwork1}
	var err error
	if d.c, err = s.AdminClient(ctx); err != nil {
		return err
	}
	if d.user, err = s.ClientAs(ctx, "demo"); err != nil {
		return err
	}
	d.say("== High availability using Distributed Virtual Routing (DVR), in sandbox %s ==", s.Prefix)
	steps := []func(context.Context) error{d.agents, d.external, d.project, d.demoNet, d.router, d.namespaces,
		d.gatewayPing, d.instance, d.fromInstance, d.metadata, d.floatingIP, d.secgroup, d.eastWest}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			if d.failed == 0 { // not a check (which printed itself): an API error
				d.failed++
				d.say("   ✗ %v", err)
			}
			break
		}
	}
	if d.failed > 0 {
		return fmt.Errorf("%d check(s) failed", d.failed)
	}
	d.say("\nAll %d checks passed. Explore with `neutrino sandbox exec demo-instance1 -- ...`; remove with `neutrino sandbox down`.", d.checks)
	return nil
}

// dvrDemo is the DVR walkthrough's state; c (in demo) is the admin
// session, user the demo project's.
type dvrDemo struct {
	*demo
	user *Client

	demoProject                                  string
	extNet, extSubnet, net1, subnet1, net2, sub2 string
	routerID                                     string
	gatewayIP                                    netip.Addr
	vm1, vm2                                     *Instance
	fip                                          netip.Addr
	ssh                                          *EchoServer // demo-instance1's port 22
	// snatHost runs demo-router's (active) SNAT part.
	snatHost string
}

const (
	dvrRouterWait = 30 * time.Second
	dvrPingWait   = 15 * time.Second
)

func (d *dvrDemo) post(ctx context.Context, c *Client, path, key string, body map[string]any) (map[string]any, error) {
	var resp map[string]map[string]any
	if err := c.Do(ctx, "POST", path, map[string]any{key: body}, &resp); err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	return resp[key], nil
}

func (d *dvrDemo) agents(ctx context.Context) error {
	d.step("openstack network agent list   # as admin")
	as, err := d.c.c.agents(ctx)
	if err != nil {
		return err
	}
	byHost := map[string][]string{}
	for _, a := range as {
		byHost[a.Host] = append(byHost[a.Host], a.AgentType)
	}
	for _, h := range d.s.Hosts() {
		types := byHost[h.Name]
		sort.Strings(types)
		// Our L2 agent (Linux bridges) stands for the walkthrough's
		// "Open vSwitch agent" rows.
		want := []string{"L3 agent", "Metadata agent", "Linux bridge agent"}
		if h.DHCPAgent {
			want = append(want, "DHCP agent")
		}
		sort.Strings(want)
		what := fmt.Sprintf("%s runs %s (agent_mode %s)", h.Name, strings.Join(want, ", "), h.Mode)
		if err := d.check(ctx, what, time.Second, func() (string, error) {
			if !slices.Equal(types, want) {
				return "", fmt.Errorf("the server lists %v", types)
			}
			return "", nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func (d *dvrDemo) external(ctx context.Context) error {
	d.step("neutron net-create ext-net --router:external --provider:physical_network external --provider:network_type flat")
	n, err := d.post(ctx, d.c, "/v2.0/networks", "network", map[string]any{"name": "ext-net", "router:external": true,
		"provider:network_type": "flat", "provider:physical_network": Physnet})
	if err != nil {
		return err
	}
	d.extNet = n["id"].(string)
	d.step("neutron subnet-create ext-net 203.0.113.0/24 --name ext-subnet --allocation-pool start=203.0.113.101,end=203.0.113.200 --disable-dhcp --gateway 203.0.113.1")
	sub, err := d.post(ctx, d.c, "/v2.0/subnets", "subnet", map[string]any{"name": "ext-subnet", "network_id": d.extNet, "ip_version": 4,
		"cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1", "enable_dhcp": false,
		"allocation_pools": []map[string]string{{"start": "203.0.113.101", "end": "203.0.113.200"}}})
	if err != nil {
		return err
	}
	d.extSubnet = sub["id"].(string)
	d.say("   ext-net %s, ext-subnet %s", d.extNet, d.extSubnet)
	return nil
}

func (d *dvrDemo) project(ctx context.Context) error {
	d.step("openstack project show demo")
	id, err := d.c.ProjectID(ctx, "demo")
	if err != nil {
		return err
	}
	d.demoProject = id
	d.say("   project demo: %s", id)
	return nil
}

// tenantNet creates a VXLAN network for project demo as admin, then its
// subnet with the demo project's credentials.
func (d *dvrDemo) tenantNet(ctx context.Context, net, subnet, cidr, gw string) (string, string, error) {
	d.step(fmt.Sprintf("neutron net-create %s --tenant-id %s --provider:network_type vxlan   # as admin", net, d.demoProject))
	n, err := d.post(ctx, d.c, "/v2.0/networks", "network", map[string]any{"name": net, "tenant_id": d.demoProject,
		"provider:network_type": "vxlan"})
	if err != nil {
		return "", "", err
	}
	netID := n["id"].(string)
	d.say("   %s %s: vxlan, segmentation id %v, mtu %v", net, netID, n["provider:segmentation_id"], n["mtu"])
	d.step(fmt.Sprintf("neutron subnet-create %s --name %s --gateway %s %s   # as demo", net, subnet, gw, cidr))
	sub, err := d.post(ctx, d.user, "/v2.0/subnets", "subnet", map[string]any{"name": subnet, "network_id": netID, "ip_version": 4,
		"cidr": cidr, "gateway_ip": gw})
	if err != nil {
		return "", "", err
	}
	return netID, sub["id"].(string), nil
}

func (d *dvrDemo) demoNet(ctx context.Context) (err error) {
	d.net1, d.subnet1, err = d.tenantNet(ctx, "demo-net", "demo-subnet", "192.168.1.0/24", "192.168.1.1")
	return err
}

func (d *dvrDemo) router(ctx context.Context) error {
	d.step("neutron router-create demo-router   # as demo: distributed by default (router_distributed = True)")
	r, err := d.post(ctx, d.user, "/v2.0/routers", "router", map[string]any{"name": "demo-router"})
	if err != nil {
		return err
	}
	d.routerID = r["id"].(string)
	if err := d.check(ctx, "as admin, demo-router "+d.routerID+" shows distributed True", time.Second, func() (string, error) {
		var resp map[string]map[string]any
		if err := d.c.Do(ctx, "GET", "/v2.0/routers/"+d.routerID, nil, &resp); err != nil {
			return "", err
		}
		if v := resp["router"]["distributed"]; v != true {
			return "", fmt.Errorf("distributed is %v", v)
		}
		return "", nil
	}); err != nil {
		return err
	}
	return d.wireRouter(ctx)
}

// wireRouter adds demo-router's interface on demo-subnet and its
// gateway on ext-net, and lists its ports.
func (d *dvrDemo) wireRouter(ctx context.Context) error {
	d.step("neutron router-interface-add demo-router demo-subnet")
	if err := d.user.Do(ctx, "PUT", "/v2.0/routers/"+d.routerID+"/add_router_interface", map[string]any{"subnet_id": d.subnet1}, nil); err != nil {
		return err
	}
	d.step("neutron router-gateway-set demo-router ext-net")
	var resp map[string]map[string]any
	if err := d.user.Do(ctx, "PUT", "/v2.0/routers/"+d.routerID, map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": d.extNet}}}, &resp); err != nil {
		return err
	}
	d.step("neutron router-port-list demo-router   # as admin")
	var ports struct {
		Ports []struct {
			ID          string `json:"id"`
			MAC         string `json:"mac_address"`
			DeviceOwner string `json:"device_owner"`
			FixedIPs    []struct {
				IP string `json:"ip_address"`
			} `json:"fixed_ips"`
		} `json:"ports"`
	}
	if err := d.c.Do(ctx, "GET", "/v2.0/ports?device_id="+d.routerID, nil, &ports); err != nil {
		return err
	}
	for _, p := range ports.Ports {
		var ips []string
		for _, f := range p.FixedIPs {
			ips = append(ips, f.IP)
		}
		d.say("   %s %s %-34s %s", p.ID, p.MAC, p.DeviceOwner, strings.Join(ips, ","))
		if p.DeviceOwner == "network:router_gateway" && len(ips) > 0 {
			d.gatewayIP = netip.MustParseAddr(ips[0])
		}
	}
	if !d.gatewayIP.IsValid() {
		return fmt.Errorf("demo-router has no gateway port")
	}
	return nil
}

// nsCheck checks that host's `ip netns` holds every name of want and
// none of unwanted.
func (d *dvrDemo) nsCheck(ctx context.Context, host string, want, unwanted []string) error {
	what := host + ": ip netns"
	if len(want) > 0 {
		what += " shows " + strings.Join(want, ", ")
	}
	if len(unwanted) > 0 {
		if len(want) > 0 {
			what += " and"
		}
		what += " no " + strings.Join(unwanted, ", no ")
	}
	return d.check(ctx, what, dvrRouterWait, func() (string, error) {
		have := d.s.HostNamespaces(host)
		for _, w := range want {
			if !slices.Contains(have, w) {
				return "", fmt.Errorf("no %s (ip netns: %v)", w, have)
			}
		}
		for _, u := range unwanted {
			if slices.Contains(have, u) {
				return "", fmt.Errorf("%s is there (ip netns: %v)", u, have)
			}
		}
		return "", nil
	})
}

func (d *dvrDemo) qrouter() string { return "qrouter-" + d.routerID }
func (d *dvrDemo) snat() string    { return "snat-" + d.routerID }
func (d *dvrDemo) fipNS() string   { return "fip-" + d.extNet }

func (d *dvrDemo) namespaces(ctx context.Context) error {
	d.say("\n# On the network node, verify creation of the snat, qrouter, and qdhcp namespaces")
	d.step("ip netns   # on network1")
	if err := d.nsCheck(ctx, NodeNetwork1, []string{d.snat(), d.qrouter(), "qdhcp-" + d.net1}, nil); err != nil {
		return err
	}
	d.say("   (no instance yet: the computes hold nothing of demo-router)")
	for _, h := range d.s.Hosts()[1:] {
		if err := d.nsCheck(ctx, h.Name, nil, []string{d.qrouter(), d.snat(), "qdhcp-" + d.net1}); err != nil {
			return err
		}
	}
	return nil
}

func (d *dvrDemo) gatewayPing(ctx context.Context) error {
	d.step("ping -c 4 " + d.gatewayIP.String() + "   # from the upstream router, a host on the external network")
	return d.check(ctx, "upstream (203.0.113.1) pings demo-router's gateway "+d.gatewayIP.String(), dvrPingWait, func() (string, error) {
		return "", d.pingFrom(ctx, NodeUpstream, d.gatewayIP)
	})
}

func (d *dvrDemo) pingFrom(ctx context.Context, node string, dst netip.Addr) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return d.s.Ping(ctx, node, dst)
}

func (d *dvrDemo) instance(ctx context.Context) error {
	d.step("nova boot --nic net-id=demo-net demo-instance1   # neutrino sandbox boot --network demo-net --host compute1 demo-instance1")
	var err error
	if d.vm1, err = d.s.Boot(ctx, BootOptions{Name: "demo-instance1", Network: d.net1, Host: "compute1"}); err != nil {
		return err
	}
	d.say("   demo-instance1 on compute1 got %s by DHCP (served from network1's qdhcp-)", d.vm1.IP)
	d.step("ip netns   # on compute1, the compute node with the instance")
	if err := d.nsCheck(ctx, "compute1", []string{d.qrouter()}, []string{d.snat()}); err != nil {
		return err
	}
	for _, h := range d.s.Hosts() {
		if h.Mode != ModeDVR || h.Name == "compute1" {
			continue
		}
		if err := d.nsCheck(ctx, h.Name, nil, []string{d.qrouter()}); err != nil {
			return err
		}
	}
	return nil
}
