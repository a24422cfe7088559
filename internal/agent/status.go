package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
	"github.com/neutrino-net/neutrino/internal/agent/plan"
	"github.com/neutrino-net/neutrino/internal/agent/plan/l2"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// statusChunk bounds the objects of one status request: a restarted
// agent reports every port of its host, and thousands in one request
// would exceed the server's max_request_body_size (112 KiB by default,
// about 2,000 ports).
const statusChunk = 500

// splitStatus splits a status report into reports of at most n objects
// (ports, then floating IPs, then routers, each in id order).
func splitStatus(rep *syncproto.StatusReport, n int) []*syncproto.StatusReport {
	var out []*syncproto.StatusReport
	cur, size := newStatusReport(), 0
	add := func(dst func(*syncproto.StatusReport) map[string]string, src map[string]string) {
		for _, id := range slices.Sorted(maps.Keys(src)) {
			if size == n {
				out = append(out, cur)
				cur, size = newStatusReport(), 0
			}
			dst(cur)[id] = src[id]
			size++
		}
	}
	add(func(r *syncproto.StatusReport) map[string]string { return r.Ports }, rep.Ports)
	add(func(r *syncproto.StatusReport) map[string]string { return r.FloatingIPs }, rep.FloatingIPs)
	add(func(r *syncproto.StatusReport) map[string]string { return r.Routers }, rep.Routers)
	if size > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	// A port's binding failure travels with its status.
	for _, part := range out {
		for id := range part.Ports {
			if why, ok := rep.BindingFailed[id]; ok {
				if part.BindingFailed == nil {
					part.BindingFailed = map[string]string{}
				}
				part.BindingFailed[id] = why
			}
		}
	}
	return out
}

func newStatusReport() *syncproto.StatusReport {
	return &syncproto.StatusReport{Ports: map[string]string{}, FloatingIPs: map[string]string{}, Routers: map[string]string{}}
}

// distributedActive reports ACTIVE the DVR router interfaces this host
// has in place. Such a port has no host of its own (every host routing
// for the router plugs its qr- device): as upstream's
// generate_distributed_port_status, it is ACTIVE when any host has it,
// and no host reports it DOWN, so that hosts do not undo each other.
func distributedActive(s *hostmodel.Snapshot, plugged map[string]bool, only *statusScope, rep *syncproto.StatusReport) {
	only.each(plugged, func(id string) {
		if p := s.Ports[id]; p != nil && p.DeviceOwner == model.OwnerRouterInterfaceD && p.AdminStateUp && p.Status != "ACTIVE" {
			rep.Ports[id] = "ACTIVE"
		}
	})
}

// statusScope is what a status report looks at: every object (nil), or
// only those that may have changed since the last report (ids).
type statusScope struct{ ids map[string]bool }

// each calls f for the keys of all that are in scope: all of them, or
// the scope's (those of them in all).
func each[V any](sc *statusScope, all map[string]V, f func(id string)) {
	if sc == nil || len(all) < len(sc.ids) {
		for id := range all {
			if sc == nil || sc.ids[id] {
				f(id)
			}
		}
		return
	}
	for id := range sc.ids {
		if _, ok := all[id]; ok {
			f(id)
		}
	}
}

func (sc *statusScope) each(all map[string]bool, f func(id string)) { each(sc, all, f) }

// statusScopeOf is the scope of a status report after a reconcile
// whose plan and apply left the rest as the last report saw it: the
// objects changed in the view (a status the server changed too), those
// whose facts the planner set or dropped, and the ports whose plugged
// state changed.
func statusScopeOf(changes []hostmodel.Change, touched map[string]bool, plugged []string) *statusScope {
	sc := &statusScope{ids: make(map[string]bool, len(changes)+len(touched)+len(plugged))}
	for _, c := range changes {
		sc.ids[c.Key.ID] = true
	}
	for id := range touched {
		sc.ids[id] = true
	}
	for _, id := range plugged {
		sc.ids[id] = true
	}
	return sc
}

// bindingFailed adds the ports this host cannot plug to the report
// (DOWN, binding failed) until the server shows them so, and logs each
// once with the physical network it does not map: no retry storm.
func (a *Agent) bindingFailed(s *hostmodel.Snapshot, facts plan.Facts, rep *syncproto.StatusReport) {
	for id, physnet := range facts.BindingFailed {
		if a.unbound[id] != physnet {
			// A missing kernel feature was logged once at start
			// (probeKernel), not per port.
			if !l2.KernelReason(physnet) {
				a.log.Error("port cannot be bound on this host: physical network not mapped", "port", id, "physical_network", physnet)
			}
			a.unbound[id] = physnet
		}
		if p := s.Ports[id]; p != nil && p.VIFType != model.VIFTypeBindingFailed {
			if rep.BindingFailed == nil {
				rep.BindingFailed = map[string]string{}
			}
			rep.BindingFailed[id] = physnet
			rep.Ports[id] = "DOWN"
		}
	}
	for id := range a.unbound {
		if _, ok := facts.BindingFailed[id]; !ok {
			delete(a.unbound, id)
		}
	}
}

// reportStatus tells the server which of this host's ports are plugged
// (ACTIVE) or not (DOWN), sending only what differs from what the server
// already shows. With a scope it looks only at the objects in it (see
// statusDirty); the others are as the last report left them.
func (a *Agent) reportStatus(ctx context.Context, s *hostmodel.Snapshot, plugged map[string]bool, facts plan.Facts, applied func(ns string) bool, only *statusScope) error {
	rep := &syncproto.StatusReport{Ports: map[string]string{}, FloatingIPs: map[string]string{}, Routers: map[string]string{}}
	each(only, facts.Routers, func(id string) {
		if rr := s.Routers[id]; rr != nil && rr.Status != "ACTIVE" && applied(facts.Routers[id]) {
			rep.Routers[id] = "ACTIVE"
		}
	})
	each(only, facts.FloatingIPs, func(id string) {
		fip := facts.FloatingIPs[id]
		if !applied(fip.Namespace) && fip.Status == "ACTIVE" {
			return // report ACTIVE only once the kernel has it
		}
		if f := s.FloatingIPs[id]; f != nil && f.Status != fip.Status {
			rep.FloatingIPs[id] = fip.Status
		}
	})
	each(only, facts.Ports, func(id string) {
		p := s.Ports[id]
		want := "DOWN"
		if plugged[id] && facts.Ports[id] {
			want = "ACTIVE"
		}
		if p != nil && p.Status != want {
			rep.Ports[id] = want
		}
	})
	distributedActive(s, plugged, only, rep)
	a.bindingFailed(s, facts, rep)
	// Judge each object at the revision the model holds; skip what was
	// already reported at that revision (the server's answer is on its
	// way), and tell the server which revision each status is about.
	rep.Seen = map[string]int64{}
	a.mu.Lock()
	each(only, a.sent, func(id string) {
		if s.Ports[id] == nil && s.FloatingIPs[id] == nil && s.Routers[id] == nil {
			delete(a.sent, id) // gone from the view
		}
	})
	for kind, m := range map[string]map[string]string{model.KindPort: rep.Ports, model.KindFIP: rep.FloatingIPs, model.KindRouter: rep.Routers} {
		for id, st := range m {
			o, ok := a.model.Get(kind, id)
			if !ok || a.sent[id] == fmt.Sprint(o.Rev, st) {
				delete(m, id)
				continue
			}
			rep.Seen[id] = o.Rev
		}
	}
	a.mu.Unlock()
	if len(rep.Ports)+len(rep.FloatingIPs)+len(rep.Routers) == 0 {
		return nil
	}
	for _, part := range splitStatus(rep, statusChunk) {
		part.Seen = rep.Seen
		if err := a.client.Status(ctx, part); err != nil {
			return fmt.Errorf("report status: %w", err)
		}
		a.mu.Lock()
		for _, m := range []map[string]string{part.Ports, part.FloatingIPs, part.Routers} {
			for id, st := range m {
				a.sent[id] = fmt.Sprint(rep.Seen[id], st)
			}
		}
		a.mu.Unlock()
	}
	return nil
}
