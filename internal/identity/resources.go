package identity

import "net/http"

// Reading identity resources: clients resolving "--project <name>" and
// friends. Admins see everything, other users their own project, user and
// roles. Changes are in admin.go.

// caller validates X-Auth-Token (any scope), answering 401 on failure.
func (k *Keystone) caller(w http.ResponseWriter, r *http.Request) (*claims, bool) {
	c, err := k.validate(r.Context(), r.Header.Get("X-Auth-Token"))
	if err != nil {
		k.writeAuthError(w, err)
		return nil, false
	}
	return c, true
}

func isAdmin(c *claims) bool { return contains(c.Roles, "admin") }

func (k *Keystone) link(path string) map[string]string {
	return map[string]string{"self": k.opts.IdentityURL + path}
}

func (k *Keystone) listLinks(path string) map[string]any {
	return map[string]any{"self": k.opts.IdentityURL + path, "previous": nil, "next": nil}
}

func (k *Keystone) projectJSON(p projectRecord) map[string]any {
	return map[string]any{
		"id": p.ID, "name": p.Name, "domain_id": p.DomainID, "description": p.Description,
		"enabled": !p.Disabled, "is_domain": false, "parent_id": p.DomainID,
		"tags": append([]string{}, p.Tags...), "options": map[string]any{}, "links": k.link("/v3/projects/" + p.ID),
	}
}

func (k *Keystone) userJSON(u userRecord) map[string]any {
	m := map[string]any{
		"id": u.ID, "name": u.Name, "domain_id": u.DomainID, "enabled": !u.Disabled,
		"password_expires_at": nil, "options": map[string]any{}, "links": k.link("/v3/users/" + u.ID),
	}
	// Optional attributes appear only when set, as in keystone.
	for name, v := range map[string]string{"default_project_id": u.DefaultProjectID, "email": u.Email, "description": u.Description} {
		if v != "" {
			m[name] = v
		}
	}
	return m
}

func (k *Keystone) roleJSON(r roleRecord) map[string]any {
	return map[string]any{
		"id": r.ID, "name": r.Name, "domain_id": nil, "description": nil,
		"options": map[string]any{}, "links": k.link("/v3/roles/" + r.ID),
	}
}

// matches applies the ?name= and ?domain_id= filters.
func matches(r *http.Request, name, domainID string) bool {
	q := r.URL.Query()
	if v, ok := q["name"]; ok && v[0] != name {
		return false
	}
	if v, ok := q["domain_id"]; ok && v[0] != domainID {
		return false
	}
	return true
}

func (k *Keystone) handleListProjects(w http.ResponseWriter, r *http.Request) {
	c, ok := k.caller(w, r)
	if !ok {
		return
	}
	ids, err := k.list(r.Context(), keyPrefix+"projects/list/")
	if err != nil {
		writeInternal(w, err)
		return
	}
	out := []any{}
	for _, id := range ids {
		if !isAdmin(c) && id != c.ProjectID {
			continue
		}
		p, ok, err := k.projectByID(r.Context(), id)
		if err != nil {
			writeInternal(w, err)
			return
		}
		if ok && matches(r, p.Name, p.DomainID) {
			out = append(out, k.projectJSON(p))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out, "links": k.listLinks("/v3/projects")})
}

func (k *Keystone) handleGetProject(w http.ResponseWriter, r *http.Request) {
	c, ok := k.caller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	p, found, err := k.projectByID(r.Context(), id)
	switch {
	case err != nil:
		writeInternal(w, err)
	case !found:
		writeError(w, http.StatusNotFound, "Could not find project: "+id+".")
	case !isAdmin(c) && id != c.ProjectID:
		writeError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:get_project.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"project": k.projectJSON(p)})
	}
}

func (k *Keystone) handleListUsers(w http.ResponseWriter, r *http.Request) {
	c, ok := k.caller(w, r)
	if !ok {
		return
	}
	ids, err := k.list(r.Context(), keyPrefix+"users/list/")
	if err != nil {
		writeInternal(w, err)
		return
	}
	out := []any{}
	for _, id := range ids {
		if !isAdmin(c) && id != c.UserID {
			continue
		}
		u, ok, err := k.userByID(r.Context(), id)
		if err != nil {
			writeInternal(w, err)
			return
		}
		if ok && matches(r, u.Name, u.DomainID) {
			out = append(out, k.userJSON(u))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out, "links": k.listLinks("/v3/users")})
}

func (k *Keystone) handleGetUser(w http.ResponseWriter, r *http.Request) {
	c, ok := k.caller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	u, found, err := k.userByID(r.Context(), id)
	switch {
	case err != nil:
		writeInternal(w, err)
	case !found:
		writeError(w, http.StatusNotFound, "Could not find user: "+id+".")
	case !isAdmin(c) && id != c.UserID:
		writeError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:get_user.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"user": k.userJSON(u)})
	}
}

func (k *Keystone) handleListRoles(w http.ResponseWriter, r *http.Request) {
	c, ok := k.caller(w, r)
	if !ok {
		return
	}
	ids, err := k.list(r.Context(), keyPrefix+"roles/list/")
	if err != nil {
		writeInternal(w, err)
		return
	}
	out := []any{}
	for _, id := range ids {
		role, ok, err := k.roleByID(r.Context(), id)
		if err != nil {
			writeInternal(w, err)
			return
		}
		if !ok || (!isAdmin(c) && !contains(c.Roles, role.Name)) {
			continue
		}
		if v, ok := r.URL.Query()["name"]; ok && v[0] != role.Name {
			continue
		}
		out = append(out, k.roleJSON(role))
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": out, "links": k.listLinks("/v3/roles")})
}
