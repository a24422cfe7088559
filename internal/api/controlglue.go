package api

import (
	"github.com/neutrino-net/neutrino/internal/control"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// controlPorts gives the control plane the API's port machinery (MAC
// and address allocation, port removal with its claims).
type controlPorts struct{ a *API }

func (p controlPorts) NewServicePort(v *store.View, t *store.Txn, n *model.Network, project, owner, deviceID string) (*model.Port, error) {
	return p.a.newServicePort(v, t, n, project, owner, deviceID)
}

func (p controlPorts) AllocateIPs(v *store.View, t *store.Txn, n *model.Network, port *model.Port, req []control.IPReq, keep []model.FixedIP) ([]model.FixedIP, error) {
	reqIPs := make([]fixedIPReq, len(req))
	for i, r := range req {
		reqIPs[i] = fixedIPReq{SubnetID: r.SubnetID, IPAddress: r.IPAddress}
	}
	return p.a.allocateIPs(v, t, nil, n, port, reqIPs, keep, true)
}

func (p controlPorts) DeletePort(t *store.Txn, e *store.Entry) { deletePortTxn(t, e) }

func (p controlPorts) EnsureHANetwork(v *store.View, t *store.Txn, project string) (*model.Network, error) {
	return p.a.ensureHANetwork(v, t, project)
}
