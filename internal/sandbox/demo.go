package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// DemoLegacy runs the first reference walkthrough ("Neutron L3 Agent /
// What is it and how does it work?") in the sandbox: an external network
// and subnet with an allocation pool, two tenant networks APPS_NET
// 10.241.0.0/22 and DMZ_NET 10.242.0.0/22 over VXLAN, a router with a
// gateway and both interfaces, one instance on each network, and a
// floating IP that moves between them. Each step prints the openstack
// command it stands for; each check sends real packets and prints ✓ or ✗.
// It returns an error if any check failed.
func (s *State) DemoLegacy(ctx context.Context, out io.Writer) error {
	d := &demo{s: s, out: out}
	c, err := s.AdminClient(ctx)
	if err != nil {
		return err
	}
	d.c = c
	d.say("== Neutron L3 agent with floating IPs, in sandbox %s ==", s.Prefix)
	steps := []func(context.Context) error{d.external, d.router, d.tenants, d.instances, d.securityGroup, d.routing, d.floatingIP, d.moveFloatingIP, d.metadata}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			d.failed++
			d.say("   ✗ %v", err)
			break
		}
	}
	if d.failed > 0 {
		return fmt.Errorf("%d check(s) failed", d.failed)
	}
	d.say("\nAll %d checks passed. Explore with `neutrino sandbox exec APPS_INSTANCE -- ...`; remove with `neutrino sandbox down`.", d.checks)
	return nil
}

type demo struct {
	s      *State
	c      *Client
	out    io.Writer
	checks int
	failed int

	extNet, extSubnet, routerID, appsNet, appsSubnet, dmzNet, dmzSubnet string
	gatewayIP                                                           netip.Addr
	apps, dmz                                                           *Instance
	fipID                                                               string
	fip                                                                 netip.Addr
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) step(cmd string) { d.say("\n$ %s", cmd) }

// check retries fn until it succeeds or the deadline passes (the agents
// converge asynchronously), then prints the outcome.
func (d *demo) check(ctx context.Context, what string, within time.Duration, fn func() (string, error)) error {
	d.checks++
	deadline := time.Now().Add(within)
	for {
		detail, err := fn()
		if err == nil {
			if detail != "" {
				what += ": " + detail
			}
			d.say("   ✓ %s", what)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			d.failed++
			d.say("   ✗ %s: %v", what, err)
			return fmt.Errorf("%s: %w", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkNone is check's negative twin: fn must fail on every try for
// the whole window (a filter that drops is seen only as silence), and
// the outcome is printed.
func (d *demo) checkNone(ctx context.Context, what string, window time.Duration, fn func() error) error {
	d.checks++
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err := fn(); err == nil {
			d.failed++
			d.say("   ✗ %s: it answered", what)
			return fmt.Errorf("%s: it answered", what)
		}
	}
	d.say("   ✓ %s", what)
	return nil
}

func (d *demo) create(ctx context.Context, path, key string, body map[string]any) (map[string]any, error) {
	var resp map[string]map[string]any
	if err := d.c.Do(ctx, "POST", path, map[string]any{key: body}, &resp); err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	return resp[key], nil
}

func (d *demo) external(ctx context.Context) error {
	d.step("openstack network create --external --provider-network-type flat --provider-physical-network external EXT_NET")
	n, err := d.create(ctx, "/v2.0/networks", "network", map[string]any{"name": "EXT_NET", "router:external": true,
		"provider:network_type": "flat", "provider:physical_network": Physnet})
	if err != nil {
		return err
	}
	d.extNet = n["id"].(string)
	d.step("openstack subnet create --network EXT_NET --subnet-range 203.0.113.0/24 --gateway 203.0.113.1 --allocation-pool start=203.0.113.100,end=203.0.113.199 --no-dhcp EXT_SUBNET")
	sub, err := d.create(ctx, "/v2.0/subnets", "subnet", map[string]any{"name": "EXT_SUBNET", "network_id": d.extNet, "ip_version": 4,
		"cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1", "enable_dhcp": false,
		"allocation_pools": []map[string]string{{"start": "203.0.113.100", "end": "203.0.113.199"}}})
	if err != nil {
		return err
	}
	d.extSubnet = sub["id"].(string)
	d.say("   network %s, subnet %s", d.extNet, d.extSubnet)
	return nil
}

func (d *demo) routerNS() string {
	return "qrouter-" + d.routerID + AgentSuffix(d.s.Prefix, "network1")
}

func (d *demo) router(ctx context.Context) error {
	d.step("openstack router create --centralized NEUTRON-ROUTER")
	r, err := d.create(ctx, "/v2.0/routers", "router", map[string]any{"name": "NEUTRON-ROUTER", "distributed": false})
	if err != nil {
		return err
	}
	d.routerID = r["id"].(string)
	d.step("openstack router set --external-gateway EXT_NET NEUTRON-ROUTER")
	var resp map[string]map[string]any
	if err := d.c.Do(ctx, "PUT", "/v2.0/routers/"+d.routerID, map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{"network_id": d.extNet}}}, &resp); err != nil {
		return err
	}
	gw := resp["router"]["external_gateway_info"].(map[string]any)["external_fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	d.gatewayIP = netip.MustParseAddr(gw)
	d.say("   router %s, gateway address %s", d.routerID, gw)
	if err := d.check(ctx, "network1 holds "+d.routerNS()+" with qg- at "+gw+"/24", 30*time.Second, func() (string, error) {
		return d.deviceWith("qg-", gw+"/24")
	}); err != nil {
		return err
	}
	if err := d.check(ctx, "the router namespace reaches the upstream gateway 203.0.113.1", 10*time.Second, func() (string, error) {
		return "", d.ping(ctx, d.routerNS(), "203.0.113.1")
	}); err != nil {
		return err
	}
	return d.check(ctx, "the router's gateway address answers from the external network (upstream pings "+gw+")", 10*time.Second, func() (string, error) {
		return "", d.s.Ping(ctx, "upstream", d.gatewayIP)
	})
}

// deviceWith reports the router namespace's device with a prefix and an
// address.
func (d *demo) deviceWith(prefix, addr string) (string, error) {
	h, err := handle(d.routerNS())
	if err != nil {
		return "", err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return "", err
	}
	want := netip.MustParsePrefix(addr)
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Name, prefix) {
			continue
		}
		addrs, _ := h.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			ones, _ := a.Mask.Size()
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && netip.PrefixFrom(ip, ones) == want {
				return l.Attrs().Name, nil
			}
		}
	}
	return "", fmt.Errorf("no %s* device with %s in %s", prefix, addr, d.routerNS())
}

func (d *demo) ping(ctx context.Context, ns, dst string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return PingIn(ctx, ns, netip.MustParseAddr(dst))
}

func (d *demo) tenants(ctx context.Context) error {
	for _, t := range []struct {
		net, subnet, cidr, gw string
		netID, subID          *string
	}{{"APPS_NET", "APPS_SUBNET", "10.241.0.0/22", "10.241.0.1", &d.appsNet, &d.appsSubnet}, {"DMZ_NET", "DMZ_SUBNET", "10.242.0.0/22", "10.242.0.1", &d.dmzNet, &d.dmzSubnet}} {
		d.step("openstack network create " + t.net + "   # VXLAN, the tenant network type")
		n, err := d.create(ctx, "/v2.0/networks", "network", map[string]any{"name": t.net})
		if err != nil {
			return err
		}
		*t.netID = n["id"].(string)
		d.say("   network %s: vxlan %v, mtu %v", *t.netID, n["provider:segmentation_id"], n["mtu"])
		d.step("openstack subnet create --network " + t.net + " --subnet-range " + t.cidr + " --dns-nameserver 8.8.8.8 --dns-nameserver 4.2.2.2 " + t.subnet)
		sub, err := d.create(ctx, "/v2.0/subnets", "subnet", map[string]any{"name": t.subnet, "network_id": *t.netID, "ip_version": 4,
			"cidr": t.cidr, "dns_nameservers": []string{"8.8.8.8", "4.2.2.2"}})
		if err != nil {
			return err
		}
		*t.subID = sub["id"].(string)
		d.step("openstack router add subnet NEUTRON-ROUTER " + t.subnet)
		if err := d.c.Do(ctx, "PUT", "/v2.0/routers/"+d.routerID+"/add_router_interface", map[string]any{"subnet_id": *t.subID}, nil); err != nil {
			return err
		}
		gw := t.gw
		if err := d.check(ctx, "the router namespace holds a qr- device with "+gw, 30*time.Second, func() (string, error) {
			return d.deviceWith("qr-", gw+"/22")
		}); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) instances(ctx context.Context) error {
	var err error
	d.step("nova boot --nic net-id=APPS_NET APPS_INSTANCE   # neutrino sandbox boot --network APPS_NET --host compute1 APPS_INSTANCE")
	if d.apps, err = d.s.Boot(ctx, BootOptions{Name: "APPS_INSTANCE", Network: d.appsNet, Host: "compute1"}); err != nil {
		return err
	}
	d.say("   APPS_INSTANCE on compute1 got %s by DHCP", d.apps.IP)
	d.step("nova boot --nic net-id=DMZ_NET DMZ_INSTANCE   # neutrino sandbox boot --network DMZ_NET --host compute2 DMZ_INSTANCE")
	if d.dmz, err = d.s.Boot(ctx, BootOptions{Name: "DMZ_INSTANCE", Network: d.dmzNet, Host: "compute2"}); err != nil {
		return err
	}
	d.say("   DMZ_INSTANCE on compute2 got %s by DHCP", d.dmz.IP)
	return nil
}

// securityGroup opens the default group to ICMP and SSH from anywhere,
// as the walkthrough's user does: the agent enforces security groups,
// and the default group lets in only its own members.
func (d *demo) securityGroup(ctx context.Context) error {
	var resp struct {
		Port struct {
			SecurityGroups []string `json:"security_groups"`
		} `json:"port"`
	}
	if err := d.c.Do(ctx, "GET", "/v2.0/ports/"+d.apps.PortID, nil, &resp); err != nil {
		return err
	}
	for _, r := range []struct {
		step string
		rule map[string]any
	}{
		{"openstack security group rule create --proto icmp default", map[string]any{"protocol": "icmp"}},
		{"openstack security group rule create --proto tcp --dst-port 22 default", map[string]any{"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}},
	} {
		d.step(r.step)
		for _, g := range resp.Port.SecurityGroups {
			body := map[string]any{"security_group_id": g, "direction": "ingress", "ethertype": "IPv4"}
			for k, v := range r.rule {
				body[k] = v
			}
			if _, err := d.create(ctx, "/v2.0/security-group-rules", "security_group_rule", body); err != nil {
				return err
			}
		}
	}
	return nil
}

func addrOf(in *Instance) netip.Addr { return netip.MustParsePrefix(in.IP).Addr() }

func (d *demo) routing(ctx context.Context) error {
	d.say("\n# Routing between the tenant networks, and SNAT to the outside")
	if err := d.check(ctx, "APPS_INSTANCE reaches DMZ_INSTANCE "+addrOf(d.dmz).String()+" through the router", 10*time.Second, func() (string, error) {
		return "", d.s.Ping(ctx, "APPS_INSTANCE", addrOf(d.dmz))
	}); err != nil {
		return err
	}
	echo, err := d.s.ListenEcho("internet", ":8080")
	if err != nil {
		return err
	}
	defer echo.Close()
	for _, in := range []*Instance{d.apps, d.dmz} {
		if err := d.check(ctx, in.Name+" reaches the internet host 198.51.100.10, which sees the router's gateway address", 10*time.Second, func() (string, error) {
			peer, err := d.s.PeerSeen(ctx, in.Name, "198.51.100.10:8080")
			if err != nil {
				return "", err
			}
			if peer != d.gatewayIP.String() {
				return "", fmt.Errorf("the internet host saw %s, not %s", peer, d.gatewayIP)
			}
			return "source " + peer, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) floatingIP(ctx context.Context) error {
	d.step("openstack floating ip create EXT_NET --port <APPS_INSTANCE's port>")
	f, err := d.create(ctx, "/v2.0/floatingips", "floatingip", map[string]any{"floating_network_id": d.extNet, "port_id": d.apps.PortID})
	if err != nil {
		return err
	}
	d.fipID = f["id"].(string)
	d.fip = netip.MustParseAddr(f["floating_ip_address"].(string))
	d.say("   floating IP %s -> %s", d.fip, addrOf(d.apps))
	if err := d.check(ctx, "the internet host pings the floating IP "+d.fip.String(), 10*time.Second, func() (string, error) {
		return "", d.s.Ping(ctx, "internet", d.fip)
	}); err != nil {
		return err
	}
	in, err := d.s.ListenEcho("APPS_INSTANCE", ":22")
	if err != nil {
		return err
	}
	defer in.Close()
	if err := d.check(ctx, "a TCP connection from the internet host to "+d.fip.String()+":22 reaches APPS_INSTANCE from 198.51.100.10", 10*time.Second, func() (string, error) {
		peer, err := d.s.PeerSeen(ctx, "internet", d.fip.String()+":22")
		if err != nil {
			return "", err
		}
		if peer != "198.51.100.10" {
			return "", fmt.Errorf("APPS_INSTANCE saw %s", peer)
		}
		return "", nil
	}); err != nil {
		return err
	}
	echo, err := d.s.ListenEcho("internet", ":8081")
	if err != nil {
		return err
	}
	defer echo.Close()
	if err := d.check(ctx, "APPS_INSTANCE's outbound connections now come from its floating IP", 10*time.Second, func() (string, error) {
		peer, err := d.s.PeerSeen(ctx, "APPS_INSTANCE", "198.51.100.10:8081")
		if err != nil {
			return "", err
		}
		if peer != d.fip.String() {
			return "", fmt.Errorf("the internet host saw %s", peer)
		}
		return "source " + peer, nil
	}); err != nil {
		return err
	}
	return d.check(ctx, "the floating IP is ACTIVE", 10*time.Second, func() (string, error) {
		var resp map[string]map[string]any
		if err := d.c.Do(ctx, "GET", "/v2.0/floatingips/"+d.fipID, nil, &resp); err != nil {
			return "", err
		}
		if st := resp["floatingip"]["status"]; st != "ACTIVE" {
			return "", fmt.Errorf("status %v", st)
		}
		return "", nil
	})
}

func (d *demo) moveFloatingIP(ctx context.Context) error {
	d.step("openstack floating ip set --port <DMZ_INSTANCE's port> " + d.fip.String())
	in, err := d.s.ListenEcho("DMZ_INSTANCE", ":22")
	if err != nil {
		return err
	}
	defer in.Close()
	start := time.Now()
	if err := d.c.Do(ctx, "PUT", "/v2.0/floatingips/"+d.fipID, map[string]any{"floatingip": map[string]any{"port_id": d.dmz.PortID}}, nil); err != nil {
		return err
	}
	return d.check(ctx, "connections to "+d.fip.String()+":22 now reach DMZ_INSTANCE", 5*time.Second, func() (string, error) {
		if _, err := d.s.PeerSeen(ctx, "internet", d.fip.String()+":22"); err != nil {
			return "", err
		}
		// APPS_INSTANCE no longer listens on :22, so an answer is DMZ's.
		return fmt.Sprintf("moved in %v", time.Since(start).Round(time.Millisecond)), nil
	})
}

func (d *demo) metadata(ctx context.Context) error {
	d.say("\n# Metadata through the router")
	var port map[string]map[string]any
	if err := d.c.Do(ctx, "GET", "/v2.0/ports/"+d.apps.PortID, nil, &port); err != nil {
		return err
	}
	want, _ := port["port"]["device_id"].(string)
	if want == "" {
		return errors.New("APPS_INSTANCE's port has no device_id")
	}
	return d.check(ctx, "APPS_INSTANCE fetches http://169.254.169.254/latest/meta-data/instance-id and gets its own id", 10*time.Second, func() (string, error) {
		code, body, err := d.s.HTTPGet(ctx, "APPS_INSTANCE", "http://169.254.169.254/latest/meta-data/instance-id")
		if err != nil {
			return "", err
		}
		if code != 200 || strings.TrimSpace(body) != want {
			return "", fmt.Errorf("HTTP %d %q, want %s", code, body, want)
		}
		return want, nil
	})
}
