package hostmodel

import (
	"reflect"
	"testing"

	"github.com/neutrino-net/neutrino/internal/model"
)

// A change counts as status only when nothing but the ignored fields
// differ, whatever the kind of the field that does (strings, numbers,
// booleans compared in place; pointers, slices, maps deeply).
func TestStatusOnly(t *testing.T) {
	b := func(v bool) *bool { return &v }
	base := func() *model.Port {
		return &model.Port{Standard: model.Standard{ID: "p", RevisionNumber: 1}, Status: "DOWN", NetworkID: "n", AdminStateUp: true,
			FixedIPs: []model.FixedIP{{SubnetID: "s", IPAddress: "10.0.0.1"}}, SecurityGroups: []string{"g"}}
	}
	for _, tc := range []struct {
		what string
		edit func(p *model.Port)
		want bool
	}{
		{"status and revision", func(p *model.Port) { p.Status, p.RevisionNumber = "ACTIVE", 2 }, true},
		{"nothing", func(p *model.Port) {}, true},
		{"a string", func(p *model.Port) { p.NetworkID = "m" }, false},
		{"a string of Standard", func(p *model.Port) { p.Name = "x" }, false},
		{"a boolean", func(p *model.Port) { p.AdminStateUp = false }, false},
		{"a slice", func(p *model.Port) { p.SecurityGroups = []string{"h"} }, false},
		{"an equal slice", func(p *model.Port) { p.SecurityGroups = []string{"g"} }, true},
		{"a struct in a slice", func(p *model.Port) { p.FixedIPs = []model.FixedIP{{SubnetID: "s", IPAddress: "10.0.0.2"}} }, false},
		{"a pointer", func(p *model.Port) { p.Trusted = b(true) }, false},
		{"a map", func(p *model.Port) { p.Profile = map[string]any{"x": 1} }, false},
	} {
		p := base()
		tc.edit(p)
		if got := statusOnly(base(), p); got != tc.want {
			t.Errorf("%s: statusOnly %v, want %v", tc.what, got, tc.want)
		}
	}
	n1 := &model.Network{Standard: model.Standard{ID: "n"}, MTU: 1450}
	n2 := &model.Network{Standard: model.Standard{ID: "n"}, MTU: 1500}
	if statusOnly(n1, n2) {
		t.Error("an integer: statusOnly")
	}
}

// TestEqualFieldStrings checks the in-place comparison of string lists
// against reflect.DeepEqual, which it replaces (nil and empty differ).
func TestEqualFieldStrings(t *testing.T) {
	type name string
	lists := []any{
		[]string(nil), []string{}, []string{"a"}, []string{"b"}, []string{"a", "b"}, []string{"b", "a"}, []string{"a", ""},
	}
	named := []any{[]name(nil), []name{}, []name{"a"}, []name{"a", "b"}, []name{"b"}}
	for _, set := range [][]any{lists, named} {
		for _, x := range set {
			for _, y := range set {
				a, b := reflect.ValueOf(x), reflect.ValueOf(y)
				if got, want := equalField(a, b), reflect.DeepEqual(x, y); got != want {
					t.Errorf("%#v, %#v: %v, want %v", x, y, got, want)
				}
			}
		}
	}
}
