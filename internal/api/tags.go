package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/neutrino-net/neutrino/internal/store"
)

// setTags rewrites a resource's tags, bumping its revision like any change.
func (a *API) setTags(c *reqCtx, d *resourceDef, id string, fn func(tags []string) ([]string, error)) error {
	_, err := a.st.Update(c, func(v *store.View, t *store.Txn) error {
		e, err := a.lookup(v, c, d, id)
		if err != nil {
			return err
		}
		if err := mayModify(c, d, e, "update"); err != nil {
			return err
		}
		tags, err := fn(slices.Clone(std(e).Tags))
		if err != nil {
			return err
		}
		if err := checkTags(tags); err != nil {
			return err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(e.Raw, &m); err != nil {
			return err
		}
		s := *std(e)
		bump(a, &s)
		m["tags"] = mustJSON(dedupTags(tags))
		m["revision_number"] = mustJSON(s.RevisionNumber)
		m["updated_at"] = mustJSON(s.UpdatedAt)
		t.Replace(d.kind, e, mustJSON(m))
		return nil
	})
	return err
}

func (a *API) tagsGet(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	var tags []string
	var err error
	a.st.View(func(v *store.View) {
		var e *store.Entry
		if e, err = a.lookup(v, c, d, r.PathValue("id")); err == nil {
			tags = std(e).Tags
		}
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": tags})
	return nil
}

func (a *API) tagsReplace(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	var req struct {
		Tags *[]string `json:"tags"`
	}
	if json.Unmarshal(b, &req) != nil || req.Tags == nil {
		return badRequest("Invalid input for tags: a list of tags is required")
	}
	if err := a.setTags(c, d, r.PathValue("id"), func([]string) ([]string, error) { return *req.Tags, nil }); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": dedupTags(*req.Tags)})
	return nil
}

func (a *API) tagsClear(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	if err := a.setTags(c, d, r.PathValue("id"), func([]string) ([]string, error) { return []string{}, nil }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) tagHas(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	tag := r.PathValue("tag")
	found := false
	var err error
	a.st.View(func(v *store.View) {
		var e *store.Entry
		if e, err = a.lookup(v, c, d, r.PathValue("id")); err == nil {
			found = slices.Contains(std(e).Tags, tag)
		}
	})
	if err != nil {
		return err
	}
	if !found {
		return notFound("TagNotFound", "Tag %s could not be found for %s %s.", tag, d.singular, r.PathValue("id"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) tagAdd(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	tag := r.PathValue("tag")
	err := a.setTags(c, d, r.PathValue("id"), func(tags []string) ([]string, error) {
		if !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
		return tags, nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (a *API) tagRemove(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	tag := r.PathValue("tag")
	err := a.setTags(c, d, r.PathValue("id"), func(tags []string) ([]string, error) {
		i := slices.Index(tags, tag)
		if i < 0 {
			return nil, notFound("TagNotFound", "Tag %s could not be found for %s %s.", tag, d.singular, r.PathValue("id"))
		}
		return slices.Delete(tags, i, i+1), nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func containsStr(list []string, s string) bool { return slices.Contains(list, s) }
func itoa(n int) string                        { return strconv.Itoa(n) }
