package flatjson

import (
	"encoding/json"
	"reflect"
	"testing"
)

type sample struct {
	S  string   `json:"s"`
	P  *string  `json:"p"`
	N  int      `json:"n"`
	NP *int     `json:"np"`
	B  bool     `json:"b"`
	L  []string `json:"l"`
}

// decode reads text into a sample with the scanner.
func decode(text string) (sample, bool) {
	var v sample
	ok := Object([]byte(text), func(s *Scanner, key []byte) bool {
		switch string(key) {
		case "s":
			return s.Str(&v.S)
		case "p":
			return s.StrPtr(&v.P)
		case "n":
			return s.Int(&v.N)
		case "np":
			return s.IntPtr(&v.NP)
		case "b":
			return s.Bool(&v.B)
		case "l":
			return s.Strings(&v.L)
		}
		return false
	})
	return v, ok
}

// TestObjectIsUnmarshal: whatever the scanner accepts, it decodes as
// json.Unmarshal does; what it refuses is for encoding/json to take.
func TestObjectIsUnmarshal(t *testing.T) {
	for _, c := range []struct {
		text string
		fast bool // the scanner must take it
	}{
		{`{"s":"a","p":"b","n":-12,"np":0,"b":true,"l":["x","y"]}`, true},
		{` { "s" : "a" , "l" : [ ] , "p" : null , "np" : null } `, true},
		{`{}`, true},
		{`{"s":null,"n":null,"b":null,"l":null}`, true},
		{`{"s":"a","s":"b","b":true,"b":false}`, true},
		{`{"n":9223372036854775807}`, true},
		{`{"n":9223372036854775808}`, false},
		{`{"n":-0}`, true},
		{`{"n":01}`, false},
		{`{"n":1.5}`, false},
		{`{"n":1e3}`, false},
		{`{"s":"a\"b"}`, false},
		{`{"s":"é"}`, false},
		{`{"S":"a"}`, false},
		{`{"x":1}`, false},
		{`{"s":"a"} x`, false},
		{`{"s":"a",}`, false},
		{`{"l":["a",1]}`, false},
		{`{"b":tru}`, false},
		{`{"s":"a"`, false},
		{`null`, false},
	} {
		got, ok := decode(c.text)
		if ok != c.fast {
			t.Errorf("%s: scanner took it %v, want %v", c.text, ok, c.fast)
		}
		if !ok {
			continue
		}
		var want sample
		if err := json.Unmarshal([]byte(c.text), &want); err != nil {
			t.Errorf("%s: the scanner took what encoding/json refuses: %v", c.text, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: scanner %+v, encoding/json %+v", c.text, got, want)
		}
	}
}
