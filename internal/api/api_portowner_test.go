package api_test

import (
	"testing"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestCrossProjectRouterPlugging: a member of one project may not make
// ports with a "network:" owner that name another project's router or
// floating IP (upstream: 409 DeviceIDNotOwnedByTenant, OSSA-2014-008),
// neither by POST nor by PUT; the owner and admins may.
func TestCrossProjectRouterPlugging(t *testing.T) {
	srv := noAuth(t)
	projA := testutil.Caller{Project: "proj-a"}
	projB := testutil.Caller{Project: "proj-b"}
	ext := create(t, srv, admin, "networks", "network", map[string]any{"name": "ext", "router:external": true})
	mkSubnet(t, srv, admin, id(ext), "172.24.8.0/24")
	netA := mkNet(t, srv, projA, "a")
	subA := mkSubnet(t, srv, projA, id(netA), "10.60.0.0/24")
	rA := mkRouter(t, srv, projA, map[string]any{"name": "ra", "external_gateway_info": map[string]any{"network_id": id(ext)}})
	addIface(t, srv, projA, rA, map[string]any{"subnet_id": id(subA)})
	fipA := create(t, srv, projA, "floatingips", "floatingip", map[string]any{"floating_network_id": id(ext)})
	netB := mkNet(t, srv, projB, "b")
	mkSubnet(t, srv, projB, id(netB), "10.61.0.0/24")

	const notOwned = "DeviceIDNotOwnedByTenant"
	portB := func(owner, device string) map[string]any {
		return map[string]any{"port": map[string]any{"network_id": id(netB), "device_owner": owner, "device_id": device}}
	}
	for _, owner := range []string{
		"network:router_interface", "network:router_interface_distributed", "network:ha_router_replicated_interface",
		"network:router_gateway", "network:router_centralized_snat", "network:dhcp",
	} {
		refused(t, srv, projB, "POST", "/v2.0/ports", portB(owner, id(rA)), 409, notOwned)
	}
	refused(t, srv, projB, "POST", "/v2.0/ports", portB("network:floatingip", id(fipA)), 409, notOwned)
	// One such item spoils a bulk create.
	refused(t, srv, projB, "POST", "/v2.0/ports", map[string]any{"ports": []any{
		map[string]any{"network_id": id(netB)},
		portB("network:router_interface", id(rA))["port"],
	}}, 409, notOwned)

	// Re-owning existing ports by PUT: both attributes, device_id alone,
	// device_owner alone.
	plain := mkPort(t, srv, projB, id(netB))
	refused(t, srv, projB, "PUT", "/v2.0/ports/"+id(plain), map[string]any{"port": map[string]any{"device_owner": "network:router_interface", "device_id": id(rA)}}, 409, notOwned)
	unplugged := mkPort(t, srv, projB, id(netB), map[string]any{"device_owner": "network:router_interface"})
	refused(t, srv, projB, "PUT", "/v2.0/ports/"+id(unplugged), map[string]any{"port": map[string]any{"device_id": id(rA)}}, 409, notOwned)
	compute := mkPort(t, srv, projB, id(netB), map[string]any{"device_owner": "compute:nova", "device_id": id(rA)})
	refused(t, srv, projB, "PUT", "/v2.0/ports/"+id(compute), map[string]any{"port": map[string]any{"device_owner": "network:router_gateway"}}, 409, notOwned)
	// Other changes of those ports are fine.
	expect(t, srv.Do(projB, "PUT", "/v2.0/ports/"+id(unplugged), map[string]any{"port": map[string]any{"name": "x"}}), 200, "")
	// A device_id that names no router is no one's: allowed (upstream).
	mkPort(t, srv, projB, id(netB), map[string]any{"device_owner": "network:router_interface", "device_id": "0b5c2a1e-2f9f-4e0c-9d62-5a1b1c9f0000"})

	// B's ports did not become A's router's: A's router keeps one
	// interface and can be emptied and deleted.
	if ifs := portsOf(t, srv, "device_id="+id(rA)+"&device_owner=network:router_interface"); len(ifs) != 1 {
		t.Fatalf("router ports %v", ids(ifs))
	}
	expect(t, srv.Do(projA, "PUT", routerPath(rA, "remove_router_interface"), map[string]any{"subnet_id": id(subA)}), 200, "")
	expect(t, srv.Do(projA, "DELETE", "/v2.0/floatingips/"+id(fipA), nil), 204, "")
	expect(t, srv.Do(projA, "DELETE", routerPath(rA), nil), 204, "")

	// The owner of the router may name it, by POST and by PUT, and so may
	// an admin for any project's port.
	rA2 := mkRouter(t, srv, projA, map[string]any{"name": "ra2"})
	mkPort(t, srv, projA, id(netA), map[string]any{"device_owner": "network:router_interface", "device_id": id(rA2)})
	own := mkPort(t, srv, projA, id(netA))
	expect(t, srv.Do(projA, "PUT", "/v2.0/ports/"+id(own), map[string]any{"port": map[string]any{"device_owner": "network:router_interface_distributed", "device_id": id(rA2)}}), 200, "")
	mkPort(t, srv, admin, id(netB), map[string]any{"device_owner": "network:router_interface", "device_id": id(rA2)})
}
