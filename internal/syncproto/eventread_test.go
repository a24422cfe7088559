package syncproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// badData is a line whose data is not JSON though its braces match.
const badData = `{"revision":1,"upserts":[{"kind":"a","id":"b","rev":1,"data":{"x":}}]}`

// TestReadLineIsUnmarshal: ReadLine decodes what WriteLine writes, and
// any other line, exactly as json.Unmarshal does (and fails where it
// fails).
func TestReadLineIsUnmarshal(t *testing.T) {
	big := Event{Revision: 42, Reset: true}
	for i := range 300 {
		big.Upserts = append(big.Upserts, Object{Kind: "port", ID: fmt.Sprintf("p%d", i), Rev: int64(i),
			Data: json.RawMessage(fmt.Sprintf(`{"id":"p%d","name":"<a&b> \"q\" {[","n":[%d,{}]}`, i, i))})
	}
	var lines []string
	for _, ev := range []Event{
		{Revision: 7},
		{Revision: 8, Deletes: []Key{{Kind: "floatingip", ID: "f1"}, {Kind: "port", ID: "p2"}}},
		{Revision: 9, Upserts: []Object{{Kind: "network", ID: "n1", Rev: 3, Data: json.RawMessage(`{"a":1}`)}}, Deletes: []Key{{Kind: "port", ID: "x"}}},
		big,
		{Revision: 10, Upserts: []Object{{Kind: "k\"<", ID: "é\n", Rev: 1, Data: json.RawMessage(" { \"a\" : [1, 2],\n \"b\":\"x\u2028<\" } ")}, {Kind: "n", ID: "1", Data: nil}},
			Deletes: []Key{{Kind: "a&b", ID: "\u0001"}}},
		{Revision: 11, Upserts: []Object{{Kind: "n", ID: "s", Rev: 2, Data: json.RawMessage(`"just a string"`)}, {Kind: "n", ID: "a", Rev: 2, Data: json.RawMessage(`[1,"]"]`)}}},
	} {
		var b bytes.Buffer
		if err := ev.WriteLine(&b); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b.String())
	}
	lines = append(lines,
		`{"revision":1,"upserts":[]}`, `{ "revision": 2 }`, `{"deletes":[{"kind":"a","id":"b"}],"revision":3}`,
		`{"revision":01}`, `{"revision":1,"upserts":[{"kind":"a","id":"b","rev":1,"data":{"x":[}]}`, `{"revision":1}x`, badData,
		`{"revision":1,"upserts":[{"kind":"a","id":"b","rev":1,"data":{"x":"\"}"}}]}`, `{"revision":-3,"reset":true}`, `{"revision":1`, ``)
	for _, line := range lines {
		var want, got Event
		wantErr := json.Unmarshal([]byte(line), &want)
		gotErr := got.ReadLine([]byte(line + "\n"))
		if (wantErr == nil) != (gotErr == nil) {
			// Data is only checked for where it ends (ReadLine's doc).
			if line == badData && gotErr == nil {
				continue
			}
			t.Errorf("%.80s: error %v, json.Unmarshal's %v", line, gotErr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(want, got) {
			t.Errorf("%.80s:\ngot  %+v\nwant %+v", line, got, want)
		}
	}
}

// BenchmarkReadLine reads a one-rule event (what every agent reads when
// a rule of a group all ports are in changes); json.Unmarshal alongside.
func BenchmarkReadLine(b *testing.B) {
	ev := Event{Revision: 123456, Upserts: []Object{{Kind: "security_group_rule", ID: "6f1c2a3e-0d7b-4f5e-9a8b-1c2d3e4f5a6b", Rev: 123456,
		Data: json.RawMessage(`{"id":"6f1c2a3e-0d7b-4f5e-9a8b-1c2d3e4f5a6b","tenant_id":"bench","project_id":"bench","security_group_id":"0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e","direction":"ingress","ethertype":"IPv4","protocol":"tcp","port_range_min":1000,"port_range_max":1000,"remote_ip_prefix":"198.51.100.0/24","remote_group_id":null,"revision_number":0,"created_at":"2026-12-07T08:00:00Z","updated_at":"2026-12-07T08:00:00Z"}`)}}}
	var buf bytes.Buffer
	if err := ev.WriteLine(&buf); err != nil {
		b.Fatal(err)
	}
	line := buf.Bytes()
	b.Run("ReadLine", func(b *testing.B) {
		for b.Loop() {
			var got Event
			if err := got.ReadLine(line); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var got Event
			if err := json.Unmarshal(line, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
