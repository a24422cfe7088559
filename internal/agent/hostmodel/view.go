package hostmodel

import (
	"maps"
	"slices"

	"github.com/neutrino-net/neutrino/internal/model"
)

// The model keeps its view as a Snapshot, updated in place as events
// arrive, so that taking a snapshot costs a struct copy instead of a
// pass over every object. A snapshot shares the view's maps; the first
// change to a map after it was lent clones that map (copy on write), so
// a snapshot never changes under its reader. A floating IP change then
// costs a copy of the floating IP maps, not of the whole view.

// viewMaps names the view's maps for copy on write.
const (
	mNetworks = iota
	mSubnets
	mPorts
	mAgents
	mRouters
	mFIPs
	mL3Bindings
	mDHCPBindings
	mDVRMACs
	mSGs
	mSGRules
	mAddressGroups
	mPortsByDevice
	mPortsByNetwork
	mFIPsByRouter
	nViewMaps
)

func newView() *Snapshot {
	s := NewSnapshot("")
	s.portsByDevice = map[string][]*model.Port{}
	s.portsByNetwork = map[string][]*model.Port{}
	s.fipsByRouter = map[string][]*model.FloatingIP{}
	return s
}

// own makes the view's map i the model's own before a change (m locked).
func own[K comparable, V any](m *Model, i int, p *map[K]V) {
	if m.lent[i] {
		*p = maps.Clone(*p)
		m.lent[i] = false
	}
}

// lend returns a snapshot sharing the view's maps (m locked).
func (m *Model) lend(host string) *Snapshot {
	s := *m.view
	s.Host, s.Revision = host, m.rev
	for i := range m.lent {
		m.lent[i] = true
	}
	return &s
}

// viewSet puts a decoded object into the view (nil: removes it).
func (m *Model) viewSet(id string, old, v any) {
	s := m.view
	switch o := old.(type) {
	case *model.Port:
		if o.DeviceID != "" {
			own(m, mPortsByDevice, &s.portsByDevice)
			s.portsByDevice[o.DeviceID] = without(s.portsByDevice[o.DeviceID], o)
		}
		own(m, mPortsByNetwork, &s.portsByNetwork)
		if l := without(s.portsByNetwork[o.NetworkID], o); len(l) > 0 {
			s.portsByNetwork[o.NetworkID] = l
		} else {
			delete(s.portsByNetwork, o.NetworkID)
		}
	case *model.FloatingIP:
		if o.RouterID != nil {
			own(m, mFIPsByRouter, &s.fipsByRouter)
			s.fipsByRouter[*o.RouterID] = without(s.fipsByRouter[*o.RouterID], o)
		}
	}
	if v == nil {
		m.viewDelete(id, old)
		return
	}
	switch o := v.(type) {
	case *model.Network:
		own(m, mNetworks, &s.Networks)
	case *model.Subnet:
		own(m, mSubnets, &s.Subnets)
	case *model.Port:
		own(m, mPorts, &s.Ports)
		if o.DeviceID != "" {
			own(m, mPortsByDevice, &s.portsByDevice)
			s.portsByDevice[o.DeviceID] = append(slices.Clip(s.portsByDevice[o.DeviceID]), o)
		}
		own(m, mPortsByNetwork, &s.portsByNetwork)
		s.portsByNetwork[o.NetworkID] = append(slices.Clip(s.portsByNetwork[o.NetworkID]), o)
	case *model.Agent:
		own(m, mAgents, &s.Agents)
	case *model.Router:
		own(m, mRouters, &s.Routers)
	case *model.FloatingIP:
		own(m, mFIPs, &s.FloatingIPs)
		if o.RouterID != nil {
			own(m, mFIPsByRouter, &s.fipsByRouter)
			s.fipsByRouter[*o.RouterID] = append(slices.Clip(s.fipsByRouter[*o.RouterID]), o)
		}
	case *model.Binding:
		own(m, mL3Bindings, &s.L3Bindings)
	case dhcpBinding:
		own(m, mDHCPBindings, &s.DHCPBindings)
	case *model.DVRMAC:
		own(m, mDVRMACs, &s.DVRMACs)
	case *model.SecurityGroup:
		own(m, mSGs, &s.SGs)
	case *model.SecurityGroupRule:
		own(m, mSGRules, &s.SGRules)
	case *model.AddressGroup:
		own(m, mAddressGroups, &s.AddressGroups)
	}
	s.add(id, v)
}

// viewDelete removes an object of old's type from the view.
func (m *Model) viewDelete(id string, old any) {
	s := m.view
	switch old.(type) {
	case *model.Network:
		drop(m, mNetworks, &s.Networks, id)
	case *model.Subnet:
		drop(m, mSubnets, &s.Subnets, id)
	case *model.Port:
		drop(m, mPorts, &s.Ports, id)
	case *model.Agent:
		drop(m, mAgents, &s.Agents, id)
	case *model.Router:
		drop(m, mRouters, &s.Routers, id)
	case *model.FloatingIP:
		drop(m, mFIPs, &s.FloatingIPs, id)
	case *model.Binding:
		drop(m, mL3Bindings, &s.L3Bindings, id)
	case dhcpBinding:
		drop(m, mDHCPBindings, &s.DHCPBindings, id)
	case *model.DVRMAC:
		drop(m, mDVRMACs, &s.DVRMACs, id)
	case *model.SecurityGroup:
		drop(m, mSGs, &s.SGs, id)
	case *model.SecurityGroupRule:
		drop(m, mSGRules, &s.SGRules, id)
	case *model.AddressGroup:
		drop(m, mAddressGroups, &s.AddressGroups, id)
	}
}

// drop deletes id from one of the view's maps, copying the map first if a
// snapshot shares it.
func drop[V any](m *Model, i int, p *map[string]V, id string) {
	own(m, i, p)
	delete(*p, id)
}

// without returns a copy of list without o (the list may be lent).
func without[T comparable](list []T, o T) []T {
	i := slices.Index(list, o)
	if i < 0 {
		return list
	}
	out := make([]T, 0, len(list)-1)
	return append(append(out, list[:i]...), list[i+1:]...)
}
