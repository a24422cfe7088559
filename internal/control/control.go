// Package control keeps what upstream's plugins and agent schedulers
// maintain behind the API's back: router placement on L3 agents (with
// failover), the host of router ports, DHCP agents and their ports, DVR
// floating IP agent gateway ports and DVR MACs, agent liveness, the
// agents' reports and statuses, and the stream of each host's view.
//
// internal/api keeps the HTTP surface and calls into this package; this
// package never imports api. What it needs from the port machinery of
// the API (MAC and address allocation) it gets through Ports.
package control

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/neutrino-net/neutrino/internal/config"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// IPReq asks for an address on a subnet: a given one, or any free one
// when IPAddress is empty.
type IPReq struct {
	SubnetID  string
	IPAddress string
}

// Ports is the API's port machinery the bookkeeping uses to make and
// remove service ports (DHCP, floating IP agent gateway).
type Ports interface {
	// NewServicePort builds a port of the network with a fresh MAC
	// claimed in t; it is not created yet.
	NewServicePort(v *store.View, t *store.Txn, n *model.Network, project, owner, deviceID string) (*model.Port, error)
	// AllocateIPs resolves and claims addresses for the port as the
	// network's owner would; keep are addresses the port keeps.
	AllocateIPs(v *store.View, t *store.Txn, n *model.Network, p *model.Port, req []IPReq, keep []model.FixedIP) ([]model.FixedIP, error)
	// DeletePort removes a port and releases its claims.
	DeletePort(t *store.Txn, e *store.Entry)
	// EnsureHANetwork returns the project's hidden HA network, planning
	// it into t when missing.
	EnsureHANetwork(v *store.View, t *store.Txn, project string) (*model.Network, error)
}

// Options wires the control plane to its collaborators.
type Options struct {
	Config config.Server
	Store  *store.Store
	Ports  Ports
	Log    *slog.Logger
	Now    func() time.Time
}

// Control is one server's control plane.
type Control struct {
	cfg   config.Server
	st    *store.Store
	ports Ports
	log   *slog.Logger
	now   func() time.Time
	// hostUUIDs caches the uuid5 of host names (few, and asked on every
	// bookkeeping pass).
	hostUUIDs sync.Map
	// streams counts the agents' watch streams running now; hostViews
	// is told how long each host-view computation took (metrics).
	streams   atomic.Int64
	hostViews Observer
	// computing bounds the streams computing a view at once (stream.go).
	computing chan struct{}
	// hub wakes the streams a change may concern (streamhub.go).
	hub *streamHub
}

// Observer takes one measurement (a prometheus.Histogram is one).
type Observer interface{ Observe(float64) }

type noObserver struct{}

func (noObserver) Observe(float64) {}

// ObserveHostViews sends the duration in seconds of every host-view
// computation to o. Call it before serving.
func (c *Control) ObserveHostViews(o Observer) { c.hostViews = o }

// Streams is how many agent watch streams run now.
func (c *Control) Streams() int64 { return c.streams.Load() }

// New builds the control plane; Start runs its bookkeeping loop.
func New(o Options) *Control {
	c := &Control{cfg: o.Config, st: o.Store, ports: o.Ports, log: o.Log, now: o.Now, hostViews: noObserver{},
		computing: make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0))), hub: newStreamHub(o.Store)}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// bump records a change of a stored resource: revision and updated_at.
func (c *Control) bump(s *model.Standard) {
	s.RevisionNumber++
	s.UpdatedAt = model.Stamp(c.now())
}

// Error is a failure with its Neutron type and HTTP status; the API
// renders it as a NeutronError body.
type Error struct {
	status int
	typ    string
	msg    string
}

func newError(status int, typ, format string, args ...any) *Error {
	return &Error{status: status, typ: typ, msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.typ, e.msg) }

// Type is the NeutronError type.
func (e *Error) Type() string { return e.typ }

// Status is the HTTP status.
func (e *Error) Status() int { return e.status }

// Message is the NeutronError message.
func (e *Error) Message() string { return e.msg }

// ErrBadEntry reports a stored object of an unexpected type.
var ErrBadEntry = errors.New("stored object of unexpected type")
