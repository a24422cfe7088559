package hostmodel

import (
	"strconv"

	"github.com/neutrino-net/neutrino/internal/model"
)

// A rule change reaches every agent whose ports are in its group, with
// the group's new revision: with 5,000 agents on one group, that is
// 10,000 decodes per change across the cloud, and encoding/json took
// about 17 µs for the pair (reflection and field lookup by name), more
// than planning the rule. These two kinds are therefore decoded by a
// small scanner made for the flat objects the server renders for them
// (strings without escapes, integers, booleans, null, a list of tags).
// Anything else it meets (an escape, a non-ASCII byte, a fraction, an
// unknown or differently cased key, trailing data) makes it give up,
// and encoding/json decodes the object instead, so the result is
// always what json.Unmarshal gives (TestFastDecodeMatchesJSON).

// fastRule decodes a security group rule; ok is false when the object
// is not of the simple shape (the caller then uses encoding/json).
func fastRule(b []byte) (*model.SecurityGroupRule, bool) {
	r := new(model.SecurityGroupRule)
	ok := scanObject(b, func(s *scanner, key []byte) bool {
		if standardField(s, key, &r.Standard) {
			return true
		}
		switch string(key) {
		case "security_group_id":
			return s.str(&r.SecurityGroupID)
		case "direction":
			return s.str(&r.Direction)
		case "ethertype":
			return s.str(&r.EtherType)
		case "protocol":
			return s.strPtr(&r.Protocol)
		case "port_range_min":
			return s.intPtr(&r.PortRangeMin)
		case "port_range_max":
			return s.intPtr(&r.PortRangeMax)
		case "remote_ip_prefix":
			return s.strPtr(&r.RemoteIPPrefix)
		case "normalized_cidr":
			return s.strPtr(&r.NormalizedCIDR)
		case "remote_group_id":
			return s.strPtr(&r.RemoteGroupID)
		case "remote_address_group_id":
			return s.strPtr(&r.RemoteAddressGroupID)
		case "belongs_to_default_sg":
			return s.boolean(&r.BelongsToDefaultSG)
		}
		return false
	})
	return r, ok
}

// fastGroup decodes a security group like fastRule.
func fastGroup(b []byte) (*model.SecurityGroup, bool) {
	g := new(model.SecurityGroup)
	ok := scanObject(b, func(s *scanner, key []byte) bool {
		if standardField(s, key, &g.Standard) {
			return true
		}
		switch string(key) {
		case "name":
			return s.str(&g.Name)
		case "stateful":
			return s.boolean(&g.Stateful)
		case "shared":
			return s.boolean(&g.Shared)
		case "neutrino:default":
			return s.boolean(&g.Default)
		}
		return false
	})
	return g, ok
}

// standardField decodes key into st if it is a standard attribute;
// false if it is not one, or its value is not of the simple shape.
func standardField(s *scanner, key []byte, st *model.Standard) bool {
	switch string(key) {
	case "id":
		return s.str(&st.ID)
	case "project_id":
		return s.str(&st.ProjectID)
	case "tenant_id":
		return s.str(&st.TenantID)
	case "description":
		return s.str(&st.Description)
	case "revision_number":
		return s.integer(&st.RevisionNumber)
	case "created_at":
		return s.str(&st.CreatedAt)
	case "updated_at":
		return s.str(&st.UpdatedAt)
	case "tags":
		return s.strings(&st.Tags)
	}
	return false
}

// scanner reads one JSON value at a time from b; every method returns
// false when what it finds is not of the simple shape.
type scanner struct {
	b []byte
	i int
}

// scanObject walks the object in b, handing each key to field, which
// must consume the value. False if anything is not of the simple shape.
func scanObject(b []byte, field func(s *scanner, key []byte) bool) bool {
	s := &scanner{b: b}
	if !s.byte('{') {
		return false
	}
	if s.peek() == '}' {
		s.i++
		return s.end()
	}
	for {
		key, ok := s.rawString()
		if !ok || !s.byte(':') || !field(s, key) {
			return false
		}
		switch s.next() {
		case ',':
		case '}':
			return s.end()
		default:
			return false
		}
	}
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte that is not white space (0 at the end).
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.i == len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// next consumes and returns the next byte that is not white space.
func (s *scanner) next() byte {
	c := s.peek()
	if c != 0 {
		s.i++
	}
	return c
}

func (s *scanner) byte(c byte) bool { return s.next() == c }

// end: only white space may follow the object.
func (s *scanner) end() bool { return s.peek() == 0 && s.i == len(s.b) }

// literal consumes word (true, false, null) if it comes next.
func (s *scanner) literal(word string) bool {
	s.skipSpace()
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// rawString returns the bytes of a string without escapes, made of
// printable ASCII only (encoding/json would have to unescape or repair
// anything else).
func (s *scanner) rawString() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// str decodes a string; null leaves dst as it is (as encoding/json does).
func (s *scanner) str(dst *string) bool {
	if s.peek() == 'n' {
		return s.literal("null")
	}
	v, ok := s.rawString()
	*dst = string(v)
	return ok
}

// strPtr decodes a string or null (nil).
func (s *scanner) strPtr(dst **string) bool {
	if s.peek() == 'n' {
		*dst = nil
		return s.literal("null")
	}
	v, ok := s.rawString()
	str := string(v)
	*dst = &str
	return ok
}

// integer decodes a decimal integer that fits an int; null leaves dst.
func (s *scanner) integer(dst *int) bool {
	if s.peek() == 'n' {
		return s.literal("null")
	}
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	// A leading zero (JSON allows "0" alone) or a fraction or exponent
	// right after the digits: leave it to encoding/json.
	if s.i == digits || (s.b[digits] == '0' && s.i-digits > 1) {
		return false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return false
	}
	n, err := strconv.Atoi(string(s.b[start:s.i]))
	if err != nil {
		return false
	}
	*dst = n
	return true
}

// intPtr decodes an integer or null (nil).
func (s *scanner) intPtr(dst **int) bool {
	if s.peek() == 'n' {
		*dst = nil
		return s.literal("null")
	}
	var n int
	if !s.integer(&n) {
		return false
	}
	*dst = &n
	return true
}

// boolean decodes true or false; null leaves dst.
func (s *scanner) boolean(dst *bool) bool {
	switch s.peek() {
	case 't':
		*dst = true
		return s.literal("true")
	case 'f':
		*dst = false
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return false
}

// strings decodes a list of strings ([] is an empty list, null nil).
func (s *scanner) strings(dst *[]string) bool {
	if s.peek() == 'n' {
		*dst = nil
		return s.literal("null")
	}
	if !s.byte('[') {
		return false
	}
	list := []string{}
	if s.peek() == ']' {
		s.i++
		*dst = list
		return true
	}
	for {
		v, ok := s.rawString()
		if !ok {
			return false
		}
		list = append(list, string(v))
		switch s.next() {
		case ',':
		case ']':
			*dst = list
			return true
		default:
			return false
		}
	}
}
