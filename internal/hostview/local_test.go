package hostview

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

func decoder[T any]() store.Decoder {
	return func(raw []byte) (any, error) {
		t := new(T)
		return t, json.Unmarshal(raw, t)
	}
}

// viewStore is a store with the kinds and indexes views are made of.
// storeWriter returns a function that commits one change to s, failing
// the test if it does not commit.
func storeWriter(t *testing.T, s *store.Store) func(fn func(v *store.View, tx *store.Txn)) {
	return func(fn func(v *store.View, tx *store.Txn)) {
		t.Helper()
		if _, err := s.Update(context.Background(), func(v *store.View, tx *store.Txn) error { fn(v, tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
}

func viewStore(t *testing.T) *store.Store {
	ctx := context.Background()
	e, err := store.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	dec := map[string]store.Decoder{
		model.KindNetwork: decoder[model.Network](), model.KindSubnet: decoder[model.Subnet](),
		model.KindPort: decoder[model.Port](), model.KindSG: decoder[model.SecurityGroup](),
		model.KindSGRule: decoder[model.SecurityGroupRule](), model.KindRouter: decoder[model.Router](),
		model.KindFIP: decoder[model.FloatingIP](), model.KindAgent: decoder[model.Agent](),
		model.KindL3Binding: decoder[model.Binding](), model.KindDHCPBinding: decoder[model.Binding](),
		model.KindDVRMAC: decoder[model.DVRMAC](), model.KindAddressGroup: decoder[model.AddressGroup](),
	}
	s, err := store.Open(ctx, e.Client, "/viewtest/", dec, Indexes()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// watcher is what an agent stream keeps: what it sent, and what the
// computation behind it read.
type watcher struct {
	host  string
	known Known
	reads *store.ReadSet
}

// sync brings w up to v as a stream does: incrementally when it can,
// by recomputing otherwise. It returns what it would send and whether
// it recomputed.
func (w *watcher) sync(v *store.View) (up []syncproto.Object, del []syncproto.Key, full bool) {
	if w.reads != nil {
		var ok bool
		if up, del, w.known, ok = Follow(v, w.reads, w.known); ok {
			return up, del, false
		}
	} else {
		w.reads = store.NewReadSet()
	}
	cur := Compute(v.Recording(w.reads), w.host)
	up, del = Diff(w.known, cur)
	w.known = w.known.Update(up, del)
	return up, del, true
}

// TestFollowMatchesCompute applies random sequences of changes (local
// ones and ones that move objects in and out of views) to a small
// cloud; after each, every watcher that syncs (some lag several
// changes behind) must know exactly what a full recompute gives, and
// must have been sent exactly the difference.
func TestFollowMatchesCompute(t *testing.T) {
	s := viewStore(t)
	write := storeWriter(t, s)
	write(seedCloud)
	var ws []*watcher
	for h := range 5 {
		ws = append(ws, &watcher{host: fmt.Sprintf("h%d", h)})
	}
	// And one that syncs every 12th change only: many changes at once
	// (Follow's pending set outgrows its few slots).
	slow := &watcher{host: "h1"}
	ws = append(ws, slow)
	incremental, full := 0, 0
	for seed := range 4 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		for step := range 150 {
			var what string
			write(func(v *store.View, tx *store.Txn) { what = randomChange(rng, v, tx) })
			for _, w := range ws {
				if rng.IntN(3) == 0 || w == slow && step%12 != 0 {
					continue // lags behind: the next sync takes several changes
				}
				s.View(func(v *store.View) {
					before := slices.Clone(w.known)
					up, del, recomputed := w.sync(v)
					if recomputed {
						full++
					} else {
						incremental++
					}
					want := Compute(v, w.host)
					if got, exp := fmt.Sprint(w.known), fmt.Sprint(Revs(want)); got != exp {
						t.Fatalf("seed %d step %d (%s), host %s (recomputed %v):\nknown %s\nwant  %s", seed, step, what, w.host, recomputed, got, exp)
					}
					wup, wdel := Diff(before, want)
					if fmt.Sprint(up, del) != fmt.Sprint(wup, wdel) {
						t.Fatalf("seed %d step %d (%s), host %s: sent %v %v, want %v %v", seed, step, what, w.host, up, del, wup, wdel)
					}
				})
			}
		}
	}
	t.Logf("%d incremental syncs, %d recomputes", incremental, full)
	if incremental == 0 || full == 0 {
		t.Fatal("both paths must be exercised")
	}
}

func put(tx *store.Txn, kind, id string, obj any) {
	raw, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	tx.Create(kind, id, raw)
}

func strp(s string) *string { return &s }

// seedCloud: 5 hosts (L2 agents, L3 agents in every mode, two DHCP
// agents), an external flat network and three VXLAN ones, a distributed
// router, a legacy one and a legacy HA one, groups with plain, remote
// group and address group rules, floating IPs.
func seedCloud(_ *store.View, tx *store.Txn) {
	modes := []string{model.ModeDVRSNAT, model.ModeDVR, model.ModeLegacy, model.ModeDVRNoExternal, model.ModeDVR}
	for h := range 5 {
		host := fmt.Sprintf("h%d", h)
		put(tx, model.KindAgent, "l2-"+host, &model.Agent{ID: "l2-" + host, Host: host, AgentType: model.AgentTypeL2})
		put(tx, model.KindAgent, "l3-"+host, &model.Agent{ID: "l3-" + host, Host: host, AgentType: model.AgentTypeL3, Configurations: map[string]any{"agent_mode": modes[h]}})
		if h < 2 {
			put(tx, model.KindAgent, "dhcp-"+host, &model.Agent{ID: "dhcp-" + host, Host: host, AgentType: model.AgentTypeDHCP})
			put(tx, model.KindDVRMAC, host, &model.DVRMAC{Host: host, MACAddress: "fa:16:3f:00:00:0" + fmt.Sprint(h)})
		}
	}
	for n := range 4 {
		id, sid := fmt.Sprintf("n%d", n), fmt.Sprintf("s%d", n)
		typ := "vxlan"
		if n == 0 {
			typ = "flat"
		}
		put(tx, model.KindNetwork, id, &model.Network{Standard: model.Standard{ID: id}, Subnets: []string{sid}, External: n == 0, NetworkType: typ})
		put(tx, model.KindSubnet, sid, &model.Subnet{Standard: model.Standard{ID: sid}})
	}
	put(tx, model.KindDHCPBinding, "n1", &model.Binding{ID: "n1", AgentIDs: []string{"dhcp-h0"}})
	gw := &model.GatewayInfo{NetworkID: "n0"}
	put(tx, model.KindRouter, "R0", &model.Router{Standard: model.Standard{ID: "R0"}, Distributed: true, ExternalGatewayInfo: gw})
	put(tx, model.KindRouter, "R1", &model.Router{Standard: model.Standard{ID: "R1"}, ExternalGatewayInfo: gw})
	put(tx, model.KindL3Binding, "R0", &model.Binding{ID: "R0", AgentIDs: []string{"l3-h0", "l3-h1"}})
	put(tx, model.KindL3Binding, "R1", &model.Binding{ID: "R1", AgentIDs: []string{"l3-h2"}})
	put(tx, model.KindRouter, "R2", &model.Router{Standard: model.Standard{ID: "R2"}, HA: true, ExternalGatewayInfo: gw})
	put(tx, model.KindL3Binding, "R2", &model.Binding{ID: "R2", AgentIDs: []string{"l3-h2", "l3-h4"}})
	port := func(id, net, host, dev, owner string, groups ...string) {
		put(tx, model.KindPort, id, &model.Port{Standard: model.Standard{ID: id}, NetworkID: net, HostID: host, DeviceID: dev, DeviceOwner: owner,
			SecurityGroups: groups, FixedIPs: []model.FixedIP{{SubnetID: "s" + net[1:], IPAddress: "10.0.0.1"}}})
	}
	port("ri1", "n1", "", "R0", model.OwnerRouterInterfaceD)
	port("ri2", "n2", "", "R0", model.OwnerRouterInterfaceD)
	port("ri3", "n3", "h2", "R1", model.OwnerRouterInterface)
	port("gw0", "n0", "h0", "R0", model.OwnerRouterGateway)
	port("fp0", "n0", "", "f0", model.OwnerFloatingIP)
	port("ha0", "n3", "h2", "R1", model.OwnerRouterHA)
	port("ri4", "n2", "h4", "R2", model.OwnerRouterInterface)
	port("ha1", "n3", "h4", "R2", model.OwnerRouterHA)
	for i := range 8 {
		port(fmt.Sprintf("p%d", i), fmt.Sprintf("n%d", 1+i%3), fmt.Sprintf("h%d", i%5), fmt.Sprintf("vm%d", i), "compute:nova", fmt.Sprintf("g%d", i%3), "gall")
	}
	for _, g := range []string{"g0", "g1", "g2", "gall"} {
		put(tx, model.KindSG, g, &model.SecurityGroup{Standard: model.Standard{ID: g}})
	}
	put(tx, model.KindAddressGroup, "ag0", &model.AddressGroup{Standard: model.Standard{ID: "ag0"}})
	put(tx, model.KindSGRule, "r0", &model.SecurityGroupRule{Standard: model.Standard{ID: "r0"}, SecurityGroupID: "g0", RemoteGroupID: strp("g1")})
	put(tx, model.KindSGRule, "r1", &model.SecurityGroupRule{Standard: model.Standard{ID: "r1"}, SecurityGroupID: "g1", RemoteAddressGroupID: strp("ag0")})
	put(tx, model.KindSGRule, "r2", &model.SecurityGroupRule{Standard: model.Standard{ID: "r2"}, SecurityGroupID: "gall", RemoteIPPrefix: strp("198.51.100.0/24")})
	put(tx, model.KindFIP, "f0", &model.FloatingIP{Standard: model.Standard{ID: "f0"}, PortID: strp("p1"), RouterID: strp("R0")})
	put(tx, model.KindFIP, "f1", &model.FloatingIP{Standard: model.Standard{ID: "f1"}, PortID: strp("p2"), RouterID: strp("R1")})
	put(tx, model.KindFIP, "f2", &model.FloatingIP{Standard: model.Standard{ID: "f2"}})
	put(tx, model.KindFIP, "f3", &model.FloatingIP{Standard: model.Standard{ID: "f3"}, PortID: strp("p3"), RouterID: strp("R2")})
}
