package hostmodel

import (
	"reflect"
	"sync"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
)

// Change is one object change the model applied, with the decoded
// values before and after (nil: absent or not decodable). Incremental
// planning reads the log to know what to replan.
type Change struct {
	Rev      int64
	Key      syncproto.Key
	Old, New any
	// StatusOnly is set when the object changed in nothing planning
	// reads: its status, revision number, update time or heartbeat.
	// That is what the server's echo of the agent's own status report
	// looks like.
	StatusOnly bool
}

// maxChanges bounds the change log; a planner further behind replans
// everything.
const maxChanges = 1 << 16

// record appends a change (m locked).
func (m *Model) record(rev int64, k syncproto.Key, old, new any) {
	if len(m.changes) >= maxChanges {
		drop := len(m.changes) / 2
		m.floor = m.changes[drop-1].Rev
		m.changes = append(m.changes[:0], m.changes[drop:]...)
	}
	m.changes = append(m.changes, Change{Rev: rev, Key: k, Old: old, New: new, StatusOnly: statusOnly(old, new)})
}

// SnapshotSince returns the snapshot and the changes applied after
// revision since, both under one lock so that they agree. ok is false
// when the log does not reach back to since (a reset, or too far
// behind): the caller must then replan everything.
func (m *Model) SnapshotSince(host string, since int64) (s *Snapshot, changes []Change, ok bool) {
	m.mu.Lock() // lending the view marks its maps
	defer m.mu.Unlock()
	s = m.snapshotLocked(host)
	if since < m.floor {
		return s, nil, false
	}
	i := len(m.changes)
	for i > 0 && m.changes[i-1].Rev > since {
		i--
	}
	return s, append([]Change(nil), m.changes[i:]...), true
}

// Forget drops the logged changes up to revision rev, once a planner
// planned rev and will only ask for later ones: the log otherwise keeps
// every replaced value alive until it fills (maxChanges).
func (m *Model) Forget(rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := 0
	for i < len(m.changes) && m.changes[i].Rev <= rev {
		i++
	}
	if i == 0 {
		return
	}
	m.changes = append([]Change(nil), m.changes[i:]...)
	m.floor = max(m.floor, rev)
}

// ignoredFields change without changing anything planning reads.
var ignoredFields = map[string]bool{"Status": true, "RevisionNumber": true, "UpdatedAt": true, "HeartbeatTimestamp": true}

// statusOnly reports whether old and new differ only in ignoredFields.
func statusOnly(old, new any) bool {
	if old == nil || new == nil || reflect.TypeOf(old) != reflect.TypeOf(new) {
		return false
	}
	a, b := reflect.ValueOf(old), reflect.ValueOf(new)
	if a.Kind() == reflect.Pointer {
		a, b = a.Elem(), b.Elem()
	}
	if a.Kind() != reflect.Struct {
		return false
	}
	return equalIgnoring(a, b)
}

func equalIgnoring(a, b reflect.Value) bool {
	for _, idx := range comparedFields(a.Type()) {
		if !equalField(a.FieldByIndex(idx), b.FieldByIndex(idx)) {
			return false
		}
	}
	return true
}

// fieldPaths caches comparedFields by type.
var fieldPaths sync.Map // reflect.Type -> [][]int

// comparedFields are the paths of the fields of struct type t that
// statusOnly compares: all but ignoredFields, those of an embedded
// model.Standard included. Worked out once per type: reading each
// field's description on every change showed in the agents' profile.
func comparedFields(t reflect.Type) [][]int {
	if p, ok := fieldPaths.Load(t); ok {
		return p.([][]int)
	}
	var out [][]int
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case ignoredFields[f.Name]:
		case f.Anonymous && f.Type == reflect.TypeOf(model.Standard{}):
			for _, sub := range comparedFields(f.Type) {
				out = append(out, append([]int{i}, sub...))
			}
		default:
			out = append(out, []int{i})
		}
	}
	fieldPaths.Store(t, out)
	return out
}

// Undecodable returns the objects that the model holds but could not
// decode, with why. Snapshots leave them out (one bad object must not
// stop the host's plan); the agent logs each once.
func (m *Model) Undecodable() map[syncproto.Key]error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[syncproto.Key]error, len(m.bad))
	for k, err := range m.bad {
		out[k] = err
	}
	return out
}

// equalField is reflect.DeepEqual of two fields of the same type,
// comparing scalars in place: boxing each field into an interface for
// DeepEqual was most of what applying an event cost an agent (a group's
// new revision number comes with every rule added to it).
func equalField(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Slice:
		// A list of strings (every object's tags, a port's groups)
		// compared in place too: boxing the two slices was two
		// allocations per change.
		if a.Type().Elem().Kind() == reflect.String {
			if a.Len() != b.Len() || a.IsNil() != b.IsNil() {
				return false
			}
			for i := range a.Len() {
				if a.Index(i).String() != b.Index(i).String() {
					return false
				}
			}
			return true
		}
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
