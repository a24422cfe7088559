package identity

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// ErrUnauthorized is returned by Authenticators when the request carries no
// credentials or invalid, expired or revoked ones. Callers answer 401. Errors
// may wrap it with details; test with errors.Is.
var ErrUnauthorized = errors.New("identity: unauthorized")

// Context is the authenticated identity of one request.
type Context struct {
	UserID      string
	UserName    string
	ProjectID   string
	ProjectName string
	// DomainID is the domain of the scoped project (or the scoped domain
	// for domain-scoped tokens).
	DomainID string
	// Roles are role names, lower case, implied roles included
	// (admin => member, reader; member => reader).
	Roles     []string
	AuthToken string
}

// IsAdmin reports whether the context carries the cloud admin role.
func (c *Context) IsAdmin() bool { return c.HasRole("admin") }

// HasRole reports whether the context carries the named role
// (case-insensitively).
func (c *Context) HasRole(role string) bool {
	if c == nil {
		return false
	}
	for _, r := range c.Roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// Authenticator builds the request Context from an HTTP request. It returns
// an error wrapping ErrUnauthorized when credentials are missing or invalid;
// any other error is an internal failure (e.g. the identity backend is
// unreachable) and should be answered with 5xx.
type Authenticator interface {
	Authenticate(r *http.Request) (*Context, error)
}

// impliedRoles mirrors keystone's default role implications.
var impliedRoles = map[string][]string{
	"admin":  {"member", "reader"},
	"member": {"reader"},
}

// expandRoles lower-cases names, adds the implied roles (transitively) and
// returns them deduplicated in sorted order.
func expandRoles(names []string) []string {
	seen := make(map[string]bool, len(names)+2)
	var out []string
	var add func(string)
	add = func(n string) {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" || seen[n] {
			return
		}
		seen[n] = true
		out = append(out, n)
		for _, m := range impliedRoles[n] {
			add(m)
		}
	}
	for _, n := range names {
		add(n)
	}
	slices.Sort(out)
	return out
}
