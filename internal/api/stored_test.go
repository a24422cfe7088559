package api_test

import (
	"context"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
)

// A stored object whose addresses do not parse (written by a bug, by
// hand, or by a newer server) is not served; requests that would have
// read it answer as if it did not exist instead of panicking, and the
// rest of the cloud keeps working.
func TestUnparsableStoredSubnetIsNotServed(t *testing.T) {
	e := newL3(t)
	srv := e.srv
	r := mkRouter(t, srv, demo, map[string]any{"name": "r1"})
	bad := mkSubnet(t, srv, demo, id(e.net), "10.9.0.0/24")
	key := srv.Store.Prefix() + "r/" + model.KindSubnet + "/" + id(bad)
	ctx := context.Background()
	got, err := srv.Store.Client().Get(ctx, key)
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("get %s: %v %v", key, err, got)
	}
	corrupt := []byte(`{"id":"` + id(bad) + `","network_id":"` + id(e.net) + `","ip_version":4,"cidr":"10.9.0.0/99","gateway_ip":"10.9.0.1"}`)
	put, err := srv.Store.Client().Put(ctx, key, string(corrupt))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Store.WaitRev(ctx, put.Header.Revision); err != nil {
		t.Fatal(err)
	}
	// Planning an interface parses the subnet's CIDR.
	refused(t, srv, demo, "PUT", routerPath(r, "add_router_interface"), map[string]any{"subnet_id": id(bad)}, 404, "SubnetNotFound")
	refused(t, srv, demo, "GET", "/v2.0/subnets/"+id(bad), nil, 404, "SubnetNotFound")
	// The good subnet of the same network still routes.
	addIface(t, srv, demo, r, map[string]any{"subnet_id": id(e.sub)})
}
