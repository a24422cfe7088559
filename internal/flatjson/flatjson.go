// Package flatjson reads the simple JSON the project writes itself
// (objects of strings without escapes, integers, booleans, null and
// lists of strings) without encoding/json's reflection, for the hot
// paths where that cost counts: a caller tries the scanner and, at the
// first thing it does not expect, hands the text to encoding/json, so
// the result is always what json.Unmarshal gives.
package flatjson

import "strconv"

// Scanner reads one JSON value at a time from B, starting at I; every
// method returns false when what it finds is not of the simple shape,
// and the caller then hands the whole text to encoding/json.
type Scanner struct {
	B []byte
	I int
}

// Object walks the object that is the whole of b, handing each key to
// field, which must consume its value. False if anything is not of the
// simple shape, or if anything but white space follows the object.
func Object(b []byte, field func(s *Scanner, key []byte) bool) bool {
	s := &Scanner{B: b}
	if !s.Byte('{') {
		return false
	}
	if s.Peek() == '}' {
		s.I++
		return s.End()
	}
	for {
		key, ok := s.RawString()
		if !ok || !s.Byte(':') || !field(s, key) {
			return false
		}
		switch s.Next() {
		case ',':
		case '}':
			return s.End()
		default:
			return false
		}
	}
}

func (s *Scanner) SkipSpace() {
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// Peek returns the next byte that is not white space (0 at the end).
func (s *Scanner) Peek() byte {
	s.SkipSpace()
	if s.I == len(s.B) {
		return 0
	}
	return s.B[s.I]
}

// Next consumes and returns the next byte that is not white space.
func (s *Scanner) Next() byte {
	c := s.Peek()
	if c != 0 {
		s.I++
	}
	return c
}

func (s *Scanner) Byte(c byte) bool { return s.Next() == c }

// End: only white space may follow the object.
func (s *Scanner) End() bool { return s.Peek() == 0 && s.I == len(s.B) }

// Literal consumes word (true, false, null) if it comes next.
func (s *Scanner) Literal(word string) bool {
	s.SkipSpace()
	if len(s.B)-s.I < len(word) || string(s.B[s.I:s.I+len(word)]) != word {
		return false
	}
	s.I += len(word)
	return true
}

// RawString returns the bytes of a string without escapes, made of
// printable ASCII only (encoding/json would have to unescape or repair
// anything else).
func (s *Scanner) RawString() ([]byte, bool) {
	if !s.Byte('"') {
		return nil, false
	}
	start := s.I
	for s.I < len(s.B) {
		c := s.B[s.I]
		switch {
		case c == '"':
			s.I++
			return s.B[start : s.I-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		s.I++
	}
	return nil, false
}

// Str decodes a string; null leaves dst as it is (as encoding/json does).
func (s *Scanner) Str(dst *string) bool {
	if s.Peek() == 'n' {
		return s.Literal("null")
	}
	v, ok := s.RawString()
	*dst = string(v)
	return ok
}

// StrPtr decodes a string or null (nil).
func (s *Scanner) StrPtr(dst **string) bool {
	if s.Peek() == 'n' {
		*dst = nil
		return s.Literal("null")
	}
	v, ok := s.RawString()
	str := string(v)
	*dst = &str
	return ok
}

// Int decodes a decimal integer that fits an int; null leaves dst.
func (s *Scanner) Int(dst *int) bool {
	if s.Peek() == 'n' {
		return s.Literal("null")
	}
	n, ok := s.integer(strconv.IntSize)
	if ok {
		*dst = int(n)
	}
	return ok
}

// Int64 decodes a decimal integer that fits an int64; null leaves dst.
func (s *Scanner) Int64(dst *int64) bool {
	if s.Peek() == 'n' {
		return s.Literal("null")
	}
	n, ok := s.integer(64)
	if ok {
		*dst = n
	}
	return ok
}

// integer reads a JSON integer that fits bits. A leading zero (JSON
// allows "0" alone), or a fraction or exponent right after the digits:
// false, for encoding/json to say or decide.
func (s *Scanner) integer(bits int) (int64, bool) {
	start := s.I
	if s.I < len(s.B) && s.B[s.I] == '-' {
		s.I++
	}
	digits := s.I
	for s.I < len(s.B) && s.B[s.I] >= '0' && s.B[s.I] <= '9' {
		s.I++
	}
	if s.I == digits || (s.B[digits] == '0' && s.I-digits > 1) {
		return 0, false
	}
	if s.I < len(s.B) && (s.B[s.I] == '.' || s.B[s.I] == 'e' || s.B[s.I] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.B[start:s.I]), 10, bits)
	return n, err == nil
}

// IntPtr decodes an integer or null (nil).
func (s *Scanner) IntPtr(dst **int) bool {
	if s.Peek() == 'n' {
		*dst = nil
		return s.Literal("null")
	}
	var n int
	if !s.Int(&n) {
		return false
	}
	*dst = &n
	return true
}

// Bool decodes true or false; null leaves dst.
func (s *Scanner) Bool(dst *bool) bool {
	switch s.Peek() {
	case 't':
		*dst = true
		return s.Literal("true")
	case 'f':
		*dst = false
		return s.Literal("false")
	case 'n':
		return s.Literal("null")
	}
	return false
}

// Strings decodes a list of strings ([] is an empty list, null nil).
func (s *Scanner) Strings(dst *[]string) bool {
	if s.Peek() == 'n' {
		*dst = nil
		return s.Literal("null")
	}
	if !s.Byte('[') {
		return false
	}
	list := []string{}
	if s.Peek() == ']' {
		s.I++
		*dst = list
		return true
	}
	for {
		v, ok := s.RawString()
		if !ok {
			return false
		}
		list = append(list, string(v))
		switch s.Next() {
		case ',':
		case ']':
			*dst = list
			return true
		default:
			return false
		}
	}
}
