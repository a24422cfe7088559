package identity

import (
	"net/http"
	"strings"
)

// FakeProjectID is the project used by NoAuth for requests without a project
// header, as upstream Neutron does.
const FakeProjectID = "fake_project_id"

// NoAuth implements Neutron's auth_strategy = noauth: no token is checked,
// the context is read from the headers keystonemiddleware would set.
//
//   - project: X-Project-Id, falling back to X-Tenant-Id, then X-Tenant
//   - user: X-User-Id, falling back to X-User
//   - roles: X-Roles, comma separated, trimmed, lower-cased
//   - names: X-Project-Name (or X-Tenant-Name), X-User-Name
//   - domain: X-Project-Domain-Id, falling back to X-Domain-Id
//
// Without a project header the request runs in project "fake_project_id"
// with an elevated (admin) context. As with Keystone tokens, implied roles
// are added (admin => member, reader; member => reader) so policy code sees
// the same role sets in both modes.
type NoAuth struct{}

// Authenticate never fails.
func (NoAuth) Authenticate(r *http.Request) (*Context, error) {
	h := r.Header
	c := &Context{
		ProjectID:   firstHeader(h, "X-Project-Id", "X-Tenant-Id", "X-Tenant"),
		ProjectName: firstHeader(h, "X-Project-Name", "X-Tenant-Name"),
		UserID:      firstHeader(h, "X-User-Id", "X-User"),
		UserName:    firstHeader(h, "X-User-Name"),
		DomainID:    firstHeader(h, "X-Project-Domain-Id", "X-Domain-Id"),
		AuthToken:   h.Get("X-Auth-Token"),
	}
	var roles []string
	for _, v := range h.Values("X-Roles") {
		roles = append(roles, strings.Split(v, ",")...)
	}
	if c.ProjectID == "" {
		c.ProjectID = FakeProjectID
		roles = append(roles, "admin")
	}
	c.Roles = expandRoles(roles)
	return c, nil
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			return v
		}
	}
	return ""
}
