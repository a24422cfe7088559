package api

import (
	"encoding/json"
	"testing"
)

// TestMarshalForm checks that a raw value said to be in json.Marshal's
// form is exactly what json.Marshal writes for it, and that the others
// are told apart.
func TestMarshalForm(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want bool
	}{
		{`{"name":"a b","n":1,"l":[1,2],"o":{"x":null}}`, true},
		{`{"name":"tab\t\"quoted\" \\ end","x":true}`, true},
		{`{"name": "a"}`, false},
		{"{\"a\":1,\n\"b\":2}", false},
		{`{"name":"<b>"}`, false},
		{`{"name":"a&b"}`, false},
		{"{\"name\":\"\u2028\"}", false},
		{`{"name":"\u003cb\u003e"}`, true},
		{`{"a":"\\","b":" "}`, true},
	} {
		got := marshalForm([]byte(tc.raw))
		if got != tc.want {
			t.Errorf("marshalForm(%s) = %v, want %v", tc.raw, got, tc.want)
		}
		if got {
			out, err := json.Marshal(json.RawMessage(tc.raw))
			if err != nil || string(out) != tc.raw {
				t.Errorf("json.Marshal(%s) = %s %v: not the same", tc.raw, out, err)
			}
		}
	}
}
