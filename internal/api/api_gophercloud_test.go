package api_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/neutrino-net/neutrino/internal/testutil"
)

// TestGophercloud drives the server with the unmodified gophercloud v2
// client: Keystone v3 password auth, catalog lookup, version discovery and
// the networking calls.
func TestGophercloud(t *testing.T) {
	srv := testutil.StartServer(t)
	ctx := context.Background()
	creds := srv.Keystone.Credentials()
	for _, authURL := range []string{srv.URL + "/identity/v3", srv.URL + "/identity"} {
		provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
			IdentityEndpoint: authURL,
			Username:         creds.Demo.UserName,
			Password:         creds.Demo.Password,
			DomainID:         "default",
			TenantName:       creds.Demo.ProjectName,
		})
		if err != nil {
			t.Fatalf("authenticate at %s: %v", authURL, err)
		}
		if _, err := openstack.NewNetworkV2(provider, gophercloud.EndpointOpts{Region: creds.Region}); err != nil {
			t.Fatalf("network client via %s: %v", authURL, err)
		}
	}
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: srv.URL + "/identity/v3",
		Username:         creds.Demo.UserName,
		Password:         creds.Demo.Password,
		DomainName:       "Default",
		TenantName:       creds.Demo.ProjectName,
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := openstack.NewNetworkV2(provider, gophercloud.EndpointOpts{Region: creds.Region, Availability: gophercloud.AvailabilityPublic})
	if err != nil {
		t.Fatal(err)
	}

	// Network.
	up := true
	net, err := networks.Create(ctx, client, networks.CreateOpts{Name: "gc-net", AdminStateUp: &up, Description: "from gophercloud"}).Extract()
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	if net.Name != "gc-net" || net.Status != "ACTIVE" || net.ProjectID != creds.Demo.ProjectID || net.RevisionNumber != 1 || net.CreatedAt.IsZero() {
		t.Fatalf("network %+v", net)
	}
	got, err := networks.Get(ctx, client, net.ID).Extract()
	if err != nil || got.ID != net.ID {
		t.Fatalf("get network: %v %+v", err, got)
	}
	name := "gc-net2"
	upd, err := networks.Update(ctx, client, net.ID, networks.UpdateOpts{Name: &name}).Extract()
	if err != nil || upd.Name != name || upd.RevisionNumber != 2 {
		t.Fatalf("update network: %v %+v", err, upd)
	}
	// If-Match through gophercloud's RevisionNumber.
	stale := 1
	_, err = networks.Update(ctx, client, net.ID, networks.UpdateOpts{Name: &name, RevisionNumber: &stale}).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusPreconditionFailed) {
		t.Fatalf("stale revision: %v", err)
	}

	// Subnet.
	gw := "10.20.0.1"
	sub, err := subnets.Create(ctx, client, subnets.CreateOpts{NetworkID: net.ID, CIDR: "10.20.0.0/24", IPVersion: gophercloud.IPv4, Name: "gc-sub", GatewayIP: &gw,
		AllocationPools: []subnets.AllocationPool{{Start: "10.20.0.10", End: "10.20.0.200"}}, DNSNameservers: []string{"10.20.0.2"}}).Extract()
	if err != nil {
		t.Fatalf("create subnet: %v", err)
	}
	if sub.GatewayIP != gw || len(sub.AllocationPools) != 1 || sub.AllocationPools[0].Start != "10.20.0.10" || !sub.EnableDHCP {
		t.Fatalf("subnet %+v", sub)
	}
	subName := "gc-sub2"
	if s, err := subnets.Update(ctx, client, sub.ID, subnets.UpdateOpts{Name: &subName}).Extract(); err != nil || s.Name != subName {
		t.Fatalf("update subnet: %v %+v", err, s)
	}
	if s, err := subnets.Get(ctx, client, sub.ID).Extract(); err != nil || s.CIDR != "10.20.0.0/24" {
		t.Fatalf("get subnet: %v %+v", err, s)
	}
	if n, _ := networks.Get(ctx, client, net.ID).Extract(); n == nil || !slices.Equal(n.Subnets, []string{sub.ID}) {
		t.Fatalf("network subnets: %+v", n)
	}

	// Security group and rule.
	sg, err := groups.Create(ctx, client, groups.CreateOpts{Name: "gc-sg", Description: "web"}).Extract()
	if err != nil {
		t.Fatalf("create group: %v", err)
	}
	if len(sg.Rules) != 2 {
		t.Fatalf("group rules %+v", sg.Rules)
	}
	rule, err := rules.Create(ctx, client, rules.CreateOpts{Direction: rules.DirIngress, EtherType: rules.EtherType4, SecGroupID: sg.ID,
		Protocol: rules.ProtocolTCP, PortRangeMin: 80, PortRangeMax: 80, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	if err != nil {
		t.Fatalf("create rule: %v", err)
	}
	if rule.Protocol != "tcp" || rule.PortRangeMin != 80 || rule.SecGroupID != sg.ID {
		t.Fatalf("rule %+v", rule)
	}
	_, err = rules.Create(ctx, client, rules.CreateOpts{Direction: rules.DirIngress, EtherType: rules.EtherType4, SecGroupID: sg.ID,
		Protocol: rules.ProtocolTCP, PortRangeMin: 80, PortRangeMax: 80, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	if !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
		t.Fatalf("duplicate rule: %v", err)
	}
	if r, err := rules.Get(ctx, client, rule.ID).Extract(); err != nil || r.ID != rule.ID {
		t.Fatalf("get rule: %v", err)
	}
	sgName := "gc-sg2"
	if g, err := groups.Update(ctx, client, sg.ID, groups.UpdateOpts{Name: sgName}).Extract(); err != nil || g.Name != sgName || len(g.Rules) != 3 {
		t.Fatalf("update group: %v %+v", err, g)
	}
	allGroups, err := groups.List(client, groups.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gl, _ := groups.ExtractGroups(allGroups)
	if len(gl) != 2 { // default + ours
		t.Fatalf("groups %+v", gl)
	}

	// Port with fixed IPs and the group.
	port, err := ports.Create(ctx, client, ports.CreateOpts{NetworkID: net.ID, Name: "gc-port",
		FixedIPs:       []ports.IP{{SubnetID: sub.ID, IPAddress: "10.20.0.50"}},
		SecurityGroups: &[]string{sg.ID}}).Extract()
	if err != nil {
		t.Fatalf("create port: %v", err)
	}
	if len(port.FixedIPs) != 1 || port.FixedIPs[0].IPAddress != "10.20.0.50" || !slices.Equal(port.SecurityGroups, []string{sg.ID}) || port.MACAddress == "" {
		t.Fatalf("port %+v", port)
	}
	pname := "gc-port2"
	if p, err := ports.Update(ctx, client, port.ID, ports.UpdateOpts{Name: &pname, FixedIPs: []ports.IP{{SubnetID: sub.ID, IPAddress: "10.20.0.51"}}}).Extract(); err != nil || p.Name != pname || p.FixedIPs[0].IPAddress != "10.20.0.51" {
		t.Fatalf("update port: %v %+v", err, p)
	}
	pages, err := ports.List(client, ports.ListOpts{FixedIPs: []ports.FixedIPOpts{{IPAddress: "10.20.0.51"}}}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := ports.ExtractPorts(pages)
	if err != nil || len(pl) != 1 || pl[0].ID != port.ID {
		t.Fatalf("ports by fixed ip: %v %+v", err, pl)
	}
	if _, err := ports.Create(ctx, client, ports.CreateOpts{NetworkID: net.ID, FixedIPs: []ports.IP{{IPAddress: "10.20.0.51"}}}).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
		t.Fatalf("taken address: %v", err)
	}
	// The group is in use.
	if err := groups.Delete(ctx, client, sg.ID).ExtractErr(); !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
		t.Fatalf("delete used group: %v", err)
	}

	// Pagination: AllPages with a limit follows networks_links.
	want := []string{net.ID}
	for i := range 6 {
		n, err := networks.Create(ctx, client, networks.CreateOpts{Name: "page-" + string(rune('a'+i))}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, n.ID)
	}
	sort.Strings(want)
	for _, limit := range []int{1, 2, 3, 7, 100} {
		pager := networks.List(client, networks.ListOpts{Limit: limit, SortKey: "id", SortDir: "asc"})
		all, err := pager.AllPages(ctx)
		if err != nil {
			t.Fatalf("AllPages limit %d: %v", limit, err)
		}
		nl, err := networks.ExtractNetworks(all)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, n := range nl {
			gotIDs = append(gotIDs, n.ID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Fatalf("limit %d: %v want %v", limit, gotIDs, want)
		}
		// EachPage sees pages of at most limit items.
		pagesSeen := 0
		err = pager.EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
			l, err := networks.ExtractNetworks(p)
			if len(l) > limit {
				return false, errors.New("page too long")
			}
			pagesSeen++
			return true, err
		})
		if err != nil || pagesSeen < (len(want)+limit-1)/limit {
			t.Fatalf("EachPage limit %d: %v, %d pages", limit, err, pagesSeen)
		}
	}

	// Deletes.
	if err := ports.Delete(ctx, client, port.ID).ExtractErr(); err != nil {
		t.Fatalf("delete port: %v", err)
	}
	if err := rules.Delete(ctx, client, rule.ID).ExtractErr(); err != nil {
		t.Fatalf("delete rule: %v", err)
	}
	if err := groups.Delete(ctx, client, sg.ID).ExtractErr(); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	if err := subnets.Delete(ctx, client, sub.ID).ExtractErr(); err != nil {
		t.Fatalf("delete subnet: %v", err)
	}
	if err := networks.Delete(ctx, client, net.ID).ExtractErr(); err != nil {
		t.Fatalf("delete network: %v", err)
	}
	if _, err := networks.Get(ctx, client, net.ID).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("deleted network: %v", err)
	}
}
