package api_test

import (
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
)

// A host receives the member ports of the groups its ports' rules name
// as remote groups, wherever they are (their addresses fill its member
// sets), and nothing of groups it does not refer to.
func TestRemoteGroupMembersReachHost(t *testing.T) {
	srv := noAuth(t)
	compute1 := newSimHost(t, srv, "compute1", l2State("10.0.1.11"))
	compute2 := newSimHost(t, srv, "compute2", l2State("10.0.1.12"))
	hosts := []*simHost{compute1, compute2}
	for _, h := range hosts {
		h.start()
		waitFor(t, h.name+" first sync", h.model.Synced)
	}
	net1 := mkNet(t, srv, demo, "net1")
	mkSubnet(t, srv, demo, id(net1), "10.1.0.0/24")
	net2 := mkNet(t, srv, demo, "net2")
	mkSubnet(t, srv, demo, id(net2), "10.2.0.0/24")
	web := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "web"})
	db := create(t, srv, demo, "security-groups", "security_group", map[string]any{"name": "db"})
	create(t, srv, demo, "security-group-rules", "security_group_rule", map[string]any{
		"security_group_id": id(web), "direction": "ingress", "ethertype": "IPv4", "remote_group_id": id(db)})
	vm1 := mkPort(t, srv, admin, id(net1), map[string]any{"tenant_id": "demo", "device_owner": "compute:nova", "device_id": "vm1",
		"binding:host_id": "compute1", "security_groups": []string{id(web)}})
	vm2 := mkPort(t, srv, admin, id(net2), map[string]any{"tenant_id": "demo", "device_owner": "compute:nova", "device_id": "vm2",
		"binding:host_id": "compute2", "security_groups": []string{id(db)}})
	checkOnly(t, "remote member", model.KindPort, id(vm2), hosts, compute1, compute2)
	checkOnly(t, "not a remote member", model.KindPort, id(vm1), hosts, compute1)
	checkOnly(t, "remote member's network", model.KindNetwork, id(net2), hosts, compute2)
	// A third member, on no host: still a member (and on net2, which
	// compute2 has).
	vm3 := mkPort(t, srv, admin, id(net2), map[string]any{"tenant_id": "demo", "device_owner": "compute:nova", "device_id": "vm3",
		"security_groups": []string{id(db)}})
	checkOnly(t, "unbound remote member", model.KindPort, id(vm3), hosts, compute1, compute2)
}
