package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/api"
	"github.com/neutrino-net/neutrino/internal/control"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// agentModel is what an agent knows of its view: each object's
// revision, as the events left it.
type agentModel struct {
	mu   sync.Mutex
	revs map[syncproto.Key]int64
}

func (m *agentModel) apply(ev *syncproto.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ev.Reset {
		m.revs = map[syncproto.Key]int64{}
	}
	for _, o := range ev.Upserts {
		m.revs[syncproto.Key{Kind: o.Kind, ID: o.ID}] = o.Rev
	}
	for _, k := range ev.Deletes {
		delete(m.revs, k)
	}
	return nil
}

// TestStreamsMissNoChange runs one stream per host while random changes
// go by, some concerning one host, some every host, some changing which
// objects views hold: after each round, every stream must have brought
// its agent to exactly the host's view (the stream hub wakes only the
// streams a change may concern; none may be left asleep).
func TestStreamsMissNoChange(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := store.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	st, err := store.Open(ctx, e.Client, "/streamtest/", api.Decoders(), hostview.Indexes()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	write := func(fn func(v *store.View, tx *store.Txn)) {
		t.Helper()
		if _, err := st.Update(ctx, func(v *store.View, tx *store.Txn) error { fn(v, tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	put := func(v *store.View, tx *store.Txn, kind, id string, obj any) {
		raw, _ := json.Marshal(obj)
		if e, ok := v.Get(kind, id); ok {
			tx.Replace(kind, e, raw)
		} else {
			tx.Create(kind, id, raw)
		}
	}
	const hosts = 4
	port := func(i int, net, host string, rev int) *model.Port {
		return &model.Port{Standard: model.Standard{ID: fmt.Sprintf("p%d", i), RevisionNumber: rev}, NetworkID: net, HostID: host,
			DeviceOwner: "compute:nova", SecurityGroups: []string{"gall"}, FixedIPs: []model.FixedIP{{SubnetID: "s-" + net, IPAddress: "10.0.0.1"}}}
	}
	write(func(v *store.View, tx *store.Txn) {
		put(v, tx, model.KindSG, "gall", &model.SecurityGroup{Standard: model.Standard{ID: "gall"}})
		for n := range hosts {
			id := fmt.Sprintf("n%d", n)
			put(v, tx, model.KindNetwork, id, &model.Network{Standard: model.Standard{ID: id}, Subnets: []string{"s-" + id}, NetworkType: "vxlan"})
			put(v, tx, model.KindSubnet, "s-"+id, &model.Subnet{Standard: model.Standard{ID: "s-" + id}, CIDR: "10.0.0.0/24"})
		}
		for h := range hosts {
			host := fmt.Sprintf("h%d", h)
			put(v, tx, model.KindAgent, "l2-"+host, &model.Agent{ID: "l2-" + host, Host: host, AgentType: model.AgentTypeL2})
			put(v, tx, model.KindPort, fmt.Sprintf("p%d", h), port(h, fmt.Sprintf("n%d", h), host, 0))
		}
	})
	c := control.New(control.Options{Store: st})
	models := make([]*agentModel, hosts)
	for h := range hosts {
		models[h] = &agentModel{revs: map[syncproto.Key]int64{}}
		s, err := c.OpenStream(ctx, fmt.Sprintf("h%d", h), 0)
		if err != nil {
			t.Fatal(err)
		}
		go s.Run(ctx, models[h].apply)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 60 {
		var what string
		for range 1 + rng.IntN(4) {
			write(func(v *store.View, tx *store.Txn) {
				h := rng.IntN(hosts)
				switch i := rng.IntN(4); i {
				case 0: // a port's revision: its network's hosts
					what = "port revision"
					put(v, tx, model.KindPort, fmt.Sprintf("p%d", h), port(h, fmt.Sprintf("n%d", h), fmt.Sprintf("h%d", h), round))
				case 1: // a port moves to another network: views change shape
					what = "port moved"
					put(v, tx, model.KindPort, fmt.Sprintf("p%d", h), port(h, fmt.Sprintf("n%d", rng.IntN(hosts)), fmt.Sprintf("h%d", h), round))
				case 2: // a rule of the group every port is in: every host
					what = "rule"
					id := fmt.Sprintf("r%d", rng.IntN(3))
					if e, ok := v.Get(model.KindSGRule, id); ok {
						tx.Delete(model.KindSGRule, e)
					} else {
						put(v, tx, model.KindSGRule, id, &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: "gall", Direction: "ingress"})
					}
				case 3: // an object in no view
					what = "unrelated"
					put(v, tx, model.KindNetwork, "lonely", &model.Network{Standard: model.Standard{ID: "lonely", RevisionNumber: round}})
				}
			})
		}
		for h, m := range models {
			var want map[syncproto.Key]int64
			deadline := time.Now().Add(10 * time.Second)
			for {
				st.View(func(v *store.View) { want = revs(hostview.Compute(v, fmt.Sprintf("h%d", h))) })
				m.mu.Lock()
				same := maps.Equal(m.revs, want)
				m.mu.Unlock()
				if same {
					break
				}
				if time.Now().After(deadline) {
					m.mu.Lock()
					t.Fatalf("round %d (last change: %s): host h%d knows %v, its view is %v", round, what, h, m.revs, want)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
}

func revs(hv hostview.View) map[syncproto.Key]int64 {
	out := map[syncproto.Key]int64{}
	for k, e := range hv {
		out[k] = e.ModRev
	}
	return out
}
