package hostmodel

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Shared lets many models in one process hold one copy of each object:
// the same object at the same revision arrives on every stream whose
// view holds it (a port on a network reaches every host of that
// network), and each model would otherwise keep its own JSON and its
// own decoded value. A real agent has one model and needs none; a
// process simulating thousands of agents (neutrino bench fanout) shares
// them. Entries are never dropped: it is meant for runs that end.
//
// Sharing decoded values is safe because a model's values are already
// read-only: snapshots lend them to planners without copying.
type Shared struct {
	mu      sync.Mutex
	entries map[sharedKey]*sharedEntry
	// decodeEach: every model decodes every object it receives, as a
	// real agent does, and keeps the shared value when there is one.
	decodeEach bool
}

// DecodeEach makes every model decode every object it receives, as an
// agent on its own host does (the decoded value is then dropped for the
// shared one): the memory stays shared, the CPU is each model's. Call
// it before any model uses s.
func (s *Shared) DecodeEach() { s.decodeEach = true }

type sharedKey struct {
	kind, id string
	rev      int64
}

type sharedEntry struct {
	key  sharedKey
	data json.RawMessage
	v    any
	err  error
}

// NewShared returns an empty share.
func NewShared() *Shared { return &Shared{entries: map[sharedKey]*sharedEntry{}} }

// NewWithShared returns an empty model whose objects are shared through s.
func NewWithShared(s *Shared) *Model {
	m := New()
	m.shared = s
	return m
}

// decode returns o with its JSON replaced by the shared copy, and its
// decoded value. The JSON is compared, not assumed equal, so that two
// streams that render one revision differently keep their own.
func (s *Shared) decode(o syncproto.Object) (syncproto.Object, any, error) {
	k := sharedKey{o.Kind, o.ID, o.Rev}
	s.mu.Lock()
	e := s.entries[k]
	s.mu.Unlock()
	if e != nil && bytes.Equal(e.data, o.Data) {
		if s.decodeEach {
			decodeObject(o.Kind, o.Data) // the work; the value is e's
		}
		o.Kind, o.ID, o.Data = e.key.kind, e.key.id, e.data
		return o, e.v, e.err
	}
	v, err := decodeObject(o.Kind, o.Data)
	if e == nil {
		s.mu.Lock()
		if s.entries[k] == nil {
			s.entries[k] = &sharedEntry{key: k, data: o.Data, v: v, err: err}
		}
		s.mu.Unlock()
	}
	return o, v, err
}
