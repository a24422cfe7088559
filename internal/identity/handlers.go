package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Handler serves the identity API relative to the identity base; mount it
// with http.StripPrefix("/identity", k.Handler()).
//
//	GET    /                       300 version discovery
//	GET    /v3, /v3/               200 version document
//	POST   /v3/auth/tokens         issue (password or token method)
//	GET    /v3/auth/tokens         validate X-Subject-Token (HEAD too)
//	DELETE /v3/auth/tokens         revoke X-Subject-Token
//	GET    /v3/projects[/{id}]     ?name=, ?domain_id=
//	GET    /v3/users[/{id}]        ?name=, ?domain_id=
//	GET    /v3/users/{id}/projects
//	GET    /v3/domains[/{id}]      ?name=, ?enabled=
//	GET    /v3/roles[/{id}]        ?name=
//
// and, for admins (admin.go):
//
//	POST /v3/projects, PATCH and DELETE /v3/projects/{id}
//	POST /v3/users, PATCH and DELETE /v3/users/{id}
//	POST /v3/domains, PATCH and DELETE /v3/domains/{id}
//	POST /v3/roles
//	PUT, HEAD, GET, DELETE /v3/{projects|domains}/{tid}/users/{uid}/roles/{rid}
//	GET    /v3/{projects|domains}/{tid}/users/{uid}/roles
//	GET    /v3/role_assignments    ?user.id=, ?scope.project.id=, ?scope.domain.id=, ?role.id=
func (k *Keystone) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", k.handleVersions)
	mux.HandleFunc("GET /v3", k.handleV3)
	mux.HandleFunc("GET /v3/{$}", k.handleV3)
	mux.HandleFunc("POST /v3/auth/tokens", k.handleIssue)
	mux.HandleFunc("GET /v3/auth/tokens", k.handleValidate)
	mux.HandleFunc("DELETE /v3/auth/tokens", k.handleRevoke)
	mux.HandleFunc("GET /v3/projects", k.handleListProjects)
	mux.HandleFunc("POST /v3/projects", k.handleCreateProject)
	mux.HandleFunc("GET /v3/projects/{id}", k.handleGetProject)
	mux.HandleFunc("PATCH /v3/projects/{id}", k.handleUpdateProject)
	mux.HandleFunc("DELETE /v3/projects/{id}", k.handleDeleteProject)
	mux.HandleFunc("GET /v3/users", k.handleListUsers)
	mux.HandleFunc("POST /v3/users", k.handleCreateUser)
	mux.HandleFunc("GET /v3/users/{id}", k.handleGetUser)
	mux.HandleFunc("PATCH /v3/users/{id}", k.handleUpdateUser)
	mux.HandleFunc("DELETE /v3/users/{id}", k.handleDeleteUser)
	mux.HandleFunc("GET /v3/users/{id}/projects", k.handleUserProjects)
	mux.HandleFunc("GET /v3/domains", k.handleListDomains)
	mux.HandleFunc("POST /v3/domains", k.handleCreateDomain)
	mux.HandleFunc("GET /v3/domains/{id}", k.handleGetDomain)
	mux.HandleFunc("PATCH /v3/domains/{id}", k.handleUpdateDomain)
	mux.HandleFunc("DELETE /v3/domains/{id}", k.handleDeleteDomain)
	mux.HandleFunc("GET /v3/roles", k.handleListRoles)
	mux.HandleFunc("POST /v3/roles", k.handleCreateRole)
	mux.HandleFunc("GET /v3/roles/{id}", k.handleGetRole)
	for kind, onDomain := range map[string]bool{"projects": false, "domains": true} {
		grant := k.handleGrant(onDomain)
		path := "/v3/" + kind + "/{tid}/users/{uid}/roles"
		for _, m := range []string{"PUT", "HEAD", "GET", "DELETE"} {
			mux.HandleFunc(m+" "+path+"/{rid}", grant)
		}
		mux.HandleFunc("GET "+path, k.handleListGrants(onDomain))
	}
	mux.HandleFunc("GET /v3/role_assignments", k.handleRoleAssignments)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "The resource could not be found.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" { // "/identity" after StripPrefix
			r.URL.Path = "/"
		}
		mux.ServeHTTP(w, r)
	})
}

// ---- discovery ---------------------------------------------------------------

func (k *Keystone) versionObject() map[string]any {
	return map[string]any{
		"id":      "v3.14",
		"status":  "stable",
		"updated": "2020-04-07T00:00:00Z",
		"links":   []map[string]string{{"rel": "self", "href": k.opts.IdentityURL + "/v3/"}},
		"media-types": []map[string]string{{
			"base": "application/json",
			"type": "application/vnd.openstack.identity-v3+json",
		}},
	}
}

func (k *Keystone) handleVersions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", k.opts.IdentityURL+"/v3/")
	writeJSON(w, http.StatusMultipleChoices, map[string]any{
		"versions": map[string]any{"values": []any{k.versionObject()}},
	})
}

func (k *Keystone) handleV3(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": k.versionObject()})
}

// ---- tokens --------------------------------------------------------------------

// nameID is a {"id": ...} or {"name": ...} reference in requests.
type nameID struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type authRequest struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *struct {
					ID       string  `json:"id"`
					Name     string  `json:"name"`
					Domain   *nameID `json:"domain"`
					Password *string `json:"password"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type scopeRequest struct {
	Project *struct {
		ID     string  `json:"id"`
		Name   string  `json:"name"`
		Domain *nameID `json:"domain"`
	} `json:"project"`
	Domain *nameID `json:"domain"`
	// Other scopes (system, OS-TRUST:trust) are not supported.
}

const msgUnauthorized = "The request you have made requires authentication."

func (k *Keystone) handleIssue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req authRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "Malformed request body: "+err.Error())
		return
	}
	if req.Auth == nil || req.Auth.Identity == nil || len(req.Auth.Identity.Methods) == 0 {
		writeError(w, http.StatusBadRequest, "Invalid input for field 'auth': 'identity' with 'methods' is a required property")
		return
	}
	id := req.Auth.Identity
	var base claims
	var parent *claims
	switch {
	case contains(id.Methods, "password"):
		if id.Password == nil || id.Password.User == nil || id.Password.User.Password == nil ||
			(id.Password.User.ID == "" && id.Password.User.Name == "") {
			writeError(w, http.StatusBadRequest, "Invalid input for field 'identity/password/user': 'id' or 'name', and 'password' are required")
			return
		}
		pu := id.Password.User
		var domainID string
		d, dok, err := k.resolveDomain(ctx, pu.Domain)
		if err != nil {
			writeInternal(w, err)
			return
		}
		if dok {
			domainID = d.ID
		}
		u, ok, err := k.authenticatePassword(ctx, pu.ID, domainID, pu.Name, *pu.Password)
		if err != nil {
			writeInternal(w, err)
			return
		}
		if !ok || u.Disabled {
			k.writeUnauthorized(w)
			return
		}
		base = claims{UserID: u.ID, UserName: u.Name, UserDomain: u.DomainID, Methods: []string{"password"}}
	case contains(id.Methods, "token"):
		tok := r.Header.Get("X-Auth-Token")
		if id.Token != nil && id.Token.ID != "" {
			tok = id.Token.ID
		}
		p, err := k.validate(ctx, tok)
		if err != nil {
			k.writeAuthError(w, err)
			return
		}
		parent = p
		base = claims{UserID: p.UserID, UserName: p.UserName, UserDomain: p.UserDomain, Methods: []string{"token"}}
	default:
		k.writeUnauthorized(w)
		return
	}

	if ok := k.applyScope(w, r, req.Auth.Scope, &base); !ok {
		return
	}
	tok, c, err := k.issue(base, parent)
	if err != nil {
		writeInternal(w, err)
		return
	}
	// A user referenced by id may sit in a disabled domain: refuse the
	// token now rather than at its first use.
	if err := k.checkSubject(ctx, c); err != nil {
		k.writeAuthError(w, err)
		return
	}
	_, nocatalog := r.URL.Query()["nocatalog"]
	body, err := k.tokenBody(r, c, !nocatalog)
	if err != nil {
		writeInternal(w, err)
		return
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, http.StatusCreated, map[string]any{"token": body})
}

// applyScope resolves the requested scope into c (project or domain and the
// user's roles there). It writes the error answer and returns false on
// failure.
func (k *Keystone) applyScope(w http.ResponseWriter, r *http.Request, raw json.RawMessage, c *claims) bool {
	ctx := r.Context()
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" || s == `"unscoped"` {
		return true
	}
	var sc scopeRequest
	if err := json.Unmarshal(raw, &sc); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid input for field 'scope': "+err.Error())
		return false
	}
	switch {
	case sc.Project != nil:
		var p projectRecord
		var ok bool
		var err error
		if sc.Project.ID != "" {
			p, ok, err = k.projectByID(ctx, sc.Project.ID)
		} else if sc.Project.Name == "" {
			writeError(w, http.StatusBadRequest, "Invalid input for field 'scope/project': 'id' or 'name' is required")
			return false
		} else {
			var d domainRecord
			var dok bool
			if d, dok, err = k.resolveDomain(ctx, sc.Project.Domain); dok {
				p, ok, err = k.projectByName(ctx, d.ID, sc.Project.Name)
			}
		}
		if err != nil {
			writeInternal(w, err)
			return false
		}
		if !ok || p.Disabled {
			k.writeUnauthorized(w)
			return false
		}
		roles, err := k.rolesOn(ctx, c.UserID, p.ID)
		if err != nil {
			writeInternal(w, err)
			return false
		}
		if len(roles) == 0 {
			k.writeUnauthorized(w)
			return false
		}
		c.ProjectID, c.ProjectName, c.ProjectDomain, c.Roles = p.ID, p.Name, p.DomainID, roles
	case sc.Domain != nil:
		d, ok, err := k.resolveDomain(ctx, sc.Domain)
		if err != nil {
			writeInternal(w, err)
			return false
		}
		if !ok || (sc.Domain.ID == "" && sc.Domain.Name == "") {
			k.writeUnauthorized(w)
			return false
		}
		roles, err := k.rolesOn(ctx, c.UserID, domainTarget(d.ID))
		if err != nil {
			writeInternal(w, err)
			return false
		}
		if len(roles) == 0 {
			k.writeUnauthorized(w)
			return false
		}
		c.DomainID, c.Roles = d.ID, roles
	default: // system scope, trusts: not supported
		k.writeUnauthorized(w)
		return false
	}
	return true
}

// Token response shapes (api.md §6.2).
type idName struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type tokenUser struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	Domain            idName  `json:"domain"`
	PasswordExpiresAt *string `json:"password_expires_at"`
}

type tokenProject struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain idName `json:"domain"`
}

type catalogEndpoint struct {
	ID        string `json:"id"`
	Interface string `json:"interface"`
	Region    string `json:"region"`
	RegionID  string `json:"region_id"`
	URL       string `json:"url"`
}

type catalogService struct {
	Type      string            `json:"type"`
	Name      string            `json:"name"`
	ID        string            `json:"id"`
	Endpoints []catalogEndpoint `json:"endpoints"`
}

type tokenBody struct {
	Methods   []string         `json:"methods"`
	User      tokenUser        `json:"user"`
	AuditIDs  []string         `json:"audit_ids"`
	IssuedAt  string           `json:"issued_at"`
	ExpiresAt string           `json:"expires_at"`
	Project   *tokenProject    `json:"project,omitempty"`
	Domain    *idName          `json:"domain,omitempty"`
	IsDomain  *bool            `json:"is_domain,omitempty"`
	Roles     []idName         `json:"roles,omitempty"`
	Catalog   []catalogService `json:"catalog,omitempty"`
}

// keystoneTime is keystone's timestamp format: UTC, microseconds, "Z".
const keystoneTime = "2006-01-02T15:04:05.000000Z"

func (k *Keystone) tokenBody(r *http.Request, c *claims, withCatalog bool) (*tokenBody, error) {
	domName := func(id string) idName {
		d, ok, err := k.domainByID(r.Context(), id)
		if err != nil || !ok {
			return idName{ID: id, Name: id}
		}
		return idName{ID: d.ID, Name: d.Name}
	}
	b := &tokenBody{
		Methods:   c.Methods,
		User:      tokenUser{ID: c.UserID, Name: c.UserName, Domain: domName(c.UserDomain)},
		AuditIDs:  c.AuditIDs,
		IssuedAt:  c.issued().UTC().Format(keystoneTime),
		ExpiresAt: c.expires().UTC().Format(keystoneTime),
	}
	scoped := false
	if c.ProjectID != "" {
		isDomain := false
		b.Project = &tokenProject{ID: c.ProjectID, Name: c.ProjectName, Domain: domName(c.ProjectDomain)}
		b.IsDomain = &isDomain
		scoped = true
	} else if c.DomainID != "" {
		dom := domName(c.DomainID)
		b.Domain = &dom
		scoped = true
	}
	for _, name := range c.Roles {
		role, ok, err := k.roleByName(r.Context(), name)
		if err != nil {
			return nil, err
		}
		id := name
		if ok {
			id = role.ID
		}
		b.Roles = append(b.Roles, idName{ID: id, Name: name})
	}
	if scoped && withCatalog {
		b.Catalog = []catalogService{
			k.catalogService("network", "neutron", k.opts.PublicURL),
			k.catalogService("identity", "keystone", k.opts.IdentityURL+"/v3"),
		}
	}
	return b, nil
}

// catalogService builds one catalog entry with stable ids derived from its
// content, so all processes publish the same catalog.
func (k *Keystone) catalogService(typ, name, url string) catalogService {
	s := catalogService{Type: typ, Name: name, ID: stableID("service", typ, name)}
	for _, iface := range []string{"public", "internal", "admin"} {
		s.Endpoints = append(s.Endpoints, catalogEndpoint{
			ID: stableID("endpoint", typ, iface, k.opts.Region, url), Interface: iface,
			Region: k.opts.Region, RegionID: k.opts.Region, URL: url,
		})
	}
	return s
}

func stableID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

// subjectRequest authenticates the caller (X-Auth-Token) and the subject
// token (X-Subject-Token) of GET/HEAD/DELETE /v3/auth/tokens. The caller may
// act on its own tokens; admin and service callers on any.
func (k *Keystone) subjectRequest(w http.ResponseWriter, r *http.Request) (string, *claims, bool) {
	caller, ok := k.caller(w, r)
	if !ok {
		return "", nil, false
	}
	tok := r.Header.Get("X-Subject-Token")
	if tok == "" {
		writeError(w, http.StatusBadRequest, "X-Subject-Token header is required")
		return "", nil, false
	}
	subject, err := k.validate(r.Context(), tok)
	if errors.Is(err, ErrUnauthorized) {
		writeError(w, http.StatusNotFound, "Could not find token: "+tok)
		return "", nil, false
	}
	if err != nil {
		writeInternal(w, err)
		return "", nil, false
	}
	if subject.UserID != caller.UserID && !contains(caller.Roles, "admin") && !contains(caller.Roles, "service") {
		writeError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:validate_token.")
		return "", nil, false
	}
	return tok, subject, true
}

func (k *Keystone) handleValidate(w http.ResponseWriter, r *http.Request) {
	tok, c, ok := k.subjectRequest(w, r)
	if !ok {
		return
	}
	w.Header().Set("X-Subject-Token", tok)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, nocatalog := r.URL.Query()["nocatalog"]
	body, err := k.tokenBody(r, c, !nocatalog)
	if err != nil {
		writeInternal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": body})
}

func (k *Keystone) handleRevoke(w http.ResponseWriter, r *http.Request) {
	_, c, ok := k.subjectRequest(w, r)
	if !ok {
		return
	}
	if err := k.revoke(r.Context(), c); err != nil {
		writeInternal(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- helpers ---------------------------------------------------------------------

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes keystone's error body.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code": code, "message": msg, "title": http.StatusText(code),
	}})
}

func (k *Keystone) writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", k.WWWAuthenticate())
	writeError(w, http.StatusUnauthorized, msgUnauthorized)
}

// writeAuthError answers 401 for ErrUnauthorized and 500 otherwise.
func (k *Keystone) writeAuthError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrUnauthorized) {
		k.writeUnauthorized(w)
		return
	}
	writeInternal(w, err)
}

func writeInternal(w http.ResponseWriter, err error) {
	slog.Error("identity: internal error", "err", err) // not exposed to clients
	writeError(w, http.StatusInternalServerError, "An unexpected error prevented the server from fulfilling your request.")
}
