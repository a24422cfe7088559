package identity

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// The admin API: creating, changing and deleting projects, users, domains
// and role assignments, as tempest's dynamic credentials and gophercloud's
// acceptance tests drive keystone. Only admins may call it (403 otherwise);
// every change is one KVUpdater transaction.

// admin authenticates the caller and checks that it is an admin, writing
// the error answer (401, 403) otherwise.
func (k *Keystone) admin(w http.ResponseWriter, r *http.Request, action string) (*claims, bool) {
	c, ok := k.caller(w, r)
	if !ok {
		return nil, false
	}
	if !isAdmin(c) {
		writeError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:"+action+".")
		return nil, false
	}
	return c, true
}

// decodeBody decodes {"<wrapper>": {...}} into dst, answering 400 on bad
// input.
func decodeBody(w http.ResponseWriter, r *http.Request, wrapper string, dst any) bool {
	var body map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "Malformed request body: "+err.Error())
		return false
	}
	raw, ok := body[wrapper]
	if !ok || string(raw) == "null" {
		writeError(w, http.StatusBadRequest, "Invalid input for field '"+wrapper+"': '"+wrapper+"' is a required property")
		return false
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid input for field '"+wrapper+"': "+err.Error())
		return false
	}
	return true
}

// change runs plan as one KVUpdater transaction and writes the error
// answer when it fails.
func (k *Keystone) change(w http.ResponseWriter, r *http.Request, plan func(tx KVTxn) error) bool {
	u, ok := k.kv.(KVUpdater)
	if !ok {
		writeError(w, http.StatusNotImplemented, "This identity store is read-only.")
		return false
	}
	return writeTxError(w, u.Update(r.Context(), plan))
}

// view runs fn on a consistent read-only view.
func (k *Keystone) view(w http.ResponseWriter, r *http.Request, fn func(tx KVTxn) error) bool {
	u, ok := k.kv.(KVUpdater)
	if !ok {
		writeError(w, http.StatusNotImplemented, "This identity store cannot be scanned.")
		return false
	}
	return writeTxError(w, u.Read(r.Context(), fn))
}

func writeTxError(w http.ResponseWriter, err error) bool {
	var st *errStatus
	switch {
	case err == nil:
		return true
	case errors.As(err, &st):
		writeError(w, st.code, st.msg)
	default:
		writeInternal(w, err)
	}
	return false
}

// checkName validates a name field: required, at most 255 characters.
func checkName(kind string, name *string, required bool) error {
	if name == nil {
		if required {
			return refuse(http.StatusBadRequest, "Invalid input for field '%s': 'name' is a required property", kind)
		}
		return nil
	}
	if strings.TrimSpace(*name) == "" || len(*name) > 255 {
		return refuse(http.StatusBadRequest, "Invalid input for field '%s/name': the name must be 1 to 255 characters", kind)
	}
	return nil
}

// ---- projects -----------------------------------------------------------------

type projectInput struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	DomainID    *string   `json:"domain_id"`
	ParentID    *string   `json:"parent_id"`
	Enabled     *bool     `json:"enabled"`
	IsDomain    *bool     `json:"is_domain"`
	Tags        *[]string `json:"tags"`
}

func (in *projectInput) apply(p *projectRecord) {
	if in.Name != nil {
		p.Name = *in.Name
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Enabled != nil {
		p.Disabled = !*in.Enabled
	}
	if in.Tags != nil {
		p.Tags = append([]string(nil), *in.Tags...)
	}
}

func projectIDKey(id string) string { return keyPrefix + "projects/id/" + esc(id) }

// txPutProject writes both copies of p; oldName is the name it had ("" for
// a new project), whose index is dropped when it changes.
func txPutProject(tx KVTxn, p projectRecord, oldName string) error {
	if oldName != "" && oldName != p.Name {
		tx.Delete(projectNameKey(p.DomainID, oldName))
	}
	nameKey := projectNameKey(p.DomainID, p.Name)
	if oldName != p.Name {
		if _, taken := tx.Get(nameKey); taken {
			return refuse(http.StatusConflict, "Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : %s.", p.Name)
		}
		if err := txPut(tx, nameKey, p, true); err != nil {
			return err
		}
	} else if err := txPut(tx, nameKey, p, false); err != nil {
		return err
	}
	return txPut(tx, projectIDKey(p.ID), p, oldName == "")
}

func (k *Keystone) handleCreateProject(w http.ResponseWriter, r *http.Request) {
	c, ok := k.admin(w, r, "create_project")
	if !ok {
		return
	}
	var in projectInput
	if !decodeBody(w, r, "project", &in) {
		return
	}
	p := projectRecord{ID: newID(), DomainID: c.ProjectDomain}
	if p.DomainID == "" {
		p.DomainID = DefaultDomainID
	}
	if in.DomainID != nil {
		p.DomainID = *in.DomainID
	}
	in.apply(&p)
	if !k.change(w, r, func(tx KVTxn) error {
		if err := checkName("project", in.Name, true); err != nil {
			return err
		}
		if in.IsDomain != nil && *in.IsDomain {
			return refuse(http.StatusBadRequest, "Projects acting as domains are not supported.")
		}
		if _, ok := tx.Get(keyPrefix + "domains/" + esc(p.DomainID)); !ok {
			return refuse(http.StatusBadRequest, "Could not find domain: %s.", p.DomainID)
		}
		if in.ParentID != nil && *in.ParentID != "" && *in.ParentID != p.DomainID {
			return refuse(http.StatusBadRequest, "Project hierarchies are not supported: parent_id must be the domain.")
		}
		if err := txPutProject(tx, p, ""); err != nil {
			return err
		}
		k.txAppend(tx, keyPrefix+"projects/list/", p.ID)
		return nil
	}) {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"project": k.projectJSON(p)})
}

func (k *Keystone) handleUpdateProject(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "update_project"); !ok {
		return
	}
	var in projectInput
	if !decodeBody(w, r, "project", &in) {
		return
	}
	id := r.PathValue("id")
	var p projectRecord
	if !k.change(w, r, func(tx KVTxn) error {
		old, ok, err := txGet[projectRecord](tx, projectIDKey(id))
		if err != nil {
			return err
		}
		if !ok {
			return refuse(http.StatusNotFound, "Could not find project: %s.", id)
		}
		if err := checkName("project", in.Name, false); err != nil {
			return err
		}
		if in.DomainID != nil && *in.DomainID != old.DomainID {
			return refuse(http.StatusBadRequest, "Cannot change the domain_id of a project.")
		}
		p = old
		in.apply(&p)
		return txPutProject(tx, p, old.Name)
	}) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"project": k.projectJSON(p)})
}

func (k *Keystone) handleDeleteProject(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "delete_project"); !ok {
		return
	}
	id := r.PathValue("id")
	if !k.change(w, r, func(tx KVTxn) error {
		p, ok, err := txGet[projectRecord](tx, projectIDKey(id))
		if err != nil {
			return err
		}
		if !ok {
			return refuse(http.StatusNotFound, "Could not find project: %s.", id)
		}
		txDeleteProject(tx, p)
		return nil
	}) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// txDeleteProject removes p and the role assignments on it.
func txDeleteProject(tx KVTxn, p projectRecord) {
	tx.Delete(projectNameKey(p.DomainID, p.Name))
	tx.Delete(projectIDKey(p.ID))
	txDeleteAssignments(tx, "", p.ID)
}
