package control

import (
	"context"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// statusBatch bounds the objects one status transaction changes.
const statusBatch = 100

// RecordStatus records what agents report about the data plane. The
// statuses are validated by the caller.
//
// A host reports all its ports at once after a (re)start; one
// transaction for thousands of them would exceed etcd's request size
// (1.5 MiB) or an external cluster's --max-txn-ops (default 128), so the
// changes go in transactions of statusBatch objects. Statuses are
// idempotent: a batch that fails is re-sent by the agent.
func (c *Control) RecordStatus(ctx context.Context, req syncproto.StatusReport) error {
	type change struct{ kind, id, status string }
	var changes []change
	for _, k := range []struct {
		kind string
		m    map[string]string
	}{{model.KindPort, req.Ports}, {model.KindFIP, req.FloatingIPs}, {model.KindRouter, req.Routers}} {
		for id, st := range k.m {
			changes = append(changes, change{k.kind, id, st})
		}
	}
	for len(changes) > 0 {
		batch := changes[:min(len(changes), statusBatch)]
		changes = changes[len(batch):]
		_, err := c.st.Update(ctx, func(v *store.View, t *store.Txn) error {
			for _, ch := range batch {
				e, ok := v.Get(ch.kind, ch.id)
				if !ok {
					continue
				}
				if rev, judged := req.Seen[ch.id]; judged && rev != e.ModRev {
					continue // about an older version of the object
				}
				switch o := e.Obj.(type) {
				case *model.Port:
					p := *o
					if _, failed := req.BindingFailed[ch.id]; failed && p.VIFType != model.VIFTypeBindingFailed {
						// The host cannot plug it: binding failed (and the
						// status below is written even if unchanged).
						p.VIFType, p.VIFDetails, p.Status = model.VIFTypeBindingFailed, map[string]any{}, ""
					} else if !failed && p.VIFType == model.VIFTypeBindingFailed {
						// The host plugs it now (its physnet was mapped
						// since): bound again, as upstream rebinds.
						BindPort(&p)
						p.Status = ""
					}
					c.setStatus(t, ch.kind, e, &p, &p.Status, &p.Standard, ch.status)
				case *model.FloatingIP:
					f := *o
					c.setStatus(t, ch.kind, e, &f, &f.Status, &f.Standard, ch.status)
				case *model.Router:
					rr := *o
					c.setStatus(t, ch.kind, e, &rr, &rr.Status, &rr.Standard, ch.status)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// setStatus plans a status change of a copy (obj) of a stored resource
// whose status and standard attributes are given; an unchanged status
// writes nothing.
func (c *Control) setStatus(t *store.Txn, kind string, e *store.Entry, obj any, status *string, std *model.Standard, want string) {
	if *status == want {
		return
	}
	*status = want
	c.bump(std)
	t.Replace(kind, e, model.MustJSON(obj))
}
