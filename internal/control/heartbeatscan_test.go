package control

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// TestHeartbeatScanMatchesDeadline: the controller's scan, which keeps
// the agents' keys and parsed heartbeats between scans, answers what
// livenessDeadline answers after random agent creations and deletions,
// heartbeats (new, repeated, with other intervals, unparsable) and
// time passing.
func TestHeartbeatScanMatchesDeadline(t *testing.T) {
	ctx := context.Background()
	e, err := store.StartEmbedded(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	decoders := map[string]store.Decoder{model.KindAgent: func(raw []byte) (any, error) {
		var a model.Agent
		err := json.Unmarshal(raw, &a)
		return &a, err
	}}
	st, err := store.Open(ctx, e.Client, "/hbscan/", decoders)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	now := time.UnixMilli(1_800_000_000_000)
	c := New(Options{Store: st, Now: func() time.Time { return now }})
	c.cfg.AgentDownTime = 75 * time.Second
	rng := rand.New(rand.NewPCG(3, 5))
	var hs heartbeatScan
	for step := range 400 {
		for range rng.IntN(4) {
			id := fmt.Sprintf("a%d", rng.IntN(12))
			_, err := st.Update(ctx, func(v *store.View, tx *store.Txn) error {
				ent, exists := v.Get(model.KindAgent, id)
				switch r := rng.IntN(10); {
				case r == 0 && exists:
					tx.Delete(model.KindAgent, ent)
					tx.DeleteValue(heartbeatKey(id))
				case r == 1 && !exists:
					raw, _ := json.Marshal(&model.Agent{ID: id, Host: id})
					tx.Create(model.KindAgent, id, raw)
				case r == 2:
					tx.PutValue(heartbeatKey(id), []byte("garbage"), false)
				default:
					at := now.Add(-time.Duration(rng.IntN(120)) * time.Second)
					tx.PutValue(heartbeatKey(id), heartbeatValue(at, []float64{0, 0.5, 4, 30}[rng.IntN(4)], 0), false)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		st.View(func(v *store.View) {
			gotNext, gotAlive := hs.deadline(c, v)
			wantNext, wantAlive := c.livenessDeadline(v)
			if !gotNext.Equal(wantNext) || !maps.Equal(gotAlive, wantAlive) {
				t.Fatalf("step %d: scan %v %v, want %v %v", step, gotNext, gotAlive, wantNext, wantAlive)
			}
		})
	}
}
