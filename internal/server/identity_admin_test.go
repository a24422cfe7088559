package server_test

import (
	"context"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestIdentityAdminGophercloud drives the built-in Keystone's admin API
// with gophercloud, as its acceptance tests and tempest's dynamic
// credentials do, on a real server (its writes are etcd transactions):
// a new project and user with a role use the network API, and once
// deleted the user's token is refused.
func TestIdentityAdminGophercloud(t *testing.T) {
	srv := testutil.StartServer(t)
	ctx := context.Background()
	creds := srv.Keystone.Credentials()
	auth := func(user, password, project string) *gophercloud.ProviderClient {
		t.Helper()
		p, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
			IdentityEndpoint: srv.URL + "/identity/v3", Username: user, Password: password,
			DomainName: "Default", TenantName: project,
		})
		if err != nil {
			t.Fatalf("authenticate %s: %v", user, err)
		}
		return p
	}
	admin, err := openstack.NewIdentityV3(auth(creds.Admin.UserName, creds.Admin.Password, creds.Admin.ProjectName), gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := projects.Create(ctx, admin, projects.CreateOpts{Name: "gc-project", DomainID: "default", Description: "d"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	u, err := users.Create(ctx, admin, users.CreateOpts{Name: "gc-user", Password: "gc-pw", DomainID: "default", DefaultProjectID: p.ID}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	pages, err := roles.List(admin, roles.ListOpts{Name: "member"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	member, err := roles.ExtractRoles(pages)
	if err != nil || len(member) != 1 {
		t.Fatalf("member role: %v %v", member, err)
	}
	if err := roles.Assign(ctx, admin, member[0].ID, roles.AssignOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	pages, err = roles.ListAssignments(admin, roles.ListAssignmentsOpts{UserID: u.ID}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if as, err := roles.ExtractRoleAssignments(pages); err != nil || len(as) != 1 || as[0].Scope.Project.ID != p.ID {
		t.Fatalf("role assignments: %+v %v", as, err)
	}
	if _, err := users.Update(ctx, admin, u.ID, users.UpdateOpts{Description: new(string)}).Extract(); err != nil {
		t.Fatal(err)
	}

	userProvider := auth("gc-user", "gc-pw", "gc-project")
	net, err := openstack.NewNetworkV2(userProvider, gophercloud.EndpointOpts{Region: creds.Region})
	if err != nil {
		t.Fatal(err)
	}
	n, err := networks.Create(ctx, net, networks.CreateOpts{Name: "gc-net"}).Extract()
	if err != nil || n.ProjectID != p.ID {
		t.Fatalf("network of the new user: %+v %v", n, err)
	}

	if err := users.Delete(ctx, admin, u.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	userProvider.ReauthFunc = nil // no silent re-login with the deleted user
	if _, err := networks.Get(ctx, net, n.ID).Extract(); !gophercloud.ResponseCodeIs(err, 401) {
		t.Fatalf("deleted user's token: %v", err)
	}
	if err := projects.Delete(ctx, admin, p.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := projects.Get(ctx, admin, p.ID).Extract(); !gophercloud.ResponseCodeIs(err, 404) {
		t.Fatalf("deleted project: %v", err)
	}

	d, err := domains.Create(ctx, admin, domains.CreateOpts{Name: "gc-domain"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := domains.Update(ctx, admin, d.ID, domains.UpdateOpts{Enabled: &off}).Extract(); err != nil {
		t.Fatal(err)
	}
	if err := domains.Delete(ctx, admin, d.ID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
}
