package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/neutrino-net/neutrino/internal/store"
)

// readBody reads the whole request body, mapping the size limit to 413.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newErr(http.StatusRequestEntityTooLarge, "HTTPRequestEntityTooLarge", "Request is too large.")
		}
		return nil, badRequest("Failed to read the request body: %v", err)
	}
	// Go's JSON decoder would store U+FFFD for invalid UTF-8 (and for
	// escaped lone surrogates); upstream refuses a body it cannot decode.
	if !utf8.Valid(b) || hasLoneSurrogate(b) {
		return nil, badRequest("Body contains invalid data")
	}
	return b, nil
}

// hasLoneSurrogate reports a \uD800-\uDFFF escape that is not half of a
// surrogate pair. Backslashes occur only inside JSON strings, so the
// escapes can be scanned without parsing.
func hasLoneSurrogate(b []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := hex4(i + 6)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return true
			}
			i += 6
		}
		i += 5
	}
	return false
}

func parseObject(b []byte) (map[string]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return nil, badRequest("Malformed request body")
	}
	return top, nil
}

// readMember reads {"<key>": {...}}.
func readMember(r *http.Request, key string) (json.RawMessage, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	top, err := parseObject(b)
	if err != nil {
		return nil, err
	}
	item, ok := top[key]
	if !ok || !isObject(item) {
		return nil, badRequest("Unable to find '%s' in request body", key)
	}
	return item, nil
}

// readItems reads a single create body or a bulk one.
func readItems(r *http.Request, d *resourceDef) ([]json.RawMessage, bool, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, false, err
	}
	top, err := parseObject(b)
	if err != nil {
		return nil, false, err
	}
	// The collection wins when both are given, as upstream.
	if list, ok := top[d.collection]; ok {
		var items []json.RawMessage
		if err := json.Unmarshal(list, &items); err != nil || len(items) == 0 {
			return nil, false, badRequest("Resources required")
		}
		for i, it := range items {
			if items[i], err = unwrapBulkItem(it, d.singular); err != nil {
				return nil, false, err
			}
		}
		return items, true, nil
	}
	if item, ok := top[d.singular]; ok {
		if !isObject(item) {
			return nil, false, badRequest("Unable to find '%s' in request body", d.singular)
		}
		return []json.RawMessage{item}, false, nil
	}
	return nil, false, badRequest("Unable to find '%s' in request body", d.singular)
}

// unwrapBulkItem returns a bulk item's attributes: upstream accepts each
// item bare or wrapped in its singular key ({"ports": [{"port": {...}}]},
// as tempest's bulk clients send).
func unwrapBulkItem(it json.RawMessage, singular string) (json.RawMessage, error) {
	if !isObject(it) {
		return nil, badRequest("Malformed request body")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(it, &m); err != nil {
		return nil, badRequest("Malformed request body")
	}
	inner, ok := m[singular]
	if !ok {
		return it, nil
	}
	if !isObject(inner) {
		return nil, badRequest("Body contains invalid data")
	}
	return inner, nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// checkAttrs applies the attribute map to a request item: unknown and
// read-only attributes are 400, admin-only ones set by others are 403.
func checkAttrs(c *reqCtx, d *resourceDef, item json.RawMessage, post bool) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(item, &m); err != nil {
		return badRequest("Malformed request body")
	}
	var unknown []string
	for k := range m {
		if _, ok := d.attrs[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return badRequest("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", "))
	}
	if post {
		// Upstream (populate_project_info) checks this before anything
		// else, for admins too.
		p, hasP := m["project_id"]
		tn, hasT := m["tenant_id"]
		if hasP && hasT && !bytes.Equal(bytes.TrimSpace(p), bytes.TrimSpace(tn)) {
			return errProjectTenantMismatch
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		at := d.attrs[k]
		if post && !at.post {
			return badRequest("Attribute '%s' not allowed in POST", k)
		}
		if !post && !at.put {
			return badRequest("Cannot update read-only attribute %s", k)
		}
		if at.adminSet && !c.admin && !equalsDefault(m[k], at.def) {
			action := "create_"
			if !post {
				action = "update_"
			}
			return policyDenied(action + d.kind + ":" + k)
		}
	}
	if post {
		for _, k := range sortedKeys(d.attrs) {
			if d.attrs[k].required {
				if _, ok := m[k]; !ok {
					return badRequest("Failed to parse request. Required attribute '%s' not specified", k)
				}
			}
		}
	}
	return nil
}

func equalsDefault(raw json.RawMessage, def any) bool {
	if def == nil {
		return false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	if b, ok := def.(bool); ok {
		got, err := toBool(v)
		return err == nil && got == b
	}
	return fmt.Sprint(v) == fmt.Sprint(def)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// decode fills dst from an item, with upstream-like messages for type
// errors.
func decode(item json.RawMessage, dst any) error {
	if err := json.Unmarshal(item, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalidInput("'%s' is not a valid value for %s", strings.Trim(te.Value, `"`), te.Field)
		}
		var fe *fieldError
		if errors.As(err, &fe) {
			return invalidInput("%s", fe.msg)
		}
		return invalidInput("%v", err)
	}
	return nil
}

type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }

// flexBool accepts JSON booleans and the strings upstream's
// convert_to_boolean accepts.
type flexBool bool

func (b *flexBool) UnmarshalJSON(raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	got, err := toBool(v)
	if err != nil {
		return &fieldError{msg: fmt.Sprintf("'%s' cannot be converted to boolean", strings.Trim(string(raw), `"`))}
	}
	*b = flexBool(got)
	return nil
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		return strconv.ParseBool(strings.ToLower(x))
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	}
	return false, fmt.Errorf("not a boolean")
}

// flexInt accepts a JSON number or a numeric string.
type flexInt int

func (n *flexInt) UnmarshalJSON(raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			*n = flexInt(x)
			return nil
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			*n = flexInt(i)
			return nil
		}
	}
	return &fieldError{msg: fmt.Sprintf("'%s' is not an integer", strings.Trim(string(raw), `"`))}
}

// optional tells an absent attribute from one given as null.
type optional[T any] struct {
	Set  bool
	Null bool
	V    T
}

func (o *optional[T]) UnmarshalJSON(raw []byte) error {
	o.Set = true
	if string(bytes.TrimSpace(raw)) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(raw, &o.V)
}

// parseIfMatch reads "If-Match: revision_number=N" (ext revision-if-match).
func parseIfMatch(r *http.Request) (int, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return -1, nil
	}
	for _, part := range strings.Split(h, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "revision_number="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, badRequest("If-Match header must be revision_number=<int>")
			}
			return n, nil
		}
	}
	return -1, nil
}

func checkRevision(e *store.Entry, want int) error {
	if want < 0 {
		return nil
	}
	if got := std(e).RevisionNumber; got != want {
		return newErr(http.StatusPreconditionFailed, "RevisionNumberConstraintFailed",
			"Constrained to %d, but current revision is %d", want, got)
	}
	return nil
}

var errProjectTenantMismatch = badRequest("'project_id' and 'tenant_id' do not match")

// projectFor decides the project of a new resource: the body's
// project_id/tenant_id (which must agree, and for non-admins must be the
// caller's own) or the caller's project.
func projectFor(c *reqCtx, projectID, tenantID string) (string, error) {
	if projectID != "" && tenantID != "" && projectID != tenantID {
		return "", errProjectTenantMismatch
	}
	p := projectID
	if p == "" {
		p = tenantID
	}
	if p == "" {
		p = c.project
	}
	if p != c.project && !c.admin {
		return "", badRequest("Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges")
	}
	if p == "" {
		return "", badRequest("Running without keystone AuthN requires that project_id is specified")
	}
	return p, nil
}

// checkUUIDList validates a list of ids as upstream's type:uuid_list: no
// duplicates (assigning a group twice is an error, not a no-op), each a
// UUID.
func checkUUIDList(attr string, ids []string) error {
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return badRequest("Invalid input for %s. Reason: Duplicate items in the list: '%s'.", attr, strings.Join(ids, ", "))
		}
		if _, err := uuid.Parse(id); err != nil {
			return badRequest("Invalid input for %s. Reason: '%s' is not a valid UUID.", attr, id)
		}
	}
	return nil
}
