package syncproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// LineCache writes what WriteLine writes, in one Write, whatever the
// events before it (the same one, one differing in revision, object,
// data or deletes, a reset, a large one).
func TestLineCache(t *testing.T) {
	rule := func(rev int64, data string) Object {
		return Object{Kind: "security_group_rule", ID: "r1", Rev: rev, Data: json.RawMessage(data)}
	}
	shared := json.RawMessage(`{"id":"r1"}`)
	large := Event{Revision: 9}
	for i := range maxCachedObjects + 1 {
		large.Upserts = append(large.Upserts, rule(int64(i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	events := []Event{
		{Revision: 5, Upserts: []Object{{Kind: "security_group_rule", ID: "r1", Rev: 5, Data: shared, Compact: true}}},
		{Revision: 5, Upserts: []Object{{Kind: "security_group_rule", ID: "r1", Rev: 5, Data: shared, Compact: true}}},
		{Revision: 5, Upserts: []Object{{Kind: "security_group_rule", ID: "r1", Rev: 5, Data: json.RawMessage(`{"id":"r1"}`), Compact: true}}},
		{Revision: 6, Upserts: []Object{{Kind: "security_group_rule", ID: "r1", Rev: 5, Data: shared, Compact: true}}},
		{Revision: 6, Upserts: []Object{rule(5, `{"id": "r2"}`)}},
		{Revision: 6, Upserts: []Object{rule(5, `{"id":"r1"}`)}, Deletes: []Key{{Kind: "port", ID: "p"}}},
		{Revision: 6, Deletes: []Key{{Kind: "port", ID: "p"}}},
		{Revision: 6, Deletes: []Key{{Kind: "port", ID: "q"}}},
		{Revision: 6, Reset: true, Deletes: []Key{{Kind: "port", ID: "q"}}},
		{Revision: 6, Deletes: []Key{{Kind: "port", ID: "q"}}},
		large, large,
		{Revision: 7},
		{Revision: 7},
	}
	var c LineCache
	for i, ev := range events {
		var want bytes.Buffer
		if err := ev.WriteLine(&want); err != nil {
			t.Fatal(err)
		}
		var got countingWriter
		if err := c.WriteLine(&got, &ev); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() || got.writes != 1 {
			t.Errorf("event %d: %d writes of %q, want one of %q", i, got.writes, got.String(), want.String())
		}
	}
}
