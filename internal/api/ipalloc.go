package api

import (
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

func (a *API) generateMAC(v *store.View, t *store.Txn, netID string) (string, error) {
	for range 32 {
		mac, err := ipam.GenerateMAC(a.cfg.BaseMAC, rand.IntN)
		if err != nil {
			return "", err
		}
		if _, used := v.Claim(claims.MAC(netID), mac); !used && !t.Claimed(claims.MAC(netID), mac) {
			return mac, nil
		}
	}
	return "", newErr(500, "MacAddressGenerationFailure", "Unable to generate unique mac on network %s.", netID)
}

func poolsOf(s *model.Subnet) []ipam.Pool {
	out := make([]ipam.Pool, 0, len(s.AllocationPools))
	for _, p := range s.AllocationPools {
		if pp, err := ipam.ParsePool(p.Start, p.End); err == nil {
			out = append(out, pp)
		}
	}
	return out
}

// allocateIPs resolves a port's fixed_ips request (nil = automatic) into
// addresses and claims them in t. keep holds addresses the port already
// has (on update) that stay claimed.
func (a *API) allocateIPs(v *store.View, t *store.Txn, c *reqCtx, n *model.Network, p *model.Port, reqIPs []fixedIPReq, keep []model.FixedIP, netOwner bool) ([]model.FixedIP, error) {
	al := &ipAllocator{v: v, t: t, n: n, p: p, keep: keep, subnets: hostview.SubnetsOf(v, n), byID: map[string]*model.Subnet{}}
	for _, s := range al.subnets {
		al.byID[s.ID] = s
	}
	al.lowest = p.DeviceOwner == model.OwnerDHCP || p.DeviceOwner == model.OwnerDistributed
	var out []model.FixedIP
	var err error
	if reqIPs == nil {
		out, err = al.automatic()
	} else {
		out, err = al.requested(reqIPs, netOwner)
	}
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []model.FixedIP{}
	}
	// Claim what is new; depend on the subnets read (pools may change).
	for _, ip := range out {
		s := al.byID[ip.SubnetID]
		if se, ok := v.Get(model.KindSubnet, s.ID); ok {
			t.Require(model.KindSubnet, se)
		}
		if al.owned(s, ip.IPAddress) {
			continue
		}
		// A claim this transaction already holds (false) would give
		// the address twice: refuse rather than store it.
		if !t.Claim(claims.IP(s.ID), ip.IPAddress, p.ID) {
			return nil, conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", ip.IPAddress, s.ID)
		}
	}
	return out, nil
}

// ipAllocator resolves one port's addresses on one network.
type ipAllocator struct {
	v       *store.View
	t       *store.Txn
	n       *model.Network
	p       *model.Port
	keep    []model.FixedIP
	subnets []*model.Subnet
	byID    map[string]*model.Subnet
	lowest  bool // DHCP and distributed ports take the lowest free address
	// chosen is what the port was given so far in this request: not
	// claimed until the whole request is resolved, so pick must skip
	// it itself (a port asking twice for "any address of subnet S" got
	// the same address twice).
	chosen []model.FixedIP
}

// pick returns a free address of the subnet's pools: counted from the
// ordered set of the subnet's claimed addresses when the store keeps it
// (hostview.Indexes), else by walking the pools.
func (al *ipAllocator) pick(s *model.Subnet) (string, bool) {
	group := claims.IP(s.ID)
	if set, ok := hostview.ClaimedAddrs(al.v, s.ID); ok {
		// This transaction's claims (other ports of a bulk create) and
		// what the port was given already are used too.
		var extra []netip.Addr
		for m := range al.t.ClaimedMembers(group) {
			if a, err := netip.ParseAddr(m); err == nil {
				extra = append(extra, a)
			}
		}
		for _, c := range al.chosen {
			if c.SubnetID != s.ID {
				continue
			}
			if a, err := netip.ParseAddr(c.IPAddress); err == nil {
				extra = append(extra, a)
			}
		}
		addr, ok := ipam.PickSet(poolsOf(s), set, extra, al.lowest, rand.IntN)
		return addr.String(), ok
	}
	used := al.v.Claims(group)
	// Pick walks past every used address of the pool, so the check
	// formats into a reused buffer: map lookups keyed by string(buf)
	// do not allocate.
	var buf [64]byte
	addr, ok := ipam.Pick(poolsOf(s), func(ip netip.Addr) bool {
		b := ip.AppendTo(buf[:0])
		if _, u := used[string(b)]; u {
			return true
		}
		return al.t.Claimed(group, string(b)) || al.isChosen(s.ID, b)
	}, al.lowest, rand.IntN)
	return addr.String(), ok
}

// isChosen reports whether the port was given the address (formatted
// in b) earlier in this request.
func (al *ipAllocator) isChosen(subnetID string, b []byte) bool {
	for _, c := range al.chosen {
		if c.SubnetID == subnetID && c.IPAddress == string(b) {
			return true
		}
	}
	return false
}

// owned reports whether the port already has the address.
func (al *ipAllocator) owned(s *model.Subnet, ip string) bool {
	for _, k := range al.keep {
		if k.SubnetID == s.ID && k.IPAddress == ip {
			return true
		}
	}
	return false
}

func (al *ipAllocator) exhausted() error {
	return conflict("IpAddressGenerationFailure", "No more IP addresses available on network %s.", al.n.ID)
}

// slaac is the port's SLAAC address on an IPv6 subnet.
func (al *ipAllocator) slaac(s *model.Subnet) (model.FixedIP, error) {
	ip, err := ipam.EUI64(s.Prefix(), al.p.MACAddress)
	if err != nil {
		return model.FixedIP{}, err
	}
	return model.FixedIP{SubnetID: s.ID, IPAddress: ip.String()}, nil
}

// automatic allocates for a port that asked for nothing: one IPv4 from
// the first subnet with room, one from the first stateful IPv6 subnet,
// plus SLAAC addresses.
func (al *ipAllocator) automatic() ([]model.FixedIP, error) {
	var out []model.FixedIP
	var v4, v6 []*model.Subnet
	for _, s := range al.subnets {
		if !s.AllowsOwner(al.p.DeviceOwner) {
			continue
		}
		if s.IPVersion == 4 {
			v4 = append(v4, s)
		} else {
			v6 = append(v6, s)
		}
	}
	if len(v4) > 0 {
		got := false
		for _, s := range v4 {
			if ip, ok := al.pick(s); ok {
				out = append(out, model.FixedIP{SubnetID: s.ID, IPAddress: ip})
				got = true
				break
			}
		}
		if !got {
			return nil, al.exhausted()
		}
	}
	gotStateful := false
	for _, s := range v6 {
		if isSLAAC(s) {
			ip, err := al.slaac(s)
			if err != nil {
				return nil, err
			}
			out = append(out, ip)
			continue
		}
		if gotStateful {
			continue
		}
		if ip, ok := al.pick(s); ok {
			out = append(out, model.FixedIP{SubnetID: s.ID, IPAddress: ip})
			gotStateful = true
		}
	}
	if len(out) == 0 && len(al.subnets) > 0 && len(v4)+len(v6) > 0 {
		return nil, al.exhausted()
	}
	return out, nil
}

// requested resolves the fixed_ips a port asked for: the given addresses
// first, so that "any address" never takes one the port asks for by
// name later in its list; the result keeps the request's order.
func (al *ipAllocator) requested(reqIPs []fixedIPReq, netOwner bool) ([]model.FixedIP, error) {
	subnets := make([]*model.Subnet, len(reqIPs))
	out := make([]model.FixedIP, len(reqIPs))
	for i, r := range reqIPs {
		if r.SubnetID != "" {
			s := al.byID[r.SubnetID]
			if s == nil {
				if _, exists := al.v.Get(model.KindSubnet, r.SubnetID); !exists {
					return nil, notFound("SubnetNotFound", "Subnet %s could not be found.", r.SubnetID)
				}
				return nil, invalidInput("Failed to create port on network %s, because fixed_ips included invalid subnet %s", al.n.ID, r.SubnetID)
			}
			subnets[i] = s
		}
		if r.IPAddress == "" {
			continue
		}
		ip, err := al.given(subnets[i], r.IPAddress, al.chosen, netOwner)
		if err != nil {
			return nil, err
		}
		out[i] = ip
		al.chosen = append(al.chosen, ip)
	}
	for i, r := range reqIPs {
		if r.IPAddress != "" {
			continue
		}
		ip, err := al.anyOn(subnets[i])
		if err != nil {
			return nil, err
		}
		out[i] = ip
		al.chosen = append(al.chosen, ip)
	}
	return out, nil
}

// anyOn allocates any address of the subnet.
func (al *ipAllocator) anyOn(s *model.Subnet) (model.FixedIP, error) {
	if s == nil {
		return model.FixedIP{}, invalidInput("IP allocation requires subnet_id or ip_address")
	}
	if isSLAAC(s) {
		return al.slaac(s)
	}
	ip, ok := al.pick(s)
	if !ok {
		return model.FixedIP{}, al.exhausted()
	}
	return model.FixedIP{SubnetID: s.ID, IPAddress: ip}, nil
}

// given checks a requested address (on subnet s, or on the network's
// subnet that contains it when s is nil); out is what the port got so far.
func (al *ipAllocator) given(s *model.Subnet, address string, out []model.FixedIP, netOwner bool) (model.FixedIP, error) {
	addr, err := netip.ParseAddr(address)
	if err != nil {
		return model.FixedIP{}, invalidInput("%s is not a valid IP address", address)
	}
	if s == nil {
		for _, cand := range al.subnets {
			if cand.Prefix().Contains(addr) {
				s = cand
				break
			}
		}
		if s == nil {
			return model.FixedIP{}, newErr(400, "InvalidIpForNetwork", "IP address %s is not a valid IP for any of the subnets on the specified network.", addr)
		}
	}
	if err := ipam.ValidateFixedIP(s.Prefix(), addr); err != nil {
		return model.FixedIP{}, err
	}
	ip := addr.String()
	fip := model.FixedIP{SubnetID: s.ID, IPAddress: ip}
	if al.owned(s, ip) {
		return fip, nil
	}
	if !netOwner {
		return model.FixedIP{}, policyDenied("create_port:fixed_ips:ip_address")
	}
	if slices.Contains(out, fip) {
		return model.FixedIP{}, invalidInput("Duplicate IP address '%s'", ip)
	}
	if _, used := al.v.Claim(claims.IP(s.ID), ip); used || al.t.Claimed(claims.IP(s.ID), ip) {
		return model.FixedIP{}, conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", ip, s.ID)
	}
	return fip, nil
}

func isSLAAC(s *model.Subnet) bool {
	return s.IPVersion == 6 && s.IPv6AddressMode != nil && (*s.IPv6AddressMode == "slaac" || *s.IPv6AddressMode == "dhcpv6-stateless")
}
