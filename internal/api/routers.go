package api

import (
	"encoding/json"
	"net/http"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// badResource is upstream's n_exc.BadRequest(resource=..., msg=...): 400
// with NeutronError type "BadRequest" (not the API layer's
// HTTPBadRequest).
func badResource(resource, format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, "BadRequest", "Bad "+resource+" request: "+format, args...)
}

// maxRoutes is upstream's max_routes (per router).
const maxRoutes = 30

var routerDef = &resourceDef{
	kind: model.KindRouter, singular: "router", collection: "routers", path: "routers", tags: true,
	attrs: standardAttrs(map[string]attr{
		"name":                    {typ: 's', post: true, put: true},
		"admin_state_up":          {typ: 'b', post: true, put: true},
		"status":                  {typ: 's'},
		"external_gateway_info":   {typ: 'o', post: true, put: true},
		"routes":                  {typ: 'o', put: true},
		"distributed":             {typ: 'b', post: true, put: true, adminSet: true},
		"ha":                      {typ: 'b', post: true, put: true, adminSet: true},
		"availability_zone_hints": {typ: 'o', post: true},
		"availability_zones":      {typ: 'o'},
		"flavor_id":               {typ: 's', post: true},
		"tags":                    {typ: 'o', post: true, nosort: true},
	}),
	hidden:   []string{"distributed", "ha"},
	internal: []string{"neutrino:gw_port_id"},
	decode:   decoderOf[model.Router](),
	notFound: func(id string) *Error { return notFound("RouterNotFound", "Router %s could not be found", id) },
	visible:  func(v *store.View, c *reqCtx, e *store.Entry) bool { return c.admin || std(e).ProjectID == c.project },
	extra:    boundZones(model.KindL3Binding),
	deps:     bindingDeps(model.KindL3Binding),
	create:   createRouter,
	update:   updateRouter,
	delete:   deleteRouter,
}

func init() { register(routerDef) }

type gatewayReq struct {
	NetworkID        string       `json:"network_id"`
	EnableSNAT       *flexBool    `json:"enable_snat"`
	ExternalFixedIPs []fixedIPReq `json:"external_fixed_ips"`
	raw              map[string]json.RawMessage
}

type routerReq struct {
	Name                  *string                   `json:"name"`
	AdminStateUp          *flexBool                 `json:"admin_state_up"`
	ExternalGatewayInfo   optional[json.RawMessage] `json:"external_gateway_info"`
	Routes                optional[[]model.Route]   `json:"routes"`
	Distributed           *flexBool                 `json:"distributed"`
	HA                    *flexBool                 `json:"ha"`
	AvailabilityZoneHints []string                  `json:"availability_zone_hints"`
	FlavorID              optional[string]          `json:"flavor_id"`
	Description           *string                   `json:"description"`
	ProjectID             string                    `json:"project_id"`
	TenantID              string                    `json:"tenant_id"`
	Tags                  []string                  `json:"tags"`
}

// gateway parses external_gateway_info: nil means "clear" ({} or null).
func (r *routerReq) gateway(c *reqCtx, action string) (*gatewayReq, error) {
	o := r.ExternalGatewayInfo
	if o.Null {
		return nil, nil
	}
	var g gatewayReq
	if err := decode(o.V, &g.raw); err != nil {
		return nil, err
	}
	if len(g.raw) == 0 {
		return nil, nil
	}
	for k := range g.raw {
		if k != "network_id" && k != "enable_snat" && k != "external_fixed_ips" {
			return nil, badRequest("Unrecognized attribute(s) '%s'", k)
		}
	}
	if err := decode(o.V, &g); err != nil {
		return nil, err
	}
	if g.NetworkID == "" {
		return nil, invalidInput("Invalid input for external_gateway_info. Reason: network_id is required")
	}
	if !c.admin {
		if g.EnableSNAT != nil {
			return nil, policyDenied(action + "_router:external_gateway_info:enable_snat")
		}
		if g.ExternalFixedIPs != nil {
			return nil, policyDenied(action + "_router:external_gateway_info:external_fixed_ips")
		}
	}
	return &g, nil
}

func createRouter(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error) {
	var req routerReq
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := checkString("name", req.Name, 255); err != nil {
		return "", err
	}
	if err := checkTags(req.Tags); err != nil {
		return "", err
	}
	project, err := projectFor(c, req.ProjectID, req.TenantID)
	if err != nil {
		return "", err
	}
	if err := a.checkQuota(v, t, project, model.KindRouter, 1); err != nil {
		return "", err
	}
	if err := a.checkZoneHints(v, "router", req.AvailabilityZoneHints); err != nil {
		return "", err
	}
	if req.FlavorID.Set && !req.FlavorID.Null {
		return "", notFound("FlavorNotFound", "Flavor %s could not be found.", req.FlavorID.V)
	}
	r := &model.Router{
		Standard:              newStandard(a, project, req.Description, req.Tags),
		AdminStateUp:          boolOr(req.AdminStateUp, true),
		Status:                "ACTIVE",
		Routes:                []model.Route{},
		Distributed:           boolOr(req.Distributed, a.cfg.RouterDistributed),
		HA:                    boolOr(req.HA, a.cfg.L3HA),
		AvailabilityZoneHints: req.AvailabilityZoneHints,
		AvailabilityZones:     []string{},
	}
	if r.AvailabilityZoneHints == nil {
		r.AvailabilityZoneHints = []string{}
	}
	if req.Name != nil {
		r.Name = *req.Name
	}
	if r.HA {
		if _, err := a.ensureHANetwork(v, t, project); err != nil {
			return "", err
		}
	}
	rt := newRouterTxn(a, v, t, c, r)
	rt.place()
	if req.ExternalGatewayInfo.Set {
		g, err := req.gateway(c, "create")
		if err != nil {
			return "", err
		}
		if g != nil {
			if err := rt.setGateway(g); err != nil {
				return "", err
			}
		}
	}
	t.Create(model.KindRouter, r.ID, mustJSON(r))
	return r.ID, nil
}

func updateRouter(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error {
	var req routerReq
	if err := decode(body, &req); err != nil {
		return err
	}
	if err := checkString("name", req.Name, 255); err != nil {
		return err
	}
	curR, err := obj[*model.Router](e)
	if err != nil {
		return err
	}
	r := *curR
	wasUp := r.AdminStateUp
	if req.Name != nil {
		r.Name = *req.Name
	}
	if req.Description != nil {
		r.Description = *req.Description
	}
	if req.AdminStateUp != nil {
		r.AdminStateUp = bool(*req.AdminStateUp)
	}
	rt := newRouterTxn(a, v, t, c, &r)
	haChange := req.HA != nil && bool(*req.HA) != r.HA
	if haChange {
		if wasUp || r.AdminStateUp {
			return badResource("router", "Cannot change HA attribute of active routers. Please set router admin_state_up to False prior to upgrade")
		}
		r.HA = bool(*req.HA)
		var err error
		if r.HA {
			_, err = a.ensureHANetwork(v, t, r.ProjectID)
		} else {
			err = dropHA(a, v, t, c, curR)
		}
		if err != nil {
			return err
		}
	}
	if req.Distributed != nil && bool(*req.Distributed) != r.Distributed {
		// Upstream refuses while the router is up before or after the
		// request (400 BadRequest, not a conflict).
		if wasUp || r.AdminStateUp {
			return badResource("router", "Cannot change the 'distributed' attribute of active routers. Please set router admin_state_up to False prior to upgrade.")
		}
		// Where the router may live depends on the flag: place it first.
		r.Distributed = bool(*req.Distributed)
		rt.place()
		if err := rt.setDistributed(bool(*req.Distributed)); err != nil {
			return err
		}
	} else {
		rt.place()
	}
	if req.ExternalGatewayInfo.Set {
		g, err := req.gateway(c, "update")
		if err != nil {
			return err
		}
		if g == nil {
			if err := rt.clearGateway(); err != nil {
				return err
			}
		} else if err := rt.setGateway(g); err != nil {
			return err
		}
	}
	if req.Routes.Set {
		routes := req.Routes.V
		if req.Routes.Null || routes == nil {
			routes = []model.Route{}
		}
		if err := rt.setRoutes(routes); err != nil {
			return err
		}
	} else if req.ExternalGatewayInfo.Set {
		if err := rt.validateRoutes(r.Routes); err != nil {
			return err
		}
	}
	bump(a, &r.Standard)
	t.Replace(model.KindRouter, e, mustJSON(&r))
	return nil
}

func deleteRouter(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error {
	r, err := obj[*model.Router](e)
	if err != nil {
		return err
	}
	rt := newRouterTxn(a, v, t, c, r)
	var ids []string
	for _, pe := range rt.interfaces() {
		ids = append(ids, pe.ID)
	}
	if len(ids) > 0 {
		return conflict("RouterInUse", "Router %s still has ports", r.ID)
	}
	if err := rt.clearGateway(); err != nil {
		return err
	}
	if r.HA {
		if err := dropHA(a, v, t, c, r); err != nil {
			return err
		}
	}
	if be, ok := v.Get(model.KindL3Binding, r.ID); ok {
		t.Delete(model.KindL3Binding, be)
	}
	t.Delete(model.KindRouter, e)
	return nil
}
