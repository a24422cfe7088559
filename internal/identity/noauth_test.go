package identity

import (
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestNoAuth(t *testing.T) {
	for name, tc := range map[string]struct {
		headers map[string]string
		want    Context
	}{
		"full": {
			map[string]string{"X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": " Member , reader,", "X-Project-Name": "pn",
				"X-User-Name": "un", "X-Project-Domain-Id": "default", "X-Auth-Token": "tok"},
			Context{UserID: "u1", UserName: "un", ProjectID: "p1", ProjectName: "pn", DomainID: "default", Roles: []string{"member", "reader"}, AuthToken: "tok"},
		},
		"tenant fallbacks": {
			map[string]string{"X-Tenant-Id": "t1", "X-User": "u2", "X-Tenant-Name": "tn", "X-Roles": "admin"},
			Context{UserID: "u2", ProjectID: "t1", ProjectName: "tn", Roles: []string{"admin", "member", "reader"}},
		},
		"x-tenant": {
			map[string]string{"X-Tenant": "t2"},
			Context{ProjectID: "t2"},
		},
		"no project": {
			map[string]string{"X-User-Id": "u3", "X-Roles": "member"},
			Context{UserID: "u3", ProjectID: "fake_project_id", Roles: []string{"admin", "member", "reader"}},
		},
		"nothing": {nil, Context{ProjectID: "fake_project_id", Roles: []string{"admin", "member", "reader"}}},
	} {
		r := httptest.NewRequest("GET", "/v2.0/networks", nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		got, err := NoAuth{}.Authenticate(r)
		if err != nil || !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s: got %+v, want %+v (%v)", name, got, tc.want, err)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Project-Id", "p")
	r.Header.Set("X-Roles", "reader")
	c, _ := NoAuth{}.Authenticate(r)
	if c.IsAdmin() || !c.HasRole("READER") || c.HasRole("member") {
		t.Errorf("roles: %+v", c)
	}
	var _ Authenticator = NoAuth{}
	var _ Authenticator = (*Keystone)(nil)
	var _ Authenticator = (*Remote)(nil)
}
