package hostmodel

import (
	"encoding/json"
	"fmt"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
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
}

// NewSnapshot returns an empty snapshot (for tests).
func NewSnapshot(host string) *Snapshot {
	return &Snapshot{Host: host, Networks: map[string]*model.Network{}, Subnets: map[string]*model.Subnet{},
		Ports: map[string]*model.Port{}, Agents: map[string]*model.Agent{}, Routers: map[string]*model.Router{},
		FloatingIPs: map[string]*model.FloatingIP{}, L3Bindings: map[string]*model.Binding{},
		DHCPBindings: map[string]*model.Binding{}, DVRMACs: map[string]*model.DVRMAC{},
		SGs: map[string]*model.SecurityGroup{}, SGRules: map[string]*model.SecurityGroupRule{}}
}

// Snapshot decodes the model.
func (m *Model) Snapshot(host string) (*Snapshot, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := NewSnapshot(host)
	s.Revision = m.rev
	for k, o := range m.objects {
		if err := s.add(k, o.Data); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func decodeInto[T any](dst map[string]*T, id string, raw json.RawMessage) error {
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return err
	}
	dst[id] = v
	return nil
}

func (s *Snapshot) add(k syncproto.Key, raw json.RawMessage) error {
	var err error
	switch k.Kind {
	case model.KindNetwork:
		err = decodeInto(s.Networks, k.ID, raw)
	case model.KindSubnet:
		err = decodeInto(s.Subnets, k.ID, raw)
	case model.KindPort:
		err = decodeInto(s.Ports, k.ID, raw)
	case model.KindAgent:
		err = decodeInto(s.Agents, k.ID, raw)
	case model.KindRouter:
		err = decodeInto(s.Routers, k.ID, raw)
	case model.KindFIP:
		err = decodeInto(s.FloatingIPs, k.ID, raw)
	case model.KindL3Binding:
		err = decodeInto(s.L3Bindings, k.ID, raw)
	case model.KindDHCPBinding:
		err = decodeInto(s.DHCPBindings, k.ID, raw)
	case model.KindDVRMAC:
		err = decodeInto(s.DVRMACs, k.ID, raw)
	case model.KindSG:
		err = decodeInto(s.SGs, k.ID, raw)
	case model.KindSGRule:
		err = decodeInto(s.SGRules, k.ID, raw)
	}
	if err != nil {
		return fmt.Errorf("decode %s %s: %w", k.Kind, k.ID, err)
	}
	return nil
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
