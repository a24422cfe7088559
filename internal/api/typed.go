package api

import (
	"encoding/json"
	"fmt"

	"github.com/neutrino-net/neutrino/internal/control"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// obj returns the entry's object as T, or an error naming the entry: a
// handler's entries come from one kind, so a mismatch is a bug, answered
// as a 500 and logged rather than a panic.
func obj[T any](e *store.Entry) (T, error) {
	t, ok := store.As[T](e)
	if !ok {
		id := "<nil>"
		if e != nil {
			id = e.ID
		}
		return t, fmt.Errorf("entry %s is not a %T: %w", id, t, control.ErrBadEntry)
	}
	return t, nil
}

// updating is an update handler's prelude: it decodes the body into
// req, validates it (validate runs after the decode) and returns a copy
// of the stored object for the update to change.
func updating[T any](e *store.Entry, body json.RawMessage, req any, validate func() error) (T, error) {
	var zero T
	if err := decode(body, req); err != nil {
		return zero, err
	}
	if err := validate(); err != nil {
		return zero, err
	}
	cur, err := obj[*T](e)
	if err != nil {
		return zero, err
	}
	return *cur, nil
}

// portsOf returns the ports of entries, skipping any that is not one.
func portsOf(entries []*store.Entry) []*model.Port {
	out := make([]*model.Port, 0, len(entries))
	for _, e := range entries {
		if p, ok := store.As[*model.Port](e); ok {
			out = append(out, p)
		}
	}
	return out
}
