package hostview

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// pick returns a random ID of kind ("" if none), in a stable order.
func pick(rng *rand.Rand, v *store.View, kind string) string {
	var ids []string
	v.Each(kind, func(e *store.Entry) bool { ids = append(ids, e.ID); return true })
	if len(ids) == 0 {
		return ""
	}
	slices.Sort(ids)
	return ids[rng.IntN(len(ids))]
}

// touched are the objects the current random transaction changed (nil
// outside randomChange): the store refuses a key changed twice in one
// transaction, so a second change of the same object is skipped.
var touched map[string]bool

// claim reports whether kind/id is still unchanged in this transaction,
// and marks it changed.
func claim(kind, id string) bool {
	k := kind + "/" + id
	if touched == nil {
		return true
	}
	if touched[k] {
		return false
	}
	touched[k] = true
	return true
}

// modify rewrites object kind/id with fn applied to a copy of it.
func modify[T any](v *store.View, tx *store.Txn, kind, id string, fn func(*T)) {
	e, ok := tx.Get(v, kind, id)
	if !ok || !claim(kind, id) {
		return
	}
	t := new(T)
	if err := json.Unmarshal(e.Raw, t); err != nil {
		panic(err)
	}
	fn(t)
	raw, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	tx.Replace(kind, e, raw)
}

func oneOf(rng *rand.Rand, s ...string) string { return s[rng.IntN(len(s))] }

var ruleSeq int

// routers are the seeded routers: R0 distributed, R1 legacy, R2 legacy HA.
var routers = []string{"R0", "R1", "R2"}

// randomChange makes one random change (sometimes two in one
// transaction) and says what it was. Most are local; about a third can
// move objects in or out of views.
func randomChange(rng *rand.Rand, v *store.View, tx *store.Txn) string {
	touched = map[string]bool{}
	defer func() { touched = nil }()
	what := oneChange(rng, v, tx)
	if rng.IntN(5) == 0 {
		what += " + " + oneChange(rng, v, tx)
	}
	return what
}

func oneChange(rng *rand.Rand, v *store.View, tx *store.Txn) string {
	hosts := []string{"h0", "h1", "h2", "h3", "h4", ""}
	groups := []string{"g0", "g1", "g2", "gall", "gnone"}
	port := pick(rng, v, model.KindPort)
	switch n := rng.IntN(21); n {
	case 0, 1:
		modify(v, tx, model.KindPort, port, func(p *model.Port) { p.Status = oneOf(rng, "ACTIVE", "DOWN"); p.Name += "x" })
		return "port status " + port
	case 2:
		modify(v, tx, model.KindPort, port, func(p *model.Port) { p.HostID = oneOf(rng, hosts...) })
		return "port host " + port
	case 3:
		modify(v, tx, model.KindPort, port, func(p *model.Port) { p.SecurityGroups = []string{oneOf(rng, groups...)} })
		return "port groups " + port
	case 4, 5, 6:
		ruleSeq++
		id := fmt.Sprintf("rr%d", ruleSeq)
		r := &model.SecurityGroupRule{Standard: model.Standard{ID: id}, SecurityGroupID: oneOf(rng, groups...), RemoteIPPrefix: strp("203.0.113.0/24")}
		if rng.IntN(4) == 0 {
			r.RemoteGroupID = strp(oneOf(rng, groups...))
		}
		put(tx, model.KindSGRule, id, r)
		return "rule add " + id
	case 7, 8:
		if id := pick(rng, v, model.KindSGRule); id != "" {
			if e, ok := tx.Get(v, model.KindSGRule, id); ok && claim(model.KindSGRule, id) {
				tx.Delete(model.KindSGRule, e)
				return "rule delete " + id
			}
		}
		return "nothing"
	case 9, 10, 19:
		return fipChange(rng, v, tx)
	case 11:
		ag := pick(rng, v, model.KindAgent)
		modify(v, tx, model.KindAgent, ag, func(a *model.Agent) {
			a.HeartbeatTimestamp = fmt.Sprint(rng.IntN(1000))
			if rng.IntN(3) == 0 && a.AgentType == model.AgentTypeL3 {
				a.Configurations = map[string]any{"agent_mode": oneOf(rng, model.ModeDVR, model.ModeDVRSNAT, model.ModeLegacy, model.ModeDVRNoExternal)}
			}
		})
		return "agent " + ag
	case 12:
		r := oneOf(rng, routers...)
		modify(v, tx, model.KindRouter, r, func(r *model.Router) {
			r.Name += "x"
			if rng.IntN(3) == 0 {
				r.Distributed = !r.Distributed
			}
			if rng.IntN(3) == 0 {
				r.ExternalGatewayInfo = nil
			}
		})
		return "router " + r
	case 13:
		nid := pick(rng, v, model.KindNetwork)
		modify(v, tx, model.KindNetwork, nid, func(n *model.Network) {
			n.Name += "x"
			if rng.IntN(4) == 0 {
				n.External = !n.External
			}
			if rng.IntN(4) == 0 {
				n.NetworkType = oneOf(rng, "vxlan", "flat")
			}
		})
		return "network " + nid
	case 14:
		sid := pick(rng, v, model.KindSubnet)
		modify(v, tx, model.KindSubnet, sid, func(s *model.Subnet) { s.Name += "x" })
		return "subnet " + sid
	case 15:
		g := pick(rng, v, model.KindSG)
		modify(v, tx, model.KindSG, g, func(g *model.SecurityGroup) { g.Description += "x" })
		return "group " + g
	case 16:
		modify(v, tx, model.KindAddressGroup, "ag0", func(a *model.AddressGroup) { a.Addresses = append(a.Addresses, "192.168.0.0/24") })
		return "address group"
	case 17:
		r := oneOf(rng, routers...)
		modify(v, tx, model.KindL3Binding, r, func(b *model.Binding) { b.AgentIDs = []string{"l3-" + oneOf(rng, hosts[:5]...)} })
		return "binding " + r
	case 18:
		modify(v, tx, model.KindPort, port, func(p *model.Port) {
			p.DeviceOwner = oneOf(rng, "compute:nova", model.OwnerRouterHA, model.OwnerFloatingIP, model.OwnerDHCP)
		})
		return "port owner " + port
	default:
		ruleSeq++
		id := fmt.Sprintf("pp%d", ruleSeq)
		nid := oneOf(rng, "n1", "n2", "n3")
		put(tx, model.KindPort, id, &model.Port{Standard: model.Standard{ID: id}, NetworkID: nid, HostID: oneOf(rng, hosts...),
			DeviceOwner: "compute:nova", SecurityGroups: []string{oneOf(rng, groups...)}, FixedIPs: []model.FixedIP{{SubnetID: "s" + nid[1:]}}})
		return "port add " + id
	}
}

// fipChange makes a floating IP change: a new status (local), an
// association to a legacy or distributed router or none, a creation or
// deletion (associated or not), or an association together with its
// router turning distributed or legacy, in either order in the batch.
func fipChange(rng *rand.Rand, v *store.View, tx *store.Txn) string {
	fip := pick(rng, v, model.KindFIP)
	associate := func(f *model.FloatingIP) string {
		f.PortID, f.RouterID = nil, nil
		r := oneOf(rng, append(routers, "")...)
		if r != "" {
			f.RouterID = strp(r)
		}
		if r != "" || rng.IntN(4) == 0 {
			f.PortID = strp(pick(rng, v, model.KindPort))
		}
		return r
	}
	switch rng.IntN(6) {
	case 0:
		modify(v, tx, model.KindFIP, fip, func(f *model.FloatingIP) {
			f.Status = oneOf(rng, "ACTIVE", "DOWN")
			f.FixedIPAddress = strp("10.0.0.9")
		})
		return "fip status " + fip
	case 1, 2:
		var r string
		modify(v, tx, model.KindFIP, fip, func(f *model.FloatingIP) { r = associate(f) })
		return "fip association " + fip + " to " + r
	case 3:
		ruleSeq++
		id := fmt.Sprintf("ff%d", ruleSeq)
		f := &model.FloatingIP{Standard: model.Standard{ID: id}}
		r := ""
		if rng.IntN(2) == 0 {
			r = associate(f)
		}
		put(tx, model.KindFIP, id, f)
		return "fip add " + id + " to " + r
	case 4:
		if e, ok := tx.Get(v, model.KindFIP, fip); ok && claim(model.KindFIP, fip) {
			tx.Delete(model.KindFIP, e)
			return "fip delete " + fip
		}
		return "nothing"
	default:
		r := oneOf(rng, routers...)
		flip := func() { modify(v, tx, model.KindRouter, r, func(r *model.Router) { r.Distributed = !r.Distributed }) }
		first := rng.IntN(2) == 0
		if first {
			flip()
		}
		modify(v, tx, model.KindFIP, fip, func(f *model.FloatingIP) {
			f.RouterID, f.PortID = strp(r), strp(pick(rng, v, model.KindPort))
		})
		if !first {
			flip()
		}
		return fmt.Sprintf("fip %s to %s, router flipped (first %v)", fip, r, first)
	}
}
