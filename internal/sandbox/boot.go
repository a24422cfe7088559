package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/agent/dhcp/client"
	"github.com/neutrino-net/neutrino/internal/dataplane"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// BootOptions describe a fake instance.
type BootOptions struct {
	Name    string
	Network string // name or id
	Host    string
	// Project (name or id) owns the port; empty = the project that owns
	// the network, as Nova creates the port with its user's token.
	Project string
	// DHCPTimeout bounds the wait for a lease (default 30s): the agent
	// needs a moment to plug the tap and to serve DHCP on the network.
	DHCPTimeout time.Duration
	// FixedIP asks for this address instead of the next free one.
	FixedIP string
	// SecurityGroups (ids) replace the project's default group when set.
	SecurityGroups []string
	// PortCreated, if set, is called once the port exists (the API
	// answered), before the instance is plugged: benchmarks time from
	// there.
	PortCreated func(portID string)
}

// Boot creates a port bound to the host and a fake instance: namespace
// <p>-vm-NAME with eth0 (the port's MAC, the network's MTU) whose veth
// peer tap<port id> is left in the host's namespace for the agent to
// plug; eth0 then gets its address, routes and MTU by a real DHCP
// exchange. On failure the port and the namespace are removed again.
func (s *State) Boot(ctx context.Context, o BootOptions) (_ *Instance, err error) {
	if err := requireRoot(); err != nil {
		return nil, err
	}
	if err := ValidateInstanceName(o.Name); err != nil {
		return nil, err
	}
	if _, ok := s.Host(o.Host); !ok {
		return nil, fmt.Errorf("unknown host %s (the sandbox has network1 and compute1..%d)", o.Host, s.Computes)
	}
	if o.Network == "" {
		return nil, errors.New("no network given (--network NAME or ID)")
	}
	if o.DHCPTimeout == 0 {
		o.DHCPTimeout = 30 * time.Second
	}
	inst := &Instance{Name: o.Name, Host: o.Host, Netns: InstanceNS(s.Prefix, o.Name)}
	// Claim the name first, so that two boots of one name cannot race.
	err = updateInstances(s.Dir, func(is []Instance) ([]Instance, error) {
		if slices.ContainsFunc(is, func(i Instance) bool { return i.Name == o.Name }) {
			return nil, fmt.Errorf("instance %s exists", o.Name)
		}
		// Hashed namespace names (InstanceNS) are kept unique.
		if i := slices.IndexFunc(is, func(i Instance) bool { return i.Netns == inst.Netns }); i >= 0 {
			return nil, fmt.Errorf("instance name %q would share namespace %s with instance %q: choose another name", o.Name, inst.Netns, is[i].Name)
		}
		if nsExists(inst.Netns) {
			return nil, fmt.Errorf("instance %s exists (namespace %s)", o.Name, inst.Netns)
		}
		return append(is, *inst), nil
	})
	if err != nil {
		return nil, err
	}
	c, err := s.adminClient(ctx)
	if err != nil {
		s.forget(o.Name)
		return nil, err
	}
	defer func() {
		if err != nil {
			if inst.PortID != "" {
				c.do(context.Background(), http.MethodDelete, "/v2.0/ports/"+inst.PortID, nil, nil)
			}
			deleteNS(inst.Netns)
			s.forget(o.Name)
		}
	}()
	nw, err := c.network(ctx, o.Network)
	if err != nil {
		return nil, err
	}
	inst.NetworkID = nw.ID
	project := nw.ProjectID
	if o.Project != "" {
		if project, err = c.projectID(ctx, o.Project); err != nil {
			return nil, err
		}
	}
	var pr struct {
		Port struct {
			ID  string `json:"id"`
			MAC string `json:"mac_address"`
		} `json:"port"`
	}
	if err := c.do(ctx, http.MethodPost, "/v2.0/ports", portRequest(o, nw.ID, project), &pr); err != nil {
		return nil, fmt.Errorf("create port on network %s bound to %s: %w", o.Network, o.Host, err)
	}
	inst.PortID, inst.MAC, inst.Tap = pr.Port.ID, pr.Port.MAC, TapName(pr.Port.ID)
	if o.PortCreated != nil {
		o.PortCreated(inst.PortID)
	}
	if err := s.plugInstance(inst, nw.MTU); err != nil {
		return nil, err
	}
	lease, err := acquire(ctx, NSPath(inst.Netns), "eth0", o.DHCPTimeout)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w (see the agent log %s/logs/agent-%s.log)", o.Name, err, s.Dir, o.Host)
	}
	if err := applyLease(inst.Netns, "eth0", lease); err != nil {
		return nil, err
	}
	// Announce the address as a booting OS does: a neighbour that cached
	// this IP for an earlier instance (addresses are reused) learns the
	// new MAC at once instead of after its entry times out.
	if h, err := netns.GetFromPath(NSPath(inst.Netns)); err == nil {
		dataplane.SendGARP(h, "eth0", lease.Address.Addr(), 1)
		h.Close()
	}
	inst.IP = lease.Address.String()
	err = updateInstances(s.Dir, func(is []Instance) ([]Instance, error) {
		for i := range is {
			if is[i].Name == o.Name {
				is[i] = *inst
			}
		}
		return is, nil
	})
	return inst, err
}

// portRequest is the port Nova would create for the instance: bound to
// its host, owned by project (so it gets that project's default security
// group, as a port created with the project user's token does).
func portRequest(o BootOptions, networkID, project string) map[string]any {
	p := map[string]any{
		"network_id":      networkID,
		"name":            o.Name,
		"device_owner":    "compute:nova",
		"device_id":       uuid.NewString(),
		"binding:host_id": o.Host,
		"project_id":      project,
	}
	if o.FixedIP != "" {
		p["fixed_ips"] = []map[string]string{{"ip_address": o.FixedIP}}
	}
	if o.SecurityGroups != nil {
		p["security_groups"] = o.SecurityGroups
	}
	return map[string]any{"port": p}
}

func (s *State) forget(name string) {
	updateInstances(s.Dir, func(is []Instance) ([]Instance, error) {
		return slices.DeleteFunc(is, func(i Instance) bool { return i.Name == name }), nil
	})
}

type network struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	ProjectID string `json:"project_id"`
	MTU       int    `json:"mtu"`
}

// network finds a network by name, else by id.
func (c *apiClient) network(ctx context.Context, ref string) (*network, error) {
	var list struct {
		Networks []network `json:"networks"`
	}
	if err := c.do(ctx, http.MethodGet, "/v2.0/networks?name="+url.QueryEscape(ref), nil, &list); err != nil {
		return nil, err
	}
	switch len(list.Networks) {
	case 1:
		return &list.Networks[0], nil
	case 0:
	default:
		return nil, fmt.Errorf("%d networks are named %s: give the id", len(list.Networks), ref)
	}
	var one struct {
		Network network `json:"network"`
	}
	if err := c.do(ctx, http.MethodGet, "/v2.0/networks/"+url.PathEscape(ref), nil, &one); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return nil, fmt.Errorf("no network named %s", ref)
		}
		return nil, err
	}
	return &one.Network, nil
}

// plugInstance makes the instance namespace and its veth pair: eth0 in
// the instance (MAC of the port), tap in the host's namespace, both up
// with the network's MTU.
func (s *State) plugInstance(in *Instance, mtu int) error {
	mac, err := net.ParseMAC(in.MAC)
	if err != nil {
		return fmt.Errorf("port %s has a bad MAC %q", in.PortID, in.MAC)
	}
	if mtu <= 0 {
		mtu = FabricMTU
	}
	if err := createNS(in.Netns); err != nil {
		return err
	}
	hostNS := NodeNS(s.Prefix, in.Host)
	h, err := handle(hostNS)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := vethInto(h, hostNS, in.Tap, 0, in.Netns, "eth0", mtu, mac); err != nil {
		return err
	}
	return configure(in.Netns, "eth0", netip.Prefix{}, netip.Addr{})
}

// acquire gets a DHCP lease within the timeout (client.Acquire retries).
func acquire(ctx context.Context, nsPath, ifName string, timeout time.Duration) (*client.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := client.Acquire(ctx, nsPath, ifName)
	if err != nil {
		return nil, fmt.Errorf("no DHCP lease after %s: %w", timeout, err)
	}
	return r, nil
}

// applyLease configures what DHCP gave: the address, the MTU, and the
// classless routes (option 121), or else a default route via the router
// (RFC 3442: a client that uses option 121 ignores option 3).
func applyLease(ns, ifName string, l *client.Result) error {
	h, err := handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", ifName, ns, err)
	}
	if l.MTU > 0 && l.MTU != link.Attrs().MTU {
		if err := h.LinkSetMTU(link, l.MTU); err != nil {
			return fmt.Errorf("set MTU %d on %s in %s: %w", l.MTU, ifName, ns, err)
		}
	}
	if err := h.AddrReplace(link, &netlink.Addr{IPNet: ipNet(l.Address)}); err != nil {
		return fmt.Errorf("add address %s to %s in %s: %w", l.Address, ifName, ns, err)
	}
	routes := l.Routes
	if len(routes) == 0 && l.Router.IsValid() && !l.Router.IsUnspecified() {
		routes = []client.Route{{Destination: netip.PrefixFrom(netip.IPv4Unspecified(), 0), NextHop: l.Router}}
	}
	// On-link routes first: a gateway must be reachable when its route
	// is added.
	slices.SortStableFunc(routes, func(a, b client.Route) int {
		return boolInt(a.NextHop.IsValid() && !a.NextHop.IsUnspecified()) - boolInt(b.NextHop.IsValid() && !b.NextHop.IsUnspecified())
	})
	for _, r := range routes {
		nr := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(r.Destination.Masked())}
		if r.NextHop.IsValid() && !r.NextHop.IsUnspecified() {
			nr.Gw = r.NextHop.AsSlice()
		} else {
			nr.Scope = netlink.SCOPE_LINK
		}
		if err := h.RouteReplace(nr); err != nil {
			return fmt.Errorf("add route %s via %s in %s: %w", r.Destination, r.NextHop, ns, err)
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Remove deletes an instance: its port and its namespace (which takes
// the tap in the host's namespace with it).
func (s *State) Remove(ctx context.Context, name string) error {
	if err := requireRoot(); err != nil {
		return err
	}
	is, err := s.Instances()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(is, func(i Instance) bool { return i.Name == name })
	if i < 0 {
		return fmt.Errorf("no instance named %s", name)
	}
	in := is[i]
	var errs []error
	if in.PortID != "" {
		c, err := s.adminClient(ctx)
		if err == nil {
			err = c.do(ctx, http.MethodDelete, "/v2.0/ports/"+in.PortID, nil, nil)
			if isStatus(err, http.StatusNotFound) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("delete port %s of %s: %w", in.PortID, name, err))
		}
	}
	if err := deleteNS(in.Netns); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		s.forget(name)
	}
	return errors.Join(errs...)
}
