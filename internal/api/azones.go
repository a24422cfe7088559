package api

import (
	"net/http"
	"slices"
	"sort"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// Availability zones (availability_zone, network_availability_zone,
// router_availability_zone): a network's zones are its DHCP agents',
// a router's its L3 agents', as each agent reports its own. The server's
// default zone always exists, so that an API-only server (no agents)
// accepts hints of it.

// azResource names the resource an agent type's zones are for.
func azResource(agentType string) string {
	switch agentType {
	case model.AgentTypeDHCP:
		return "network"
	case model.AgentTypeL3:
		return "router"
	}
	return ""
}

// zoneState is a zone of one resource type and whether some agent in it
// is enabled and alive ("available", as upstream).
type zoneState struct{ name, resource, state string }

func (a *API) zones(v *store.View) []zoneState {
	avail := map[[2]string]bool{}
	if z := a.cfg.DefaultAvailabilityZn; z != "" {
		for _, res := range []string{"network", "router"} {
			avail[[2]string{z, res}] = true
		}
	}
	v.Each(model.KindAgent, func(e *store.Entry) bool {
		ag, ok := store.As[*model.Agent](e)
		if !ok || azResource(ag.AgentType) == "" || ag.AvailabilityZone == nil || *ag.AvailabilityZone == "" {
			return true
		}
		k := [2]string{*ag.AvailabilityZone, azResource(ag.AgentType)}
		avail[k] = avail[k] || (ag.AdminStateUp && a.ctl.Alive(v, e.ID))
		return true
	})
	out := make([]zoneState, 0, len(avail))
	for k, up := range avail {
		st := "unavailable"
		if up {
			st = "available"
		}
		out = append(out, zoneState{k[0], k[1], st})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].resource < out[j].resource
	})
	return out
}

// checkZoneHints refuses hints naming a zone no agent of the resource's
// type reports (AvailabilityZoneNotFound, 404, as upstream).
func (a *API) checkZoneHints(v *store.View, resource string, hints []string) error {
	zs := a.zones(v)
	for _, h := range hints {
		if !slices.ContainsFunc(zs, func(z zoneState) bool { return z.name == h && z.resource == resource }) {
			return notFound("AvailabilityZoneNotFound", "AvailabilityZone %s could not be found.", h)
		}
	}
	return nil
}

func (a *API) listAvailabilityZones(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	var out []map[string]string
	a.st.View(func(v *store.View) {
		for _, z := range a.zones(v) {
			out = append(out, map[string]string{"name": z.name, "resource": z.resource, "state": z.state})
		}
	})
	writeJSON(w, http.StatusOK, map[string]any{"availability_zones": out})
	return nil
}

// boundZones renders a router's (L3 binding) or network's (DHCP
// binding) availability_zones: the zones of the agents it is bound to,
// as upstream derives them.
func boundZones(bindingKind string) func(v *store.View, e *store.Entry) map[string]any {
	return func(v *store.View, e *store.Entry) map[string]any {
		zones := []string{}
		if _, b, ok := store.GetAs[*model.Binding](v, bindingKind, e.ID); ok {
			for _, id := range b.AgentIDs {
				_, ag, ok := store.GetAs[*model.Agent](v, model.KindAgent, id)
				if ok && ag.AvailabilityZone != nil && *ag.AvailabilityZone != "" && !slices.Contains(zones, *ag.AvailabilityZone) {
					zones = append(zones, *ag.AvailabilityZone)
				}
			}
		}
		slices.Sort(zones)
		return map[string]any{"availability_zones": zones}
	}
}

// bindingDeps are the entries boundZones reads (the binding and its
// agents), so that a router's or network's rendering is kept until one
// of them changes (heartbeats do not change agent entries).
func bindingDeps(bindingKind string) func(v *store.View, e *store.Entry) []*store.Entry {
	return func(v *store.View, e *store.Entry) []*store.Entry {
		be, ok := v.Get(bindingKind, e.ID)
		if !ok {
			return nil
		}
		out := []*store.Entry{be}
		if b, ok := store.As[*model.Binding](be); ok {
			for _, id := range b.AgentIDs {
				if ae, ok := v.Get(model.KindAgent, id); ok {
					out = append(out, ae)
				}
			}
		}
		return out
	}
}
