package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync/atomic"

	"github.com/neutrino-net/neutrino/internal/store"
)

// memo is what an entry's rendering costs once: its attributes as raw
// JSON, and its full encodings for admins and for others. Lists serve
// these bytes as they are, so a list of 1,000 ports decodes and encodes
// nothing.
type memo struct {
	fields        map[string]json.RawMessage // each value compact, as json.Marshal writes it
	admin, member []byte
	// derived is the rendering of a kind with extra attributes, valid
	// while the entries it was derived from are the same.
	derived atomic.Pointer[derivedRender]
}

// derivedRender is a rendering with extra attributes, and the entries
// (as the cache held them: a changed entry is a new pointer) it read.
type derivedRender struct {
	deps          []*store.Entry
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
	if !marshalForm(e.Raw) {
		for k, v := range m.fields {
			// What json.Marshal would write for the value (compact,
			// HTML escaped), once, so that renderings splice it as is.
			m.fields[k], _ = json.Marshal(v)
		}
	}
	if d.extra == nil {
		m.admin = encodeSorted(m.fields, nil)
		if len(d.hidden) > 0 {
			m.member = encodeSorted(m.fields, d.hidden)
		} else {
			m.member = m.admin
		}
	}
	var anyM any = m
	e.Memo.Store(&anyM)
	return m
}

// marshalForm reports whether raw is already as json.Marshal writes JSON
// (compact, nothing to HTML-escape), as the server stores every resource:
// then each of its values is too, and needs no second encoding (a create
// rendered its new entry at about 15 µs for that). One scan of raw.
func marshalForm(raw []byte) bool {
	if bytes.ContainsAny(raw, "<>&\u2028\u2029") {
		return false
	}
	inStr, esc := false, false
	for _, c := range raw {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ' ' || c == '\n' || c == '\t' || c == '\r'):
			return false
		}
	}
	return true
}

// encodeSorted is json.Marshal of fields (keys sorted, values spliced)
// without the keys in drop. The values must be compact JSON.
func encodeSorted(fields map[string]json.RawMessage, drop []string) []byte {
	keys := make([]string, 0, len(fields))
	size := 2
	for k, v := range fields {
		if !slices.Contains(drop, k) {
			keys = append(keys, k)
			size += len(k) + len(v) + 4
		}
	}
	slices.Sort(keys)
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendKey(out, k)
		out = append(out, ':')
		out = append(out, fields[k]...)
	}
	return append(out, '}')
}

// appendKey appends k as a JSON string the way encoding/json writes map
// keys: attribute names are plain ASCII and written as they are, anything
// else goes through the encoder.
func appendKey(out []byte, k string) []byte {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(k)
			return append(out, b...)
		}
	}
	out = append(out, '"')
	out = append(out, k...)
	return append(out, '"')
}

// render encodes an entry for the caller, keeping only fields if given:
// from the memo unless fields are asked for or an attribute depends on
// the caller (callerAttrs). It must run inside a store view when the
// kind has derived attributes.
func (d *resourceDef) render(v *store.View, c *reqCtx, e *store.Entry, fields []string) []byte {
	m := d.memoOf(e)
	var own map[string]any
	if d.callerAttrs != nil {
		own = d.callerAttrs(c, e)
	}
	if len(fields) == 0 && own == nil {
		if d.extra != nil {
			r := d.derivedOf(v, e, m)
			m = &memo{admin: r.admin, member: r.member}
		}
		if c.admin {
			return m.admin
		}
		return m.member
	}
	out := d.withExtra(v, e, m)
	for k, val := range own {
		b, _ := json.Marshal(val)
		out[k] = b
	}
	var drop []string
	if !c.admin {
		drop = d.hidden
	}
	if len(fields) > 0 {
		for k := range out {
			if !slices.Contains(fields, k) {
				delete(out, k)
			}
		}
	}
	return encodeSorted(out, drop)
}

// withExtra is a copy of the entry's fields with its extra attributes.
func (d *resourceDef) withExtra(v *store.View, e *store.Entry, m *memo) map[string]json.RawMessage {
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
	return out
}

// derivedOf returns the rendering with extra attributes, from the memo
// while the entries it depends on are unchanged (a security group's
// rules, a floating IP's port): a list of groups then renders no rule.
func (d *resourceDef) derivedOf(v *store.View, e *store.Entry, m *memo) *derivedRender {
	var deps []*store.Entry
	if d.deps != nil {
		deps = d.deps(v, e)
		if r := m.derived.Load(); r != nil && slices.Equal(r.deps, deps) {
			return r
		}
	}
	out := d.withExtra(v, e, m)
	r := &derivedRender{deps: deps, admin: encodeSorted(out, nil)}
	r.member = r.admin
	if len(d.hidden) > 0 {
		r.member = encodeSorted(out, d.hidden)
	}
	if d.deps != nil {
		m.derived.Store(r)
	}
	return r
}
