package identity

import (
	"net/http"
	"net/url"
	"strings"
)

// Role assignments in the admin API (admin.go): a user's roles on a
// project or a domain, stored as identity/assignments/<user>/<target>/<role>.

type assignment struct{ user, target, role string }

func isDomainTarget(target string) bool { return strings.HasPrefix(target, "domain:") }

// txAssignments returns the assignments of user (all users if "") on
// target (all targets if "").
func txAssignments(tx KVTxn, user, target string) []assignment {
	prefix := keyPrefix + "assignments/"
	if user != "" {
		prefix += esc(user) + "/"
	}
	var out []assignment
	tx.Scan(prefix, func(key string, _ []byte) {
		parts := strings.Split(strings.TrimPrefix(key, keyPrefix+"assignments/"), "/")
		if len(parts) != 3 {
			return
		}
		var a assignment
		for i, dst := range []*string{&a.user, &a.target, &a.role} {
			v, err := url.PathUnescape(parts[i])
			if err != nil {
				return
			}
			*dst = v
		}
		if target == "" || a.target == target {
			out = append(out, a)
		}
	})
	return out
}

func txDeleteAssignments(tx KVTxn, user, target string) {
	for _, a := range txAssignments(tx, user, target) {
		tx.Delete(assignmentKey(a.user, a.target, a.role))
	}
}

// grantPath resolves {tid}, {uid} and {rid} of
// /v3/{projects|domains}/{tid}/users/{uid}[/roles/{rid}] in tx, refusing
// unknown ones with 404.
func grantPath(tx KVTxn, r *http.Request, onDomain, withRole bool) (target string, u userRecord, err error) {
	tid, uid, rid := r.PathValue("tid"), r.PathValue("uid"), r.PathValue("rid")
	if onDomain {
		if _, ok := tx.Get(keyPrefix + "domains/" + esc(tid)); !ok {
			return "", u, refuse(http.StatusNotFound, "Could not find domain: %s.", tid)
		}
		target = domainTarget(tid)
	} else {
		if _, ok := tx.Get(projectIDKey(tid)); !ok {
			return "", u, refuse(http.StatusNotFound, "Could not find project: %s.", tid)
		}
		target = tid
	}
	u, ok, err := txGet[userRecord](tx, userIDKey(uid))
	if err != nil {
		return "", u, err
	}
	if !ok {
		return "", u, refuse(http.StatusNotFound, "Could not find user: %s.", uid)
	}
	if withRole {
		if _, ok := tx.Get(keyPrefix + "roles/id/" + esc(rid)); !ok {
			return "", u, refuse(http.StatusNotFound, "Could not find role: %s.", rid)
		}
	}
	return target, u, nil
}

// handleGrant serves PUT (grant), HEAD and GET (check) and DELETE (revoke)
// of /v3/{projects|domains}/{tid}/users/{uid}/roles/{rid}.
func (k *Keystone) handleGrant(onDomain bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		action := map[string]string{http.MethodPut: "create_grant", http.MethodDelete: "revoke_grant"}[r.Method]
		if action == "" {
			action = "check_grant"
		}
		if _, ok := k.admin(w, r, action); !ok {
			return
		}
		rid := r.PathValue("rid")
		now := k.now().UnixMicro()
		plan := func(tx KVTxn) error {
			target, u, err := grantPath(tx, r, onDomain, true)
			if err != nil {
				return err
			}
			key := assignmentKey(u.ID, target, rid)
			_, has := tx.Get(key)
			switch {
			case r.Method == http.MethodPut:
				if !has {
					tx.Create(key, []byte("{}"))
				}
			case !has:
				return refuse(http.StatusNotFound, "Could not find role assignment with role: %s, user or group: %s, project, domain, or system: %s.", rid, u.ID, r.PathValue("tid"))
			case r.Method == http.MethodDelete:
				tx.Delete(key)
				// Like keystone, the user's tokens end with the role.
				u.TokensAfter = now
				return txPutUser(tx, u, u.Name)
			}
			return nil
		}
		var ok bool
		if r.Method == http.MethodPut || r.Method == http.MethodDelete {
			ok = k.change(w, r, plan)
		} else {
			ok = k.view(w, r, plan)
		}
		if ok {
			w.WriteHeader(http.StatusNoContent)
		}
	}
}

// handleListGrants serves GET /v3/{projects|domains}/{tid}/users/{uid}/roles.
func (k *Keystone) handleListGrants(onDomain bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := k.admin(w, r, "list_grants"); !ok {
			return
		}
		out := []any{}
		if !k.view(w, r, func(tx KVTxn) error {
			target, u, err := grantPath(tx, r, onDomain, false)
			if err != nil {
				return err
			}
			for _, a := range txAssignments(tx, u.ID, target) {
				if role, ok, err := txGet[roleRecord](tx, keyPrefix+"roles/id/"+esc(a.role)); err != nil {
					return err
				} else if ok {
					out = append(out, k.roleJSON(role))
				}
			}
			return nil
		}) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"roles": out, "links": k.listLinks(r.URL.Path)})
	}
}

// handleRoleAssignments serves GET /v3/role_assignments with the filters
// user.id, scope.project.id, scope.domain.id and role.id (effective and
// include_names are accepted; there are no groups nor inherited roles, so
// effective changes nothing).
func (k *Keystone) handleRoleAssignments(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "list_role_assignments"); !ok {
		return
	}
	q := r.URL.Query()
	target := q.Get("scope.project.id")
	if d := q.Get("scope.domain.id"); d != "" {
		target = domainTarget(d)
	}
	names := q.Has("include_names") && q.Get("include_names") != "false" && q.Get("include_names") != "0"
	out := []any{}
	if !k.view(w, r, func(tx KVTxn) error {
		for _, a := range txAssignments(tx, q.Get("user.id"), target) {
			if rid := q.Get("role.id"); rid != "" && rid != a.role {
				continue
			}
			out = append(out, k.assignmentJSON(tx, a, names))
		}
		return nil
	}) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"role_assignments": out, "links": k.listLinks("/v3/role_assignments")})
}

func (k *Keystone) assignmentJSON(tx KVTxn, a assignment, names bool) map[string]any {
	ref := func(key, id string) map[string]any {
		m := map[string]any{"id": id}
		if names {
			if rec, ok, _ := txGet[struct {
				Name     string `json:"name"`
				DomainID string `json:"domain_id"`
			}](tx, key); ok {
				m["name"] = rec.Name
				if rec.DomainID != "" {
					dom := map[string]any{"id": rec.DomainID, "name": rec.DomainID}
					if d, ok, _ := txGet[domainRecord](tx, domainKey(rec.DomainID)); ok {
						dom["name"] = d.Name
					}
					m["domain"] = dom
				}
			}
		}
		return m
	}
	scope := map[string]any{}
	path := "/v3/projects/" + a.target
	if isDomainTarget(a.target) {
		d := strings.TrimPrefix(a.target, "domain:")
		scope["domain"] = ref(keyPrefix+"domains/"+esc(d), d)
		path = "/v3/domains/" + d
	} else {
		scope["project"] = ref(projectIDKey(a.target), a.target)
	}
	return map[string]any{
		"role":  ref(keyPrefix+"roles/id/"+esc(a.role), a.role),
		"user":  ref(userIDKey(a.user), a.user),
		"scope": scope,
		"links": map[string]string{"assignment": k.opts.IdentityURL + path + "/users/" + a.user + "/roles/" + a.role},
	}
}
