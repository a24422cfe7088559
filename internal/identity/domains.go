package identity

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Domains and roles in the admin API (admin.go).

const domainListPrefix = keyPrefix + "domains-list/"

func domainKey(id string) string { return keyPrefix + "domains/" + esc(id) }

type domainInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Enabled     *bool   `json:"enabled"`
}

func (in *domainInput) apply(d *domainRecord) {
	if in.Name != nil {
		d.Name = *in.Name
	}
	if in.Description != nil {
		d.Description = *in.Description
	}
	if in.Enabled != nil {
		d.Disabled = !*in.Enabled
	}
}

func (k *Keystone) domainJSON(d domainRecord) map[string]any {
	return map[string]any{
		"id": d.ID, "name": d.Name, "description": d.Description, "enabled": !d.Disabled,
		"tags": []string{}, "options": map[string]any{}, "links": k.link("/v3/domains/" + d.ID),
	}
}

func (k *Keystone) handleListDomains(w http.ResponseWriter, r *http.Request) {
	c, ok := k.caller(w, r)
	if !ok {
		return
	}
	ids, err := k.list(r.Context(), domainListPrefix)
	if err != nil {
		writeInternal(w, err)
		return
	}
	q := r.URL.Query()
	out := []any{}
	for _, id := range ids {
		d, ok, err := k.domainByID(r.Context(), id)
		if err != nil {
			writeInternal(w, err)
			return
		}
		if !ok || (!isAdmin(c) && d.ID != c.ProjectDomain && d.ID != c.DomainID) || !matches(r, d.Name, d.ID) {
			continue
		}
		if v, ok := q["enabled"]; ok && (v[0] == "false" || v[0] == "0") != d.Disabled {
			continue
		}
		out = append(out, k.domainJSON(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"domains": out, "links": k.listLinks("/v3/domains")})
}

func (k *Keystone) handleGetDomain(w http.ResponseWriter, r *http.Request) {
	c, ok := k.caller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	d, found, err := k.domainByID(r.Context(), id)
	switch {
	case err != nil:
		writeInternal(w, err)
	case !found:
		writeError(w, http.StatusNotFound, "Could not find domain: "+id+".")
	case !isAdmin(c) && id != c.ProjectDomain && id != c.DomainID:
		writeError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:get_domain.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"domain": k.domainJSON(d)})
	}
}

// txPutDomain writes d and its name index (the old name's is dropped).
func txPutDomain(tx KVTxn, d domainRecord, oldName string) error {
	if oldName != "" && !strings.EqualFold(oldName, d.Name) {
		tx.Delete(domainNameKey(oldName))
	}
	if oldName == "" || !strings.EqualFold(oldName, d.Name) {
		if _, taken := tx.Get(domainNameKey(d.Name)); taken {
			return refuse(http.StatusConflict, "Conflict occurred attempting to store domain - Duplicate entry found with name %s.", d.Name)
		}
		tx.Create(domainNameKey(d.Name), []byte(d.ID))
	}
	return txPut(tx, domainKey(d.ID), d, oldName == "")
}

func (k *Keystone) handleCreateDomain(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "create_domain"); !ok {
		return
	}
	var in domainInput
	if !decodeBody(w, r, "domain", &in) {
		return
	}
	d := domainRecord{ID: newID()}
	in.apply(&d)
	if !k.change(w, r, func(tx KVTxn) error {
		if err := checkName("domain", in.Name, true); err != nil {
			return err
		}
		if err := txPutDomain(tx, d, ""); err != nil {
			return err
		}
		k.txAppend(tx, domainListPrefix, d.ID)
		return nil
	}) {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"domain": k.domainJSON(d)})
}

func (k *Keystone) handleUpdateDomain(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "update_domain"); !ok {
		return
	}
	var in domainInput
	if !decodeBody(w, r, "domain", &in) {
		return
	}
	id := r.PathValue("id")
	var d domainRecord
	if !k.change(w, r, func(tx KVTxn) error {
		old, ok, err := txGet[domainRecord](tx, domainKey(id))
		if err != nil {
			return err
		}
		if !ok {
			return refuse(http.StatusNotFound, "Could not find domain: %s.", id)
		}
		if err := checkName("domain", in.Name, false); err != nil {
			return err
		}
		if id == DefaultDomainID && in.Enabled != nil && !*in.Enabled {
			return refuse(http.StatusForbidden, "You are not authorized to perform the requested action: cannot disable the default domain.")
		}
		d = old
		in.apply(&d)
		return txPutDomain(tx, d, old.Name)
	}) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": k.domainJSON(d)})
}

// handleDeleteDomain deletes a disabled domain with its projects, users and
// the role assignments on it, as keystone does.
func (k *Keystone) handleDeleteDomain(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "delete_domain"); !ok {
		return
	}
	id := r.PathValue("id")
	if !k.change(w, r, func(tx KVTxn) error {
		d, ok, err := txGet[domainRecord](tx, domainKey(id))
		if err != nil {
			return err
		}
		if !ok {
			return refuse(http.StatusNotFound, "Could not find domain: %s.", id)
		}
		if !d.Disabled {
			return refuse(http.StatusForbidden, "You are not authorized to perform the requested action: Cannot delete a domain that is enabled, please disable it first.")
		}
		return txDeleteDomain(tx, d)
	}) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func txDeleteDomain(tx KVTxn, d domainRecord) error {
	var projects []projectRecord
	var users []userRecord
	var bad error
	scan := func(prefix string, each func(raw []byte) error) {
		tx.Scan(prefix, func(_ string, raw []byte) {
			if err := each(raw); err != nil && bad == nil {
				bad = err
			}
		})
	}
	scan(keyPrefix+"projects/id/", func(raw []byte) error {
		var p projectRecord
		if err := json.Unmarshal(raw, &p); err != nil || p.DomainID != d.ID {
			return err
		}
		projects = append(projects, p)
		return nil
	})
	scan(keyPrefix+"users/id/", func(raw []byte) error {
		var u userRecord
		if err := json.Unmarshal(raw, &u); err != nil || u.DomainID != d.ID {
			return err
		}
		users = append(users, u)
		return nil
	})
	if bad != nil {
		return bad
	}
	deleted := map[string]bool{}
	for _, u := range users {
		txDeleteUser(tx, u)
		deleted[u.ID] = true
	}
	for _, p := range projects {
		tx.Delete(projectNameKey(p.DomainID, p.Name))
		tx.Delete(projectIDKey(p.ID))
		for _, a := range txAssignments(tx, "", p.ID) {
			if !deleted[a.user] { // a deleted user's went with it
				tx.Delete(assignmentKey(a.user, a.target, a.role))
			}
		}
	}
	for _, a := range txAssignments(tx, "", domainTarget(d.ID)) {
		if !deleted[a.user] {
			tx.Delete(assignmentKey(a.user, a.target, a.role))
		}
	}
	tx.Delete(domainNameKey(d.Name))
	tx.Delete(domainKey(d.ID))
	return nil
}

// ---- roles ----------------------------------------------------------------------

// handleCreateRole creates a role (names are kept lower case, as the
// built-in Keystone matches roles by name). Roles are never changed nor
// deleted: their records are cached forever.
func (k *Keystone) handleCreateRole(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "create_role"); !ok {
		return
	}
	var in struct {
		Name *string `json:"name"`
	}
	if !decodeBody(w, r, "role", &in) {
		return
	}
	if err := checkName("role", in.Name, true); err != nil {
		writeTxError(w, err)
		return
	}
	name := strings.ToLower(strings.TrimSpace(*in.Name))
	if _, exists, err := k.roleByName(r.Context(), name); err != nil {
		writeInternal(w, err)
		return
	} else if exists {
		writeError(w, http.StatusConflict, "Conflict occurred attempting to store role - Duplicate entry found with name "+name+".")
		return
	}
	role, err := k.ensureRole(r.Context(), name)
	if err != nil {
		writeInternal(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"role": k.roleJSON(role)})
}

func (k *Keystone) handleGetRole(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.caller(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	role, found, err := k.roleByID(r.Context(), id)
	switch {
	case err != nil:
		writeInternal(w, err)
	case !found:
		writeError(w, http.StatusNotFound, "Could not find role: "+id+".")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"role": k.roleJSON(role)})
	}
}
