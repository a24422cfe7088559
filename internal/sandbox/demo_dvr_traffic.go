package sandbox

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The DVR walkthrough's traffic steps: from the instance, the floating
// IP, security group rules, and the east-west flow.

func (d *dvrDemo) fromInstance(ctx context.Context) error {
	d.say("\n# Obtain console access to the instance (neutrino sandbox exec demo-instance1 -- ...)")
	d.step("ping -c 4 192.168.1.1   # on demo-instance1")
	gw := netip.MustParseAddr("192.168.1.1")
	if err := d.check(ctx, "demo-instance1 reaches its router 192.168.1.1 (the qr- device on compute1)", dvrPingWait, func() (string, error) {
		return "", d.pingFrom(ctx, "demo-instance1", gw)
	}); err != nil {
		return err
	}
	d.step("ping -c 4 " + InternetIP.String() + "   # on demo-instance1: the sandbox's internet host")
	if err := d.check(ctx, "demo-instance1 reaches the internet host "+InternetIP.String()+" (SNAT on "+d.snatHost+")", dvrPingWait, func() (string, error) {
		return "", d.pingFrom(ctx, "demo-instance1", InternetIP)
	}); err != nil {
		return err
	}
	echo, err := d.s.ListenEcho(NodeInternet, ":8080")
	if err != nil {
		return err
	}
	defer echo.Close()
	return d.check(ctx, "the internet host sees demo-router's gateway address "+d.gatewayIP.String()+" as the source", dvrPingWait, func() (string, error) {
		return d.peerIs(ctx, "demo-instance1", InternetIP.String()+":8080", d.gatewayIP)
	})
}

// peerIs connects from node to an EchoServer at addr and checks the
// source address it saw.
func (d *dvrDemo) peerIs(ctx context.Context, node, addr string, want netip.Addr) (string, error) {
	peer, err := d.s.PeerSeen(ctx, node, addr)
	if err != nil {
		return "", err
	}
	if peer != want.String() {
		return "", fmt.Errorf("seen from %s, want %s", peer, want)
	}
	return "source " + peer, nil
}

// floatingIP creates and associates the floating IP, checks the fip-
// namespace and that demo-instance1's outbound connections come from the
// floating IP, then that nothing comes in yet: the default group admits
// only its own members. The demo does this before the walkthrough's
// security group step so that the rules' effect can be seen.
func (d *dvrDemo) floatingIP(ctx context.Context) error {
	d.step("neutron floatingip-create ext-net   # as demo")
	f, err := d.post(ctx, d.user, "/v2.0/floatingips", "floatingip", map[string]any{"floating_network_id": d.extNet})
	if err != nil {
		return err
	}
	id := f["id"].(string)
	d.fip = netip.MustParseAddr(f["floating_ip_address"].(string))
	d.say("   floating IP %s (%s), status %v", d.fip, id, f["status"])
	d.step("nova floating-ip-associate demo-instance1 " + d.fip.String())
	if err := d.user.Do(ctx, "PUT", "/v2.0/floatingips/"+id, map[string]any{"floatingip": map[string]any{"port_id": d.vm1.PortID}}, nil); err != nil {
		return err
	}
	d.say("   demo-instance1: demo-net=%s, %s", addrOf(d.vm1), d.fip)
	d.step("ip netns   # on compute1")
	if err := d.nsCheck(ctx, "compute1", []string{d.fipNS(), d.qrouter()}, nil); err != nil {
		return err
	}
	echo, err := d.s.ListenEcho(NodeInternet, ":8081")
	if err != nil {
		return err
	}
	defer echo.Close()
	if err := d.check(ctx, "demo-instance1's outbound connections now come from its floating IP (egress is open)", dvrPingWait, func() (string, error) {
		return d.peerIs(ctx, "demo-instance1", InternetIP.String()+":8081", d.fip)
	}); err != nil {
		return err
	}
	if d.ssh, err = d.s.ListenEcho("demo-instance1", ":22"); err != nil {
		return err
	}
	d.say("\n# Before any security group rule: the default group lets in only its own members")
	d.step("ping -c 3 " + d.fip.String() + "   # from the upstream router, on the external network")
	if err := d.checkNone(ctx, "upstream gets no answer from the floating IP "+d.fip.String()+" (3 s)", 3*time.Second, func() error {
		return d.pingFrom(ctx, NodeUpstream, d.fip)
	}); err != nil {
		return err
	}
	d.step("ssh " + d.fip.String() + "   # from the internet host")
	return d.checkNone(ctx, "no TCP connection from the internet host reaches "+d.fip.String()+":22 (3 s)", 3*time.Second, func() error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := d.s.PeerSeen(cctx, NodeInternet, d.fip.String()+":22")
		return err
	})
}

// secgroup adds the walkthrough's rules (ICMP and TCP 22 from anywhere
// into the default group of project demo), then checks that the
// floating IP answers ping and SSH from outside.
func (d *dvrDemo) secgroup(ctx context.Context) error {
	defer d.ssh.Close()
	var sgs struct {
		SecurityGroups []struct {
			ID string `json:"id"`
		} `json:"security_groups"`
	}
	if err := d.user.Do(ctx, "GET", "/v2.0/security-groups?name=default", nil, &sgs); err != nil {
		return err
	}
	if len(sgs.SecurityGroups) != 1 {
		return fmt.Errorf("project demo has %d default security groups", len(sgs.SecurityGroups))
	}
	sg := sgs.SecurityGroups[0].ID
	d.say("\n# Create the appropriate security group rules to allow ping and SSH access to the instance")
	for _, r := range []struct {
		cmd  string
		rule map[string]any
	}{
		{"nova secgroup-add-rule default icmp -1 -1 0.0.0.0/0", map[string]any{"protocol": "icmp"}},
		{"nova secgroup-add-rule default tcp 22 22 0.0.0.0/0", map[string]any{"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}},
	} {
		d.step(r.cmd)
		body := map[string]any{"security_group_id": sg, "direction": "ingress", "ethertype": "IPv4", "remote_ip_prefix": "0.0.0.0/0"}
		for k, v := range r.rule {
			body[k] = v
		}
		if _, err := d.post(ctx, d.user, "/v2.0/security-group-rules", "security_group_rule", body); err != nil {
			return err
		}
	}
	d.step("ping -c 4 " + d.fip.String() + "   # from the upstream router, on the external network")
	if err := d.check(ctx, "upstream pings the floating IP "+d.fip.String()+" (answered through compute1's fip- namespace)", dvrPingWait, func() (string, error) {
		return "", d.pingFrom(ctx, NodeUpstream, d.fip)
	}); err != nil {
		return err
	}
	if err := d.check(ctx, "the internet host pings the floating IP "+d.fip.String(), dvrPingWait, func() (string, error) {
		return "", d.pingFrom(ctx, NodeInternet, d.fip)
	}); err != nil {
		return err
	}
	d.step("ssh " + d.fip.String() + "   # from the internet host")
	return d.check(ctx, "a TCP connection from the internet host to "+d.fip.String()+":22 reaches demo-instance1", dvrPingWait, func() (string, error) {
		return d.peerIs(ctx, NodeInternet, d.fip.String()+":22", InternetIP)
	})
}

func (d *dvrDemo) eastWest(ctx context.Context) error {
	d.say("\n# East-west: a second network on demo-router, an instance on compute2")
	var err error
	if d.net2, d.sub2, err = d.tenantNet(ctx, "demo-net2", "demo-subnet2", "192.168.2.0/24", "192.168.2.1"); err != nil {
		return err
	}
	d.step("neutron router-interface-add demo-router demo-subnet2")
	if err := d.user.Do(ctx, "PUT", "/v2.0/routers/"+d.routerID+"/add_router_interface", map[string]any{"subnet_id": d.sub2}, nil); err != nil {
		return err
	}
	d.step("nova boot --nic net-id=demo-net2 demo-instance2   # neutrino sandbox boot --network demo-net2 --host compute2 demo-instance2")
	if d.vm2, err = d.s.Boot(ctx, BootOptions{Name: "demo-instance2", Network: d.net2, Host: "compute2"}); err != nil {
		return err
	}
	d.say("   demo-instance2 on compute2 got %s by DHCP", d.vm2.IP)
	d.step("ip netns   # on compute2, now that it has an instance of demo-router")
	if err := d.nsCheck(ctx, "compute2", []string{d.qrouter()}, []string{d.snat()}); err != nil {
		return err
	}
	for _, p := range []struct {
		from, to string
		dst      netip.Addr
	}{{"demo-instance1", "demo-instance2", addrOf(d.vm2)}, {"demo-instance2", "demo-instance1", addrOf(d.vm1)}} {
		d.step(fmt.Sprintf("ping -c 4 %s   # on %s", p.dst, p.from))
		if err := d.check(ctx, p.from+" reaches "+p.to+" "+p.dst.String()+", routed on its own host", dvrPingWait, func() (string, error) {
			return "", d.pingFrom(ctx, p.from, p.dst)
		}); err != nil {
			return err
		}
	}
	ssh, err := d.s.ListenEcho("demo-instance2", ":22")
	if err != nil {
		return err
	}
	defer ssh.Close()
	return d.check(ctx, "demo-instance2 sees demo-instance1's own address (no NAT east-west)", 5*time.Second, func() (string, error) {
		return d.peerIs(ctx, "demo-instance1", addrOf(d.vm2).String()+":22", addrOf(d.vm1))
	})
}

// metadata: the instance's metadata request is answered by the proxy in
// its own host's qrouter- (a distributed router has one on every host).
func (d *dvrDemo) metadata(ctx context.Context) error {
	d.step("curl http://169.254.169.254/latest/meta-data/instance-id   # from demo-instance1")
	var port map[string]map[string]any
	if err := d.c.Do(ctx, "GET", "/v2.0/ports/"+d.vm1.PortID, nil, &port); err != nil {
		return err
	}
	want, _ := port["port"]["device_id"].(string)
	return d.check(ctx, "demo-instance1 gets its own instance id from the metadata proxy in compute1's qrouter-", dvrPingWait, func() (string, error) {
		code, body, err := d.s.HTTPGet(ctx, "demo-instance1", "http://169.254.169.254/latest/meta-data/instance-id")
		if err != nil {
			return "", err
		}
		if code != 200 || strings.TrimSpace(body) != want || want == "" {
			return "", fmt.Errorf("HTTP %d %q, want %s", code, body, want)
		}
		return want, nil
	})
}
