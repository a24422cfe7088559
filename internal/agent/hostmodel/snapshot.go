package hostmodel

import (
	"encoding/json"

	"github.com/neutrino-net/neutrino/internal/model"
)

// Snapshot is the model decoded into typed resources at one revision:
// the input of the agent's pure plan functions.
type Snapshot struct {
	Revision     int64
	Host         string
	Networks     map[string]*model.Network
	Subnets      map[string]*model.Subnet
	Ports        map[string]*model.Port
	Agents       map[string]*model.Agent
	Routers      map[string]*model.Router
	FloatingIPs  map[string]*model.FloatingIP
	L3Bindings   map[string]*model.Binding
	DHCPBindings map[string]*model.Binding
	DVRMACs      map[string]*model.DVRMAC // by host
	SGs          map[string]*model.SecurityGroup
	SGRules      map[string]*model.SecurityGroupRule
	// AddressGroups are the address groups the rules of the host's
	// groups refer to (remote_address_group_id).
	AddressGroups map[string]*model.AddressGroup

	// Indexes, built on first use (see PortsOfDevice): planning one
	// router must not scan every port and floating IP of the view.
	portsByDevice  map[string][]*model.Port
	portsByNetwork map[string][]*model.Port
	fipsByRouter   map[string][]*model.FloatingIP
}

// NewSnapshot returns an empty snapshot (for tests).
func NewSnapshot(host string) *Snapshot {
	return &Snapshot{Host: host, Networks: map[string]*model.Network{}, Subnets: map[string]*model.Subnet{},
		Ports: map[string]*model.Port{}, Agents: map[string]*model.Agent{}, Routers: map[string]*model.Router{},
		FloatingIPs: map[string]*model.FloatingIP{}, L3Bindings: map[string]*model.Binding{},
		DHCPBindings: map[string]*model.Binding{}, DVRMACs: map[string]*model.DVRMAC{},
		SGs: map[string]*model.SecurityGroup{}, SGRules: map[string]*model.SecurityGroupRule{},
		AddressGroups: map[string]*model.AddressGroup{}}
}

// Snapshot returns the model's resources at its revision. It shares
// the decoded objects with the model: callers must not modify them.
// Objects that cannot be decoded are left out, as SnapshotSince does
// (one bad object must not stop the host's plan): Undecodable lists
// them for the caller to log.
func (m *Model) Snapshot(host string) *Snapshot {
	m.mu.Lock() // lending the view marks its maps
	defer m.mu.Unlock()
	return m.snapshotLocked(host)
}

func (m *Model) snapshotLocked(host string) *Snapshot { return m.lend(host) }

// index builds the indexes (once per snapshot: snapshots are not
// changed after they are built; a hand-made one is indexed on first
// use).
func (s *Snapshot) index() {
	if s.portsByDevice != nil {
		return
	}
	s.portsByDevice = map[string][]*model.Port{}
	s.portsByNetwork = map[string][]*model.Port{}
	s.fipsByRouter = map[string][]*model.FloatingIP{}
	for _, p := range s.Ports {
		if p.DeviceID != "" {
			s.portsByDevice[p.DeviceID] = append(s.portsByDevice[p.DeviceID], p)
		}
		s.portsByNetwork[p.NetworkID] = append(s.portsByNetwork[p.NetworkID], p)
	}
	for _, f := range s.FloatingIPs {
		if f.RouterID != nil {
			s.fipsByRouter[*f.RouterID] = append(s.fipsByRouter[*f.RouterID], f)
		}
	}
}

// PortsOfDevice returns the ports whose device_id is id (a router's
// interfaces and gateway), in no particular order.
func (s *Snapshot) PortsOfDevice(id string) []*model.Port {
	s.index()
	return s.portsByDevice[id]
}

// PortsOfNetwork returns the ports on network id, in no particular
// order (planning one network must not scan every port of the view).
func (s *Snapshot) PortsOfNetwork(id string) []*model.Port {
	s.index()
	return s.portsByNetwork[id]
}

// FloatingIPsOfRouter returns the floating IPs whose router_id is id.
func (s *Snapshot) FloatingIPsOfRouter(id string) []*model.FloatingIP {
	s.index()
	return s.fipsByRouter[id]
}

// decodeObject turns a stored object into its Go type (nil for kinds the
// agent does not use).
func decodeObject(kind string, raw json.RawMessage) (any, error) {
	var v any
	switch kind {
	case model.KindNetwork:
		v = new(model.Network)
	case model.KindSubnet:
		v = new(model.Subnet)
	case model.KindPort:
		v = new(model.Port)
	case model.KindAgent:
		v = new(model.Agent)
	case model.KindRouter:
		v = new(model.Router)
	case model.KindFIP:
		v = new(model.FloatingIP)
	case model.KindL3Binding, model.KindDHCPBinding:
		v = new(model.Binding)
	case model.KindDVRMAC:
		v = new(model.DVRMAC)
	case model.KindSG:
		if g, ok := fastGroup(raw); ok {
			return g, nil
		}
		v = new(model.SecurityGroup)
	case model.KindSGRule:
		if r, ok := fastRule(raw); ok {
			return r, nil
		}
		v = new(model.SecurityGroupRule)
	case model.KindAddressGroup:
		v = new(model.AddressGroup)
	default:
		return nil, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	if b, ok := v.(*model.Binding); ok && kind == model.KindDHCPBinding {
		return dhcpBinding{b}, nil
	}
	return v, nil
}

// dhcpBinding tells DHCP bindings from L3 bindings (same Go type).
type dhcpBinding struct{ *model.Binding }

func (s *Snapshot) add(id string, v any) {
	switch o := v.(type) {
	case *model.Network:
		s.Networks[id] = o
	case *model.Subnet:
		s.Subnets[id] = o
	case *model.Port:
		s.Ports[id] = o
	case *model.Agent:
		s.Agents[id] = o
	case *model.Router:
		s.Routers[id] = o
	case *model.FloatingIP:
		s.FloatingIPs[id] = o
	case *model.Binding:
		s.L3Bindings[id] = o
	case dhcpBinding:
		s.DHCPBindings[id] = o.Binding
	case *model.DVRMAC:
		s.DVRMACs[id] = o
	case *model.SecurityGroup:
		s.SGs[id] = o
	case *model.SecurityGroupRule:
		s.SGRules[id] = o
	case *model.AddressGroup:
		s.AddressGroups[id] = o
	}
}

// AgentsOf returns the agents on a host by type.
func (s *Snapshot) AgentsOf(host string) map[string]*model.Agent {
	out := map[string]*model.Agent{}
	for _, a := range s.Agents {
		if a.Host == host {
			out[a.AgentType] = a
		}
	}
	return out
}

// TunnelIP returns the VTEP address a host's L2 agent reported.
func (s *Snapshot) TunnelIP(host string) string {
	if a := s.AgentsOf(host)[model.AgentTypeL2]; a != nil {
		ip, _ := a.Configurations["tunneling_ip"].(string)
		return ip
	}
	return ""
}
