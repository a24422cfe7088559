package ipam

import (
	"fmt"
	"strings"
)

// DefaultBaseMAC is Neutron's default base_mac.
const DefaultBaseMAC = "fa:16:3e:00:00:00"

// MAC is a 48-bit MAC address.
type MAC [6]byte

// String formats the MAC in Neutron's lower-case colon form.
func (m MAC) String() string {
	const hexDigits = "0123456789abcdef"
	var b [17]byte
	for i, o := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i], b[3*i+1] = hexDigits[o>>4], hexDigits[o&0xf]
	}
	return string(b[:])
}

// IsMulticast reports whether the I/G bit (bit 0 of the first octet) is
// set; this includes the broadcast address ff:ff:ff:ff:ff:ff.
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// ParseMAC parses a 48-bit MAC in any of these forms, case-insensitively:
// six groups of one or two hex digits separated by ':' or '-' (one kind of
// separator throughout), "xxxx.xxxx.xxxx", or twelve bare hex digits. It
// makes no unicast check (see NormalizeMAC).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	bad := invalidAttr("mac_address", "'%s' is not a valid MAC address", s)
	var groups []string
	switch {
	case strings.Contains(s, ":"):
		groups = strings.Split(s, ":")
	case strings.Contains(s, "-"):
		groups = strings.Split(s, "-")
	case strings.Contains(s, "."):
		parts := strings.Split(s, ".")
		if len(parts) != 3 {
			return m, bad
		}
		for _, p := range parts {
			if len(p) != 4 {
				return m, bad
			}
			groups = append(groups, p[:2], p[2:])
		}
	case len(s) == 12:
		for i := 0; i < 12; i += 2 {
			groups = append(groups, s[i:i+2])
		}
	default:
		return m, bad
	}
	if len(groups) != 6 {
		return m, bad
	}
	for i, g := range groups {
		if len(g) < 1 || len(g) > 2 {
			return m, bad
		}
		var v byte
		for _, c := range []byte(g) {
			d, ok := hexVal(c)
			if !ok {
				return m, bad
			}
			v = v<<4 | d
		}
		m[i] = v
	}
	return m, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// NormalizeMAC validates a user-given mac_address and returns it in
// lower-case colon form ("FA-16-3E-01-02-03" → "fa:16:3e:01:02:03").
// Errors are *InvalidInputError (attribute "mac_address"):
//
//   - unparsable: "'<s>' is not a valid MAC address"
//   - all zero:   "'<s>' is not a valid MAC address: the all-zero address is not allowed"
//   - multicast:  "'<s>' is not a valid MAC address: multicast addresses are not allowed"
//     (bit 0 of the first octet set; this includes broadcast)
func NormalizeMAC(s string) (string, error) {
	m, err := ParseMAC(s)
	if err != nil {
		return "", err
	}
	if m.IsZero() {
		return "", invalidAttr("mac_address", "'%s' is not a valid MAC address: the all-zero address is not allowed", s)
	}
	if m.IsMulticast() {
		return "", invalidAttr("mac_address", "'%s' is not a valid MAC address: multicast addresses are not allowed", s)
	}
	return m.String(), nil
}

// MACGenerator generates port MAC addresses from a base_mac (§4.3): the
// first three octets of the base are kept; the fourth is kept too when it
// is not 00; the remaining octets are random. The zero value is not usable;
// build one with NewMACGenerator.
type MACGenerator struct {
	base  MAC
	fixed int // leading octets copied from base: 3 or 4
}

// ParseBaseMAC validates a base_mac setting: a parsable MAC (any ParseMAC
// form) whose first octet is unicast (else every generated MAC would be
// multicast).
func ParseBaseMAC(s string) error {
	_, err := NewMACGenerator(s)
	return err
}

// NewMACGenerator returns a generator for base_mac s (see ParseBaseMAC).
func NewMACGenerator(s string) (*MACGenerator, error) {
	m, err := ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base_mac %q: not a MAC address", s)
	}
	if m.IsMulticast() {
		return nil, fmt.Errorf("invalid base_mac %q: multicast base would generate multicast MAC addresses", s)
	}
	g := &MACGenerator{base: m, fixed: 3}
	if m[3] != 0 {
		g.fixed = 4
	}
	return g, nil
}

// Generate returns a random MAC in lower-case colon form. intn is the
// random source (nil: math/rand/v2). It never returns the all-zero MAC.
// Uniqueness per network is the caller's job: on collision, generate again.
func (g *MACGenerator) Generate(intn func(n int) int) string {
	intn = intnOrDefault(intn)
	nrand := 6 - g.fixed
	for {
		m := g.base
		r := intn(1 << (8 * nrand))
		for i := 5; i >= g.fixed; i-- {
			m[i] = byte(r)
			r >>= 8
		}
		if !m.IsZero() {
			return m.String()
		}
	}
}

// GenerateMAC is NewMACGenerator(base).Generate(intn); long-lived callers
// should keep a MACGenerator instead of re-parsing the base each time.
func GenerateMAC(base string, intn func(n int) int) (string, error) {
	g, err := NewMACGenerator(base)
	if err != nil {
		return "", err
	}
	return g.Generate(intn), nil
}
