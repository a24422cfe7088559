package identity

import (
	"net/http"
)

// Users in the admin API (admin.go).

type userInput struct {
	Name             *string `json:"name"`
	Password         *string `json:"password"`
	DomainID         *string `json:"domain_id"`
	DefaultProjectID *string `json:"default_project_id"`
	Enabled          *bool   `json:"enabled"`
	Email            *string `json:"email"`
	Description      *string `json:"description"`
}

func userIDKey(id string) string { return keyPrefix + "users/id/" + esc(id) }

// apply copies the fields of in to u; hash is the hash of in.Password.
// Like keystone, a new password or disabling the user ends its tokens.
func (in *userInput) apply(u *userRecord, hash string, now int64) {
	if in.Name != nil {
		u.Name = *in.Name
	}
	if in.Password != nil {
		u.PasswordHash = hash
		u.TokensAfter = now
	}
	if in.DefaultProjectID != nil {
		u.DefaultProjectID = *in.DefaultProjectID
	}
	if in.Enabled != nil {
		if !*in.Enabled && !u.Disabled {
			u.TokensAfter = now
		}
		u.Disabled = !*in.Enabled
	}
	if in.Email != nil {
		u.Email = *in.Email
	}
	if in.Description != nil {
		u.Description = *in.Description
	}
}

// hash hashes in.Password (slow: outside transactions, which may rerun).
func (in *userInput) hash() (string, error) {
	if in.Password == nil || *in.Password == "" {
		return "", nil // no password: password authentication fails
	}
	return hashPassword(*in.Password)
}

// txPutUser writes both copies of u, like txPutProject.
func txPutUser(tx KVTxn, u userRecord, oldName string) error {
	if oldName != "" && oldName != u.Name {
		tx.Delete(userNameKey(u.DomainID, oldName))
	}
	nameKey := userNameKey(u.DomainID, u.Name)
	if oldName != u.Name {
		if _, taken := tx.Get(nameKey); taken {
			return refuse(http.StatusConflict, "Conflict occurred attempting to store user - Duplicate entry found with name %s at domain ID %s.", u.Name, u.DomainID)
		}
		if err := txPut(tx, nameKey, u, true); err != nil {
			return err
		}
	} else if err := txPut(tx, nameKey, u, false); err != nil {
		return err
	}
	return txPut(tx, userIDKey(u.ID), u, oldName == "")
}

// txCheckDefaultProject refuses a default project that does not exist.
func txCheckDefaultProject(tx KVTxn, in *userInput) error {
	if in.DefaultProjectID == nil || *in.DefaultProjectID == "" {
		return nil
	}
	if _, ok := tx.Get(projectIDKey(*in.DefaultProjectID)); !ok {
		return refuse(http.StatusBadRequest, "Could not find project: %s.", *in.DefaultProjectID)
	}
	return nil
}

func (k *Keystone) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	c, ok := k.admin(w, r, "create_user")
	if !ok {
		return
	}
	var in userInput
	if !decodeBody(w, r, "user", &in) {
		return
	}
	if err := checkName("user", in.Name, true); err != nil {
		writeTxError(w, err)
		return
	}
	hash, err := in.hash()
	if err != nil {
		writeInternal(w, err)
		return
	}
	u := userRecord{ID: newID(), DomainID: c.ProjectDomain}
	if u.DomainID == "" {
		u.DomainID = DefaultDomainID
	}
	if in.DomainID != nil {
		u.DomainID = *in.DomainID
	}
	in.apply(&u, hash, 0)
	if !k.change(w, r, func(tx KVTxn) error {
		if _, ok := tx.Get(keyPrefix + "domains/" + esc(u.DomainID)); !ok {
			return refuse(http.StatusBadRequest, "Could not find domain: %s.", u.DomainID)
		}
		if err := txCheckDefaultProject(tx, &in); err != nil {
			return err
		}
		if err := txPutUser(tx, u, ""); err != nil {
			return err
		}
		k.txAppend(tx, keyPrefix+"users/list/", u.ID)
		return nil
	}) {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": k.userJSON(u)})
}

func (k *Keystone) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "update_user"); !ok {
		return
	}
	var in userInput
	if !decodeBody(w, r, "user", &in) {
		return
	}
	if err := checkName("user", in.Name, false); err != nil {
		writeTxError(w, err)
		return
	}
	hash, err := in.hash()
	if err != nil {
		writeInternal(w, err)
		return
	}
	id := r.PathValue("id")
	now := k.now().UnixMicro()
	var u userRecord
	if !k.change(w, r, func(tx KVTxn) error {
		old, ok, err := txGet[userRecord](tx, userIDKey(id))
		if err != nil {
			return err
		}
		if !ok {
			return refuse(http.StatusNotFound, "Could not find user: %s.", id)
		}
		if in.DomainID != nil && *in.DomainID != old.DomainID {
			return refuse(http.StatusBadRequest, "Cannot change the domain_id of a user.")
		}
		if err := txCheckDefaultProject(tx, &in); err != nil {
			return err
		}
		u = old
		in.apply(&u, hash, now)
		return txPutUser(tx, u, old.Name)
	}) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": k.userJSON(u)})
}

func (k *Keystone) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	if _, ok := k.admin(w, r, "delete_user"); !ok {
		return
	}
	id := r.PathValue("id")
	if !k.change(w, r, func(tx KVTxn) error {
		u, ok, err := txGet[userRecord](tx, userIDKey(id))
		if err != nil {
			return err
		}
		if !ok {
			return refuse(http.StatusNotFound, "Could not find user: %s.", id)
		}
		txDeleteUser(tx, u)
		return nil
	}) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// txDeleteUser removes u and its role assignments; its tokens fail
// validation from then on (checkSubject).
func txDeleteUser(tx KVTxn, u userRecord) {
	tx.Delete(userNameKey(u.DomainID, u.Name))
	tx.Delete(userIDKey(u.ID))
	txDeleteAssignments(tx, u.ID, "")
}

// handleUserProjects lists the projects the user has a role on (the user
// itself or an admin).
func (k *Keystone) handleUserProjects(w http.ResponseWriter, r *http.Request) {
	c, ok := k.caller(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !isAdmin(c) && id != c.UserID {
		writeError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:list_user_projects.")
		return
	}
	out := []any{}
	if !k.view(w, r, func(tx KVTxn) error {
		if _, ok := tx.Get(userIDKey(id)); !ok {
			return refuse(http.StatusNotFound, "Could not find user: %s.", id)
		}
		seen := map[string]bool{}
		for _, a := range txAssignments(tx, id, "") {
			if seen[a.target] || isDomainTarget(a.target) {
				continue
			}
			seen[a.target] = true
			if p, ok, err := txGet[projectRecord](tx, projectIDKey(a.target)); err != nil {
				return err
			} else if ok {
				out = append(out, k.projectJSON(p))
			}
		}
		return nil
	}) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out, "links": k.listLinks("/v3/users/" + id + "/projects")})
}
