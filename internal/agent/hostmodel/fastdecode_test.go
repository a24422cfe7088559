package hostmodel

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
)

// randomText returns a string that is plain most of the time, and
// sometimes one encoding/json must escape or that holds non-ASCII.
func randomText(r *rand.Rand) string {
	switch r.IntN(60) {
	case 0:
		return ""
	case 1:
		return `quote " and \ backslash`
	case 2:
		return "é ünïcode"
	case 3:
		return "<html>&"
	}
	return [...]string{"ingress", "egress", "IPv4", "10.0.0.0/8", "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "2026-12-07T15:00:00Z"}[r.IntN(6)]
}

func randomStrPtr(r *rand.Rand) *string {
	if r.IntN(3) == 0 {
		return nil
	}
	s := randomText(r)
	return &s
}

func randomIntPtr(r *rand.Rand) *int {
	if r.IntN(3) == 0 {
		return nil
	}
	n := r.IntN(70000) - 5
	return &n
}

func randomStandard(r *rand.Rand) model.Standard {
	st := model.Standard{ID: randomText(r), ProjectID: randomText(r), TenantID: randomText(r),
		Description: randomText(r), RevisionNumber: r.IntN(1 << 20), CreatedAt: randomText(r), UpdatedAt: randomText(r)}
	switch r.IntN(3) {
	case 0:
		st.Tags = []string{}
	case 1:
		for range r.IntN(4) + 1 {
			st.Tags = append(st.Tags, randomText(r))
		}
	}
	return st
}

// mutate changes valid JSON the ways a sender could: white space, a
// null, a differently cased or unknown key, a duplicate, a number
// form, a cut, trailing data.
func mutate(r *rand.Rand, b []byte) []byte {
	s := string(b)
	edits := []func() string{
		func() string { return string(bytes.ReplaceAll(b, []byte(`,"`), []byte(" ,\n\t\""))) },
		func() string { return string(bytes.Replace(b, []byte(`"direction":"`), []byte(`"Direction":"`), 1)) },
		func() string { return string(bytes.Replace(b, []byte(`{`), []byte(`{"extra":1,`), 1)) },
		func() string { return string(bytes.Replace(b, []byte(`{`), []byte(`{"name":"first","id":"x",`), 1)) },
		func() string {
			return string(bytes.Replace(b, []byte(`"revision_number":`), []byte(`"revision_number":-0`), 1))
		},
		func() string {
			return string(bytes.Replace(b, []byte(`"revision_number":`), []byte(`"revision_number":0`), 1))
		},
		func() string {
			return string(bytes.Replace(b, []byte(`"revision_number":`), []byte(`"revision_number":1e`), 1))
		},
		func() string {
			return string(bytes.Replace(b, []byte(`"revision_number":`), []byte(`"revision_number":null,"x":`), 1))
		},
		func() string { return string(bytes.Replace(b, []byte(`"tags":`), []byte(`"tags":null,"tags":`), 1)) },
		func() string {
			return string(bytes.Replace(b, []byte(`"stateful":`), []byte(`"stateful":null,"stateful":`), 1))
		},
		func() string {
			return string(bytes.Replace(b, []byte(`"description":`), []byte(`"description":null,"description":`), 1))
		},
		func() string {
			return string(bytes.Replace(b, []byte(`"port_range_min":`), []byte(`"port_range_min":99999999999999999999,"x":`), 1))
		},
		func() string {
			return string(bytes.Replace(b, []byte(`"protocol":`), []byte(`"protocol":true,"x":`), 1))
		},
		func() string { return s[:r.IntN(len(s))] },
		func() string { return s + " " },
		func() string { return s + "{}" },
		func() string { return "null" },
		func() string { return "{}" },
		func() string { return s[:len(s)-1] + `,}` },
	}
	return []byte(edits[r.IntN(len(edits))]())
}

// TestFastDecodeMatchesJSON decodes random rules and groups as the
// server renders them, and mutations of them, both ways: the agent's
// decode must give what json.Unmarshal gives (or fail when it fails),
// and must take the fast path for the plain renderings.
func TestFastDecodeMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	fast := 0
	for i := range 20000 {
		var v any
		var kind string
		if i%2 == 0 {
			kind = model.KindSGRule
			v = &model.SecurityGroupRule{Standard: randomStandard(r), SecurityGroupID: randomText(r),
				Direction: randomText(r), EtherType: randomText(r), Protocol: randomStrPtr(r),
				PortRangeMin: randomIntPtr(r), PortRangeMax: randomIntPtr(r), RemoteIPPrefix: randomStrPtr(r),
				NormalizedCIDR: randomStrPtr(r), RemoteGroupID: randomStrPtr(r), RemoteAddressGroupID: randomStrPtr(r),
				BelongsToDefaultSG: r.IntN(2) == 0}
		} else {
			kind = model.KindSG
			v = &model.SecurityGroup{Standard: randomStandard(r), Name: randomText(r),
				Stateful: r.IntN(2) == 0, Shared: r.IntN(2) == 0, Default: r.IntN(2) == 0}
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			b = mutate(r, b)
		}
		want := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		wantErr := json.Unmarshal(b, want)
		got, gotErr := decodeObject(kind, b)
		if (wantErr != nil) != (gotErr != nil) {
			t.Fatalf("%s: encoding/json error %v, decode error %v", b, wantErr, gotErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ndecoded %#v\nencoding/json %#v", b, got, want)
		}
		if i%3 != 0 && !bytes.ContainsAny(b, `\`) && !bytes.ContainsFunc(b, func(c rune) bool { return c >= 0x80 }) {
			var ok bool
			if kind == model.KindSGRule {
				_, ok = fastRule(b)
			} else {
				_, ok = fastGroup(b)
			}
			if !ok {
				t.Fatalf("a plain rendering took the slow path: %s", b)
			}
			fast++
		}
	}
	if fast < 1000 {
		t.Fatalf("only %d plain renderings", fast)
	}
}

func BenchmarkDecodeRuleAndGroup(b *testing.B) {
	rule, _ := json.Marshal(&model.SecurityGroupRule{Standard: model.Standard{ID: "3f0e6a4c-2b1d-4c59-9a43-6c1f7d2e8b10",
		ProjectID: "5c2a9e0f1b3d4a6c8e7f9a0b1c2d3e4f", TenantID: "5c2a9e0f1b3d4a6c8e7f9a0b1c2d3e4f", Tags: []string{},
		CreatedAt: "2026-12-07T15:00:00Z", UpdatedAt: "2026-12-07T15:00:00Z"}, SecurityGroupID: "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		Direction: "ingress", EtherType: "IPv4", Protocol: new("tcp"), PortRangeMin: new(1000), PortRangeMax: new(1000),
		RemoteIPPrefix: new("10.0.0.0/8"), NormalizedCIDR: new("10.0.0.0/8")})
	group, _ := json.Marshal(&model.SecurityGroup{Standard: model.Standard{ID: "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		ProjectID: "5c2a9e0f1b3d4a6c8e7f9a0b1c2d3e4f", TenantID: "5c2a9e0f1b3d4a6c8e7f9a0b1c2d3e4f", Tags: []string{},
		RevisionNumber: 41, CreatedAt: "2026-12-07T15:00:00Z", UpdatedAt: "2026-12-07T15:00:01Z"}, Name: "all", Stateful: true})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeObject(model.KindSGRule, rule); err != nil {
			b.Fatal(err)
		}
		if _, err := decodeObject(model.KindSG, group); err != nil {
			b.Fatal(err)
		}
	}
}
