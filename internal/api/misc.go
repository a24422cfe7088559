package api

import (
	"net/http"
	"net/netip"
	"sort"

	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

func baseURL(r *http.Request) string {
	scheme := "http"
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	} else if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// versions is the unauthenticated version document at "/".
func (a *API) versions(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		a.writeError(w, newErr(http.StatusMethodNotAllowed, "HTTPMethodNotAllowed", "The method is not allowed for the requested URL."))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{map[string]string{"rel": "self", "href": baseURL(r) + "/v2.0/"}},
	}}})
}

func (a *API) resourceIndex(w http.ResponseWriter, r *http.Request) error {
	var out []map[string]any
	names := sortedKeys(resources)
	for _, k := range names {
		d := resources[k]
		if d.path == "" {
			continue
		}
		out = append(out, map[string]any{"name": d.singular, "collection": d.collection,
			"links": []any{map[string]string{"rel": "self", "href": baseURL(r) + "/v2.0/" + d.path}}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"resources": out})
	return nil
}

type extension struct {
	Alias       string `json:"alias"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Updated     string `json:"updated"`
	Links       []any  `json:"links"`
}

// extensions lists only what this server implements: listing an alias
// promises its attributes and URLs (api.md §5.2).
var extensions = []extension{
	{Alias: "agent", Name: "agent", Description: "The agent management extension."},
	{Alias: "dhcp_agent_scheduler", Name: "DHCP Agent Scheduler", Description: "Schedule networks among dhcp agents"},
	{Alias: "l3_agent_scheduler", Name: "L3 Agent Scheduler", Description: "Schedule routers among l3 agents"},
	{Alias: "allowed-address-pairs", Name: "Allowed Address Pairs", Description: "Provides allowed address pairs"},
	{Alias: "binding", Name: "Port Binding", Description: "Expose port bindings of a virtual port to external application"},
	{Alias: "empty-string-filtering", Name: "Empty String Filtering Extension", Description: "Allow filtering by attributes with empty string value"},
	{Alias: "external-net", Name: "Neutron external network", Description: "Adds external network attribute to network resource."},
	{Alias: "extra_dhcp_opt", Name: "Neutron Extra DHCP options", Description: "Extra options configuration for DHCP."},
	{Alias: "filter-validation", Name: "Filter parameters validation", Description: "Provides validation on filter parameters."},
	{Alias: "ip-substring-filtering", Name: "IP address substring filtering", Description: "Provides IP address substring filtering when listing ports"},
	{Alias: "net-mtu", Name: "Network MTU", Description: "Provides MTU attribute for a network resource."},
	{Alias: "net-mtu-writable", Name: "Network MTU (writable)", Description: "Provides a writable MTU attribute for a network resource."},
	{Alias: "network-ip-availability", Name: "Network IP Availability", Description: "Provides IP availability data for each network and subnet."},
	{Alias: "pagination", Name: "Pagination support", Description: "Extension that indicates that pagination is enabled."},
	{Alias: "port-security", Name: "Port Security", Description: "Provides port security"},
	{Alias: "port-trusted-vif", Name: "Port trusted vif", Description: "Expose port 'trusted' attribute in the API"},
	{Alias: "project-id", Name: "project_id field enabled", Description: "Extension that indicates that project_id field is enabled."},
	{Alias: "provider", Name: "Provider Network", Description: "Expose mapping of virtual networks to physical networks"},
	{Alias: "quota_details", Name: "Quota details management support", Description: "Expose functions for quotas usage statistics per project"},
	{Alias: "quota-check-limit", Name: "Quota engine limit check", Description: "Support for checking the resource usage before applying a new quota limit"},
	{Alias: "quotas", Name: "Quota management support", Description: "Expose functions for quotas management per project"},
	{Alias: "revision-if-match", Name: "If-Match constraints based on revision_number", Description: "Extension indicating that If-Match based on revision_number is supported."},
	{Alias: "security-group", Name: "security-group", Description: "The security groups extension."},
	{Alias: "security-groups-normalized-cidr", Name: "Normalized CIDR field for security group rules", Description: "Add new field with normalized remote_ip_prefix cidr in SG rule"},
	{Alias: "sorting", Name: "Sorting support", Description: "Extension that indicates that sorting is enabled."},
	{Alias: "standard-attr-description", Name: "standard-attr-description", Description: "Extension to add descriptions to standard attributes"},
	{Alias: "standard-attr-revisions", Name: "Resource revision numbers", Description: "This extension will display the revision number of neutron resources."},
	{Alias: "standard-attr-tag", Name: "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip", Description: "Enables to set tag on resources with standard attribute."},
	{Alias: "standard-attr-timestamp", Name: "Resource timestamps", Description: "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."},
	{Alias: "stateful-security-group", Name: "Stateful security group", Description: "Indicates if the security group is stateful or not"},
	{Alias: "subnet-service-types", Name: "Subnet service types", Description: "Provides ability to set the subnet service_types field"},
	{Alias: "tag-ports-during-bulk-creation", Name: "Tag Ports During Bulk Creation", Description: "Allow to tag ports during bulk creation"},
	{Alias: "availability_zone", Name: "Availability Zone", Description: "The availability zone extension."},
	{Alias: "network_availability_zone", Name: "Network Availability Zone", Description: "Availability zone support for network."},
	// L3: /routers with its interface and extra-route actions, gateway
	// info with enable_snat, routes, floating IPs with port_details.
	// l3-ha: the router's ha attribute and the agents' ha_state
	// (docs/ha.md).
	{Alias: "l3-ha", Name: "HA Router extension", Description: "Adds HA capability to routers."},
	// dvr: the router's distributed attribute (docs/dvr.md).
	{Alias: "dvr", Name: "Distributed Virtual Router", Description: "Enables configuration of Distributed Virtual Routers."},
	{Alias: "router", Name: "Neutron L3 Router", Description: "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."},
	{Alias: "ext-gw-mode", Name: "Neutron L3 Configurable external gateway mode", Description: "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"},
	{Alias: "extraroute", Name: "Neutron Extra Route", Description: "Extra routes configuration for L3 router"},
	{Alias: "extraroute-atomic", Name: "Atomically add/remove extra routes", Description: "Edit extra routes of a router on server side by atomically adding/removing extra routes"},
	{Alias: "floatingip-pools", Name: "Floating IP Pools Extension", Description: "Provides a floating IP pools API."},
	{Alias: "fip-port-details", Name: "Floating IP Port Details Extension", Description: "Add port_details attribute to Floating IP resource"},
	{Alias: "router_availability_zone", Name: "Router Availability Zone", Description: "Availability zone support for router."},
	{Alias: "l2_adjacency", Name: "L2 Adjacency", Description: "Display L2 Adjacency for Neutron Networks."},
	{Alias: "security-groups-rules-belongs-to-default-sg", Name: "Security group rules belongs to default security group", Description: "Flag to determine if the security group rule belongs to the project's default security group"},
	{Alias: "port-mac-address-regenerate", Name: "Neutron Port MAC address regenerate", Description: "Network port MAC address regenerate"},
	{Alias: "service-type", Name: "Neutron Service Type Management", Description: "API for retrieving service providers for Neutron advanced services"},
	{Alias: "subnet_allocation", Name: "Subnet Allocation", Description: "Enables allocation of subnets from a subnet pool"},
	{Alias: "default-subnetpools", Name: "Default Subnetpools", Description: "Provides ability to mark and use a subnetpool as the default."},
	{Alias: "subnetpool-prefix-ops", Name: "Subnet Pool Prefix Operations", Description: "Provides support for adjusting the prefix list of subnet pools"},
	{Alias: "address-scope", Name: "Address scope", Description: "Address scopes extension."},
	{Alias: "rbac-policies", Name: "RBAC Policies", Description: "Allows creation and modification of policies that control tenant access to resources."},
	{Alias: "rbac-address-scope", Name: "Add address_scope type to RBAC", Description: "Add address_scope type to RBAC"},
	{Alias: "rbac-subnetpool", Name: "Add subnetpool type to RBAC", Description: "Add subnetpool type to RBAC"},
	{Alias: "rbac-security-groups", Name: "Add security_group type to network RBAC", Description: "Add security_group type to network RBAC"},
	{Alias: "rbac-address-group", Name: "Add address_group type to RBAC", Description: "Add address_group type to RBAC"},
	{Alias: "address-group", Name: "Address group", Description: "Support address group"},
	{Alias: "security-groups-remote-address-group", Name: "Remote address group id field for security group rules", Description: "Add new field of remote address group id in SG rules"},
	{Alias: "port-security-groups-filtering", Name: "Port filtering on security groups", Description: "Provides security groups filtering when listing ports"},
}

func init() {
	for i := range extensions {
		extensions[i].Updated = "2026-01-01T00:00:00-00:00"
		extensions[i].Links = []any{}
	}
	sort.Slice(extensions, func(i, j int) bool { return extensions[i].Alias < extensions[j].Alias })
}

func (a *API) listExtensions(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"extensions": extensions})
	return nil
}

func (a *API) showExtension(w http.ResponseWriter, r *http.Request) error {
	for _, e := range extensions {
		if e.Alias == r.PathValue("alias") {
			writeJSON(w, http.StatusOK, map[string]any{"extension": e})
			return nil
		}
	}
	return errResourceNotFound
}

// listServiceProviders serves the service-type extension. Upstream lists
// the drivers of its [service_providers] option (L3 flavors, VPN, ...);
// Neutrino has no pluggable service drivers, so there are none.
func (a *API) listServiceProviders(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	writeJSON(w, http.StatusOK, map[string]any{"service_providers": []any{}})
	return nil
}

// ipAvailability is one network's address usage.
func ipAvailability(v *store.View, n *model.Network) map[string]any {
	var subs []map[string]any
	var total, used uint64
	for _, s := range hostview.SubnetsOf(v, n) {
		// Upstream: total = sum of the allocation pools (the whole CIDR
		// when there are none); used = every allocation on the subnet,
		// inside the pools or not (e.g. a fixed IP outside them).
		t := ipam.TotalAddresses(poolsOf(s))
		if len(s.AllocationPools) == 0 {
			if p, err := netip.ParsePrefix(s.CIDR); err == nil {
				t = ipam.TotalAddresses([]ipam.Pool{{Start: p.Masked().Addr(), End: ipam.LastAddr(p)}})
			}
		}
		u := uint64(len(v.Claims(claims.IP(s.ID))))
		total += t
		used += u
		subs = append(subs, map[string]any{"subnet_id": s.ID, "subnet_name": s.Name, "cidr": s.CIDR, "ip_version": s.IPVersion, "total_ips": t, "used_ips": u})
	}
	if subs == nil {
		subs = []map[string]any{}
	}
	return map[string]any{"network_id": n.ID, "network_name": n.Name, "project_id": n.ProjectID, "tenant_id": n.ProjectID,
		"total_ips": total, "used_ips": used, "subnet_ip_availability": subs}
}

func (a *API) listIPAvailability(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if !c.admin {
		return policyDenied("get_network_ip_availability")
	}
	q := r.URL.Query()
	var out []map[string]any
	a.st.View(func(v *store.View) {
		v.Each(model.KindNetwork, func(e *store.Entry) bool {
			n, ok := store.As[*model.Network](e)
			if !ok {
				return true
			}
			for k, want := range map[string]string{"network_id": n.ID, "network_name": n.Name, "project_id": n.ProjectID, "tenant_id": n.ProjectID} {
				if vals, ok := q[k]; ok && !containsStr(vals, want) {
					return true
				}
			}
			if vals, ok := q["ip_version"]; ok {
				match := false
				for _, s := range hostview.SubnetsOf(v, n) {
					match = match || containsStr(vals, itoa(s.IPVersion))
				}
				if !match {
					return true
				}
			}
			out = append(out, ipAvailability(v, n))
			return true
		})
	})
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"network_ip_availabilities": out})
	return nil
}

func (a *API) showIPAvailability(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	var out map[string]any
	var err error
	a.st.View(func(v *store.View) {
		var e *store.Entry
		if e, err = a.lookup(v, c, networkDef, r.PathValue("id")); err == nil {
			if !c.admin {
				err = policyDenied("get_network_ip_availability")
				return
			}
			var n *model.Network
			if n, err = obj[*model.Network](e); err == nil {
				out = ipAvailability(v, n)
			}
		}
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"network_ip_availability": out})
	return nil
}
