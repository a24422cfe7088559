package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/store"
)

// attr describes one attribute as upstream's RESOURCE_ATTRIBUTE_MAP does:
// who may set it, and how it is filtered and sorted.
type attr struct {
	typ       byte // 's' string, 'b' bool, 'i' int, 'l' list of strings, 'o' other (not filterable)
	post, put bool
	adminSet  bool // only admins may set it (to a non-default value)
	required  bool
	def       any // the default, for "explicitly set" policy checks
	nosort    bool
}

// resourceDef is one collection of the API.
type resourceDef struct {
	kind       string // store kind and policy name
	singular   string // JSON member key
	collection string // JSON collection key
	path       string // URL segment under /v2.0 ("" = not served generically)
	attrs      map[string]attr
	hidden     []string // attributes only admins read
	internal   []string // stored attributes nobody reads
	decode     store.Decoder
	tags       bool
	notFound   func(id string) *Error
	// visible reports whether the caller may see the resource.
	visible func(v *store.View, c *reqCtx, e *store.Entry) bool
	// extra adds attributes derived from other resources; kinds with it
	// are rendered each time instead of from the entry's memo.
	extra func(v *store.View, e *store.Entry) map[string]any
	// callerAttrs overrides attributes whose value depends on who asks
	// (a network's "shared" for a project it is shared with); nil when
	// nothing does, so that the memo serves the common case.
	callerAttrs func(c *reqCtx, e *store.Entry) map[string]any
	// boolFilters are list filters that are not attributes but derive
	// from other resources (a subnet's "shared" is its network's).
	boolFilters map[string]func(v *store.View, e *store.Entry) bool
	// beforeRead runs before list/show (the lazy default security group).
	beforeRead func(a *API, c *reqCtx) error
	// writeNotFound: a visible resource of another project answers
	// writes with its 404, not 403 (upstream's owner-only policies for
	// objects shared through RBAC: address groups, pools, scopes).
	writeNotFound bool
	// deleteAlso lets others than the owner delete (a port's network
	// owner: upstream's admin_owner_or_network_owner).
	deleteAlso func(v *store.View, c *reqCtx, e *store.Entry) bool
	create     func(a *API, v *store.View, t *store.Txn, c *reqCtx, body json.RawMessage) (string, error)
	update     func(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry, body json.RawMessage) error
	delete     func(a *API, v *store.View, t *store.Txn, c *reqCtx, e *store.Entry) error
}

// standardAttrs are the attributes all standard resources share.
func standardAttrs(m map[string]attr) map[string]attr {
	std := map[string]attr{
		"id":              {typ: 's'},
		"project_id":      {typ: 's', post: true},
		"tenant_id":       {typ: 's', post: true},
		"description":     {typ: 's', post: true, put: true, def: ""},
		"revision_number": {typ: 'i'},
		"created_at":      {typ: 's'},
		"updated_at":      {typ: 's'},
		"tags":            {typ: 'o', nosort: true},
	}
	for k, v := range m {
		std[k] = v
	}
	return std
}

// decoderOf decodes a stored T and checks what handlers will rely on
// (model.Validator): an object that fails is not served (the store skips
// it and says so) rather than panicking the requests that read it.
func decoderOf[T any]() store.Decoder {
	return func(raw []byte) (any, error) {
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, err
		}
		if val, ok := any(v).(model.Validator); ok {
			if err := val.Validate(); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
}

// resources is every collection served generically, filled by the
// resource files' init functions.
var resources = map[string]*resourceDef{}

func register(d *resourceDef) { resources[d.kind] = d }

// Kinds the control plane keeps, with no HTTP collection of their own.
func init() {
	register(&resourceDef{kind: model.KindL3Binding, decode: decoderOf[model.Binding]()})
	register(&resourceDef{kind: model.KindDHCPBinding, decode: decoderOf[model.Binding]()})
	register(&resourceDef{kind: model.KindDVRMAC, decode: decoderOf[model.DVRMAC]()})
}

// std returns the standard attributes of an entry's resource. An entry
// that is not a resource has none: no project, so only admins see it.
func std(e *store.Entry) *model.Standard {
	if r, ok := store.As[model.Resource](e); ok {
		return r.Std()
	}
	return &model.Standard{}
}

// memo is what an entry's rendering costs once: its attributes as raw
// JSON, and its full encodings for admins and for others.
type memo struct {
	fields        map[string]json.RawMessage
	admin, member []byte
}

func (d *resourceDef) memoOf(e *store.Entry) *memo {
	if p := e.Memo.Load(); p != nil {
		if m, ok := (*p).(*memo); ok {
			return m
		}
	}
	m := &memo{fields: map[string]json.RawMessage{}}
	_ = json.Unmarshal(e.Raw, &m.fields)
	for _, k := range d.internal {
		delete(m.fields, k)
	}
	if d.extra == nil {
		m.admin, _ = json.Marshal(m.fields)
		if len(d.hidden) > 0 {
			m.member = encodeWithout(m.fields, d.hidden)
		} else {
			m.member = m.admin
		}
	}
	var anyM any = m
	e.Memo.Store(&anyM)
	return m
}

func encodeWithout(fields map[string]json.RawMessage, drop []string) []byte {
	cp := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		if !slices.Contains(drop, k) {
			cp[k] = v
		}
	}
	b, _ := json.Marshal(cp)
	return b
}

// render encodes an entry for the caller, keeping only fields if given.
// It must run inside a store view when the kind has derived attributes.
func (d *resourceDef) render(v *store.View, c *reqCtx, e *store.Entry, fields []string) []byte {
	m := d.memoOf(e)
	var own map[string]any
	if d.callerAttrs != nil {
		own = d.callerAttrs(c, e)
	}
	if d.extra == nil && len(fields) == 0 && own == nil {
		if c.admin {
			return m.admin
		}
		return m.member
	}
	out := make(map[string]json.RawMessage, len(m.fields)+2)
	for k, val := range m.fields {
		out[k] = val
	}
	if d.extra != nil {
		for k, val := range d.extra(v, e) {
			b, _ := json.Marshal(val)
			out[k] = b
		}
	}
	for k, val := range own {
		b, _ := json.Marshal(val)
		out[k] = b
	}
	if !c.admin {
		for _, k := range d.hidden {
			delete(out, k)
		}
	}
	if len(fields) > 0 {
		for k := range out {
			if !slices.Contains(fields, k) {
				delete(out, k)
			}
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// lookup finds a resource the caller may see, or the kind's 404.
func (a *API) lookup(v *store.View, c *reqCtx, d *resourceDef, id string) (*store.Entry, error) {
	e, ok := v.Get(d.kind, id)
	if !ok || !d.visible(v, c, e) {
		return nil, d.notFound(id)
	}
	return e, nil
}

// mayModify applies the 404-vs-403 rule for writes to a visible resource:
// only its project (or an admin) may change it.
func mayModify(c *reqCtx, d *resourceDef, e *store.Entry, action string) error {
	if c.admin || std(e).ProjectID == c.project {
		return nil
	}
	if d.writeNotFound {
		return d.notFound(e.ID)
	}
	return policyDenied(action + "_" + d.kind)
}

func (a *API) show(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	if d.beforeRead != nil {
		if err := d.beforeRead(a, c); err != nil {
			return err
		}
	}
	fields := fieldsParam(r)
	var body []byte
	var err error
	a.st.View(func(v *store.View) {
		var e *store.Entry
		if e, err = a.lookup(v, c, d, r.PathValue("id")); err == nil {
			body = d.render(v, c, e, fields)
		}
	})
	if err != nil {
		return err
	}
	writeMember(w, http.StatusOK, d.singular, body)
	return nil
}

func fieldsParam(r *http.Request) []string {
	var out []string
	for _, f := range r.URL.Query()["fields"] {
		for _, p := range strings.Split(f, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func writeMember(w http.ResponseWriter, status int, key string, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(`{"` + key + `":`))
	w.Write(body)
	w.Write([]byte("}"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// create handles POST of one resource or a bulk list (all or nothing).
func (a *API) create(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	items, bulk, err := readItems(r, d)
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := checkAttrs(c, d, it, true); err != nil {
			return err
		}
	}
	var ids []string
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		ids = ids[:0]
		for _, it := range items {
			id, err := d.create(a, v, t, c, it)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var bodies [][]byte
	a.st.View(func(v *store.View) {
		for _, id := range ids {
			if e, ok := v.Get(d.kind, id); ok {
				bodies = append(bodies, d.render(v, c, e, nil))
			}
		}
	})
	if !bulk {
		if len(bodies) != 1 {
			return newErr(http.StatusInternalServerError, "InternalServerError", "created %s vanished", d.singular)
		}
		writeMember(w, http.StatusCreated, d.singular, bodies[0])
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{"` + d.collection + `":[`))
	for i, b := range bodies {
		if i > 0 {
			w.Write([]byte(","))
		}
		w.Write(b)
	}
	w.Write([]byte("]}"))
	return nil
}

func (a *API) update(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	item, err := readMember(r, d.singular)
	if err != nil {
		return err
	}
	if err := checkAttrs(c, d, item, false); err != nil {
		return err
	}
	id := r.PathValue("id")
	ifMatch, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		e, err := a.lookup(v, c, d, id)
		if err != nil {
			return err
		}
		if err := checkRevision(e, ifMatch); err != nil {
			return err
		}
		if err := mayModify(c, d, e, "update"); err != nil {
			return err
		}
		return d.update(a, v, t, c, e, item)
	})
	if err != nil {
		return err
	}
	return a.show(w, r, c, d)
}

func (a *API) remove(w http.ResponseWriter, r *http.Request, c *reqCtx, d *resourceDef) error {
	if r.ContentLength > 0 {
		return badRequest("Request body is not supported in DELETE.")
	}
	id := r.PathValue("id")
	ifMatch, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	_, err = a.st.Update(c, func(v *store.View, t *store.Txn) error {
		e, err := a.lookup(v, c, d, id)
		if err != nil {
			return err
		}
		if err := checkRevision(e, ifMatch); err != nil {
			return err
		}
		if d.deleteAlso == nil || !d.deleteAlso(v, c, e) {
			if err := mayModify(c, d, e, "delete"); err != nil {
				return err
			}
		}
		return d.delete(a, v, t, c, e)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
