package control

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/claims"
	"github.com/neutrino-net/neutrino/internal/hostview"
	"github.com/neutrino-net/neutrino/internal/ipam"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// dvrBaseMAC is upstream's dvr_base_mac default; it must differ from
// base_mac so that host MACs never collide with port MACs.
const dvrBaseMAC = "fa:16:3f:00:00:00"

// Report records a host's agents (registering new ones), their
// heartbeats, and the host's DVR MAC when one of them routes
// distributed. The request is validated by the caller.
func (c *Control) Report(ctx context.Context, req syncproto.ReportRequest) (syncproto.ReportResponse, error) {
	now := c.now()
	stamp := now.UTC().Format(model.AgentTimeFormat)
	var resp syncproto.ReportResponse
	_, err := c.st.Update(ctx, func(v *store.View, t *store.Txn) error {
		resp = syncproto.ReportResponse{}
		needDVRMAC := false
		for _, as := range req.Agents {
			needDVRMAC = needDVRMAC || wantsDVRMAC(as)
			info, revived := c.reportAgent(v, t, req, as, stamp)
			resp.Revived = resp.Revived || revived
			t.PutValue(heartbeatKey(info.ID), heartbeatValue(now, req.ReportInterval, req.AppliedRevision), false)
			resp.Agents = append(resp.Agents, info)
		}
		if needDVRMAC {
			if _, ok := v.Get(model.KindDVRMAC, req.Host); !ok {
				mac, err := newDVRMAC(v)
				if err != nil {
					return err
				}
				t.Claim(claims.DVRMAC, mac, req.Host)
				t.Create(model.KindDVRMAC, req.Host, model.MustJSON(&model.DVRMAC{Host: req.Host, MACAddress: mac}))
			}
		}
		return nil
	})
	return resp, err
}

func wantsDVRMAC(as syncproto.AgentState) bool {
	if m, _ := as.Configurations["agent_mode"].(string); m == model.ModeDVR || m == model.ModeDVRSNAT || m == model.ModeDVRNoExternal {
		return true
	}
	on, _ := as.Configurations["enable_distributed_routing"].(bool)
	return on
}

// reportAgent plans one agent's record: created on first report,
// rewritten when what it reports changed. It reports whether a known
// agent came back from the dead.
func (c *Control) reportAgent(v *store.View, t *store.Txn, req syncproto.ReportRequest, as syncproto.AgentState, stamp string) (syncproto.AgentInfo, bool) {
	var cur *store.Entry
	var prev *model.Agent
	for _, ae := range v.Index(model.KindAgent, hostview.ByHost, req.Host) {
		if ag, ok := store.As[*model.Agent](ae); ok && ag.AgentType == as.AgentType {
			cur, prev = ae, ag
		}
	}
	var ag model.Agent
	revived := false
	if cur == nil {
		ag = model.Agent{ID: uuid.NewString(), AgentType: as.AgentType, Host: req.Host, AdminStateUp: true, CreatedAt: stamp, StartedAt: stamp}
		t.Claim(claims.Agent, claims.AgentMember(as.AgentType, req.Host), ag.ID)
	} else {
		ag = *prev
		if !c.Alive(v, ag.ID) {
			revived = ag.HeartbeatTimestamp != ""
		}
	}
	changed := cur == nil || req.StartFlag || ag.Binary != as.Binary || ag.Topic != as.Topic || !jsonEqual(ag.Configurations, as.Configurations) || azOf(ag) != as.AvailabilityZone
	if changed {
		ag.Binary, ag.Topic, ag.Configurations = as.Binary, as.Topic, as.Configurations
		if ag.Configurations == nil {
			ag.Configurations = map[string]any{}
		}
		if as.AvailabilityZone != "" {
			az := as.AvailabilityZone
			ag.AvailabilityZone = &az
		}
		if req.StartFlag {
			ag.StartedAt = stamp
		}
		ag.HeartbeatTimestamp = stamp
		if ag.ResourceVersions == nil {
			ag.ResourceVersions = map[string]any{}
		}
		if cur == nil {
			t.Create(model.KindAgent, ag.ID, model.MustJSON(&ag))
		} else {
			t.Replace(model.KindAgent, cur, model.MustJSON(&ag))
		}
	}
	return syncproto.AgentInfo{ID: ag.ID, AgentType: ag.AgentType, AdminStateUp: ag.AdminStateUp}, revived
}

func azOf(ag model.Agent) string {
	if ag.AvailabilityZone == nil {
		return ""
	}
	return *ag.AvailabilityZone
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func newDVRMAC(v *store.View) (string, error) {
	for range 32 {
		mac, err := ipam.GenerateMAC(dvrBaseMAC, rand.IntN)
		if err != nil {
			return "", err
		}
		if _, used := v.Claim(claims.DVRMAC, mac); !used {
			return mac, nil
		}
	}
	return "", newError(500, "MacAddressGenerationFailure", "Unable to generate a unique DVR MAC address.")
}

// DeleteAgent plans the removal of an agent: its record, claim and
// heartbeat, its place in router and network bindings (and its DHCP
// ports), and the host's DVR MAC when it was the host's last agent.
func (c *Control) DeleteAgent(v *store.View, t *store.Txn, e *store.Entry, ag *model.Agent) {
	t.Delete(model.KindAgent, e)
	if owner, ok := v.Claim(claims.Agent, claims.AgentMember(ag.AgentType, ag.Host)); ok && owner == ag.ID {
		t.Release(claims.Agent, claims.AgentMember(ag.AgentType, ag.Host))
	}
	t.DeleteValue(heartbeatKey(ag.ID))
	for _, kind := range []string{model.KindL3Binding, model.KindDHCPBinding} {
		for _, be := range v.Index(kind, hostview.ByAgent, ag.ID) {
			cur, ok := store.As[*model.Binding](be)
			if !ok {
				continue
			}
			b := *cur
			b.AgentIDs = slices.DeleteFunc(slices.Clone(b.AgentIDs), func(x string) bool { return x == ag.ID })
			if kind == model.KindL3Binding && b.ActiveAgentID == ag.ID {
				// The router's addresses move only once the host
				// dropped them or went silent (demote.go).
				c.demote(v, &b, ag)
			}
			if len(b.AgentIDs) == 0 {
				t.Delete(kind, be)
			} else {
				t.Replace(kind, be, model.MustJSON(&b))
			}
			if kind == model.KindDHCPBinding {
				c.RemoveDHCPPort(v, t, be.ID, ag.ID)
			}
		}
	}
	if len(v.Index(model.KindAgent, hostview.ByHost, ag.Host)) == 1 {
		if me, ok := v.Get(model.KindDVRMAC, ag.Host); ok {
			if m, ok := store.As[*model.DVRMAC](me); ok {
				t.Release(claims.DVRMAC, m.MACAddress)
			}
			t.Delete(model.KindDVRMAC, me)
		}
	}
}

// RemoveDHCPPort deletes the DHCP port of (network, agent) and its claim.
func (c *Control) RemoveDHCPPort(v *store.View, t *store.Txn, netID, agentID string) {
	group := claims.DHCPPort(netID)
	owner, ok := v.Claim(group, agentID)
	if !ok {
		return
	}
	if pe, ok := v.Get(model.KindPort, owner); ok {
		c.ports.DeletePort(t, pe)
	}
	t.Release(group, agentID)
}
