package syncproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// TestWriteLineIsEncoderOutput: the streamed line is exactly what
// json.Encoder writes, for small and large events.
func TestWriteLineIsEncoderOutput(t *testing.T) {
	big := Event{Revision: 42, Reset: true}
	for i := range 3000 {
		big.Upserts = append(big.Upserts, Object{Kind: "port", ID: fmt.Sprintf("p%d", i), Rev: int64(i),
			Data: json.RawMessage(fmt.Sprintf(`{"id":"p%d","name":"<a&b>","n":%d}`, i, i))})
	}
	for _, ev := range []Event{
		{Revision: 7},
		{Revision: 8, Deletes: []Key{{Kind: "floatingip", ID: "f1"}, {Kind: "port", ID: "p2"}}},
		{Revision: 9, Upserts: []Object{{Kind: "network", ID: "n1", Rev: 3, Data: json.RawMessage(`{"a":1}`)}}, Deletes: []Key{{Kind: "port", ID: "x"}}},
		big,
		// Escapes in kinds and IDs, whitespace and HTML in data.
		{Revision: 10, Upserts: []Object{{Kind: "k\"<", ID: "é\n", Rev: 1, Data: json.RawMessage(" { \"a\" : [1, 2],\n \"b\":\"x\u2028<\" } ")}, {Kind: "n", ID: "1", Data: nil}},
			Deletes: []Key{{Kind: "a&b", ID: "\u0001"}}},
	} {
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(&ev); err != nil {
			t.Fatal(err)
		}
		if err := ev.WriteLine(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Errorf("revision %d:\nwant %.300s\ngot  %.300s", ev.Revision, want.String(), got.String())
		}
	}
}

// TestWriteLineCompactData: data compacted once (CompactData) and sent
// with Compact set gives the same line as the raw data.
func TestWriteLineCompactData(t *testing.T) {
	for _, raw := range []string{`{"a":1}`, " { \"a\" : [1, 2],\n \"b\":\"x\u2028<\" } ", `{"name":"<a&b>"}`, `"s"`} {
		ev := Event{Revision: 3, Upserts: []Object{{Kind: "port", ID: "p", Rev: 2, Data: json.RawMessage(raw)}}}
		var want, got bytes.Buffer
		if err := json.NewEncoder(&want).Encode(&ev); err != nil {
			t.Fatal(err)
		}
		d, err := CompactData(ev.Upserts[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		ev.Upserts[0].Data, ev.Upserts[0].Compact = d, true
		if err := ev.WriteLine(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			t.Errorf("%q:\nwant %s\ngot  %s", raw, want.String(), got.String())
		}
	}
	if _, err := CompactData([]byte(`{"a":`)); err == nil {
		t.Error("CompactData took invalid JSON")
	}
	if raw := []byte(`{"a":1}`); &compacted(raw)[0] != &raw[0] {
		t.Error("CompactData copied data that was compact already")
	}
}

func compacted(raw []byte) []byte { d, _ := CompactData(raw); return d }
