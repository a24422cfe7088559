package api

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Address groups (address-group extension): named CIDR sets that
// security group rules reference through remote_address_group_id.
// Upstream has no quota for them.
var addressGroupDef = &resourceDef{
	kind: model.KindAddressGroup, singular: "address_group", collection: "address_groups", path: "address-groups",
	attrs: standardAttrs(map[string]attr{
		"name":      {typ: 's', post: true, put: true},
		"addresses": {typ: 'o', post: true, nosort: true},
	}),
	// Not a taggable resource upstream (standard-attr-tag lists none).
	internal: []string{"tags"},
	decode:   decoderOf[model.AddressGroup](),
	notFound: func(id string) *Error {
		return notFound("AddressGroupNotFound", "Address group %s could not be found.", id)
	},
	visible: func(v *store.View, c *reqCtx, e *store.Entry) bool {
		return c.admin || std(e).ProjectID == c.project || rbacShared(v, c, model.KindAddressGroup, e.ID)
	},
	// Shared through RBAC, a group stays unchangeable and its writes
	// answer 404 to other projects (upstream's owner-only policy).
	writeNotFound: true,
	create:        createAddressGroup,
	update:        updateAddressGroup,
	delete:        deleteAddressGroup,
}

func init() { register(addressGroupDef) }

type addressGroupReq struct {
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Addresses   optional[[]any] `json:"addresses"`
	ProjectID   string          `json:"project_id"`
	TenantID    string          `json:"tenant_id"`
}

func (r *addressGroupReq) validate() error {
	if err := checkString("name", r.Name, 255); err != nil {
		return err
	}
	return checkString("description", r.Description, 1024)
}

// normalizeAddresses is upstream's _process_requested_addresses: each
// address (a bare address is a host prefix) becomes network/prefixlen,
// deduplicated, sorted.
func normalizeAddresses(items []string) ([]string, error) {
	var out []string
	for _, s := range items {
		p, err := parseCIDROrAddr(s)
		if err != nil {
			return nil, badRequest("Invalid input for addresses. Reason: '%s' is not a valid IP subnet.", s)
		}
		n := p.Masked().String()
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func parseCIDROrAddr(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

func createAddressGroup(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req addressGroupReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := req.validate(); err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	var given []string
	if req.Addresses.Set && !req.Addresses.Null {
		if given, err = validateCIDRList("addresses", req.Addresses.V); err != nil {
			return "", err
		}
	}
	addrs, err := normalizeAddresses(given)
	if err != nil {
		return "", err
	}
	g := &model.AddressGroup{Standard: newStandard(a, project, req.Description, nil), Addresses: addrs}
	if g.Addresses == nil {
		g.Addresses = []string{}
	}
	if req.Name != nil {
		g.Name = *req.Name
	}
	t.Create(model.KindAddressGroup, g.ID, mustJSON(g))
	return g.ID, nil
}

func updateAddressGroup(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req addressGroupReq
	g, err := updating[model.AddressGroup](e, body, &req, req.validate)
	if err != nil {
		return err
	}
	if req.Name != nil {
		g.Name = *req.Name
	}
	if req.Description != nil {
		g.Description = *req.Description
	}
	bump(a, &g.Standard)
	t.Replace(model.KindAddressGroup, e, mustJSON(&g))
	return nil
}

// addressGroupUser returns a security group rule that references the
// group, or "" (any project's: upstream looks elevated).
func addressGroupUser(v *store.View, id string) string {
	found := ""
	v.Each(model.KindSGRule, func(re *store.Entry) bool {
		if r, ok := store.As[*model.SecurityGroupRule](re); ok && r.RemoteAddressGroupID != nil && *r.RemoteAddressGroupID == id {
			found = re.ID
			return false
		}
		return true
	})
	return found
}

func deleteAddressGroup(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	if addressGroupUser(v, e.ID) != "" {
		return conflict("AddressGroupInUse", "Address group %s is in use on one or more security group rules.", e.ID)
	}
	// A rule created meanwhile serializes on the same key (secgroups.go).
	t.Serialize("address-group/" + e.ID)
	deleteRBACOf(v, t, model.KindAddressGroup, e.ID)
	t.Delete(model.KindAddressGroup, e)
	return nil
}

// addressGroupAction serves PUT .../add_addresses and .../remove_addresses
// (body {"addresses": [...]}, answer {"address_group": {...}}).
func (a *API) addressGroupAction(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	id, action := r.PathValue("id"), r.PathValue("action")
	top, err := actionBody(r, action, "add_addresses", "remove_addresses")
	if err != nil {
		return err
	}
	raw, ok := top["addresses"]
	if !ok || len(top) != 1 {
		return badRequest("Failed to parse request. Required attribute 'addresses' not specified")
	}
	var items []string
	if err := json.Unmarshal(raw, &items); err != nil {
		return badRequest("Invalid input for addresses. Reason: '%s' is not a list.", string(raw))
	}
	addrs, err := normalizeAddresses(items)
	if err != nil {
		return err
	}
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		e, err := a.lookup(v, c, addressGroupDef, id)
		if err != nil {
			return err
		}
		if err := mayModify(c, addressGroupDef, e, "update"); err != nil {
			return err
		}
		cur, err := obj[*model.AddressGroup](e)
		if err != nil {
			return err
		}
		g := *cur
		if g.Addresses, err = editAddresses(cur.Addresses, addrs, action == "add_addresses", id); err != nil {
			return err
		}
		bump(a, &g.Standard)
		t.Replace(model.KindAddressGroup, e, mustJSON(&g))
		return nil
	})
	if err != nil {
		return err
	}
	return a.show(w, r, c, addressGroupDef)
}

// editAddresses adds or removes normalized addresses: adding one already
// there is AddressesAlreadyExist (400), removing one not there is
// AddressesNotFound (404), as upstream.
func editAddresses(cur, req []string, add bool, id string) ([]string, error) {
	var in, notIn []string
	for _, a := range req {
		if slices.Contains(cur, a) {
			in = append(in, a)
		} else {
			notIn = append(notIn, a)
		}
	}
	if add {
		if len(in) > 0 {
			return nil, newErr(http.StatusBadRequest, "AddressesAlreadyExist", "Addresses %s already exist in the address group %s.", pyList(in), id)
		}
		out := append(slices.Clone(cur), notIn...)
		slices.Sort(out)
		return out, nil
	}
	if len(notIn) > 0 {
		return nil, notFound("AddressesNotFound", "Addresses %s not found in the address group %s.", pyList(notIn), id)
	}
	out := slices.DeleteFunc(slices.Clone(cur), func(a string) bool { return slices.Contains(in, a) })
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// pyList renders a list as upstream's messages do: ['a', 'b'].
func pyList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}
