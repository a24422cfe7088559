package agent

import (
	"context"

	"github.com/neutrino-net/neutrino/internal/agent/hostmodel"
)

// services runs the in-process servers that live in agent namespaces
// (DHCP now; the metadata proxy later), started and stopped to match the
// snapshot.
type services struct {
	a *Agent
}

func newServices(a *Agent) *services { return &services{a: a} }

func (s *services) sync(ctx context.Context, snap *hostmodel.Snapshot) {}

func (s *services) stopAll() {}
