package api

import (
	"strings"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// checkDeviceID refuses a port of one project that names another
// project's router (or floating IP) as its device with a "network:"
// owner (OSSA-2014-008). Upstream checks the router-interface owners
// only; Neutrino checks every "network:" owner, because it finds a
// router's ports (gateway and SNAT ports included) and a floating IP's
// port by device_id: such a port would be plugged into the other
// project's qrouter namespace and would block the deletion of its
// router. As upstream, the port's project is compared (not the
// caller's), admins may do anything, and a device_id that names no
// router is allowed (ports made for a device not created yet).
func checkDeviceID(v *store.View, c *reqCtx, p *model.Port) error {
	if c.admin || p.DeviceID == "" || !strings.HasPrefix(p.DeviceOwner, "network:") {
		return nil
	}
	var e *store.Entry
	var ok bool
	if p.DeviceOwner == model.OwnerFloatingIP {
		e, ok = v.Get(model.KindFIP, p.DeviceID)
	} else {
		e, ok = v.Get(model.KindRouter, p.DeviceID)
	}
	if !ok || std(e).ProjectID == p.ProjectID {
		return nil
	}
	return conflict("DeviceIDNotOwnedByTenant", "The following device_id %s is not owned by your project or matches another project router.", p.DeviceID)
}
