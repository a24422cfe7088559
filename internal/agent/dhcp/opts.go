package dhcp

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/rfc1035label"
)

// optKind says how an extra_dhcp_opt value is encoded on the wire.
type optKind int

const (
	kindUnknown optKind = iota // guessed: hex bytes, IPv4 list, or text
	kindIP
	kindIPs
	kindString
	kindBool
	kindU8
	kindU16
	kindU32
	kindI32
	kindRoutes  // RFC 3442 classless static routes
	kindDomains // RFC 3397 domain search
)

// siaddrCode is dnsmasq's pseudo option "server-ip-address": not an
// option at all but the siaddr (next server) header field.
const siaddrCode = 255

type optDef struct {
	code uint8
	kind optKind
}

// optNames are dnsmasq's option names (dnsmasq --help dhcp) for the
// options a Neutron user is likely to set.
var optNames = map[string]optDef{
	"netmask":                  {1, kindIP},
	"time-offset":              {2, kindI32},
	"router":                   {3, kindIPs},
	"dns-server":               {6, kindIPs},
	"log-server":               {7, kindIPs},
	"lpr-server":               {9, kindIPs},
	"hostname":                 {12, kindString},
	"boot-file-size":           {13, kindU16},
	"domain-name":              {15, kindString},
	"swap-server":              {16, kindIP},
	"root-path":                {17, kindString},
	"extension-path":           {18, kindString},
	"ip-forward-enable":        {19, kindBool},
	"non-local-source-routing": {20, kindBool},
	"max-datagram-reassembly":  {22, kindU16},
	"default-ttl":              {23, kindU8},
	"mtu":                      {26, kindU16},
	"all-subnets-local":        {27, kindBool},
	"broadcast":                {28, kindIP},
	"router-discovery":         {31, kindBool},
	"router-solicitation":      {32, kindIP},
	"trailer-encapsulation":    {34, kindBool},
	"arp-timeout":              {35, kindU32},
	"ethernet-encap":           {36, kindBool},
	"tcp-ttl":                  {37, kindU8},
	"tcp-keepalive":            {38, kindU32},
	"nis-domain":               {40, kindString},
	"nis-server":               {41, kindIPs},
	"ntp-server":               {42, kindIPs},
	"netbios-ns":               {44, kindIPs},
	"netbios-dd":               {45, kindIPs},
	"netbios-nodetype":         {46, kindU8},
	"netbios-scope":            {47, kindString},
	"x-windows-fs":             {48, kindIPs},
	"x-windows-dm":             {49, kindIPs},
	"lease-time":               {51, kindU32},
	"T1":                       {58, kindU32},
	"T2":                       {59, kindU32},
	"vendor-class":             {60, kindString},
	"nis+-domain":              {64, kindString},
	"nis+-server":              {65, kindIPs},
	"tftp-server":              {66, kindString},
	"bootfile-name":            {67, kindString},
	"mobile-ip-home":           {68, kindIPs},
	"smtp-server":              {69, kindIPs},
	"pop3-server":              {70, kindIPs},
	"nntp-server":              {71, kindIPs},
	"irc-server":               {74, kindIPs},
	"user-class":               {77, kindString},
	"posix-timezone":           {100, kindString},
	"tzdb-timezone":            {101, kindString},
	"domain-search":            {119, kindDomains},
	"classless-static-route":   {121, kindRoutes},
	"tftp-server-address":      {150, kindIPs},
	"server-ip-address":        {siaddrCode, kindIP},
}

// optKinds is optNames by code, plus codes known only by number.
var optKinds = func() map[uint8]optKind {
	m := map[uint8]optKind{249: kindRoutes} // Microsoft classless static routes
	for _, d := range optNames {
		m[d.code] = d.kind
	}
	return m
}()

// ParseOpt returns the option code an extra_dhcp_opt names and its wire
// value; code 255 stands for the siaddr header field (dnsmasq's
// "server-ip-address"). An empty value gives nil data: the option is to be
// removed (upstream allows blank "router" and "classless-static-route" for
// exactly that). The agent may call it to reject bad options up front;
// Reply skips options it cannot parse.
func ParseOpt(o Opt) (code uint8, data []byte, err error) {
	name := strings.TrimPrefix(strings.TrimSpace(o.Name), "option:")
	kind := kindUnknown
	if n, err := strconv.ParseUint(name, 10, 8); err == nil {
		switch n {
		case 0, 255, 53, 54: // pad, end; message type and server identifier are the protocol's
			return 0, nil, fmt.Errorf("extra_dhcp_opt %q: reserved option number", o.Name)
		}
		code = uint8(n)
		kind = optKinds[code]
	} else if d, ok := optNames[name]; ok {
		code, kind = d.code, d.kind
	} else {
		return 0, nil, fmt.Errorf("extra_dhcp_opt %q: unknown option name", o.Name)
	}
	v := strings.TrimSpace(o.Value)
	if v == "" {
		return code, nil, nil
	}
	data, err = encodeOpt(kind, v)
	if err != nil {
		return 0, nil, fmt.Errorf("extra_dhcp_opt %s=%q: %w", o.Name, o.Value, err)
	}
	if len(data) > math.MaxUint8 && kind != kindRoutes && kind != kindDomains {
		// Long options are split (RFC 3396), which few clients join.
		return 0, nil, fmt.Errorf("extra_dhcp_opt %s: value longer than 255 bytes", o.Name)
	}
	return code, data, nil
}

func encodeOpt(kind optKind, v string) ([]byte, error) {
	switch kind {
	case kindIP:
		a, err := parseIPv4(v)
		if err != nil {
			return nil, err
		}
		b := a.As4()
		return b[:], nil
	case kindIPs:
		return encodeIPs(v)
	case kindString:
		return []byte(v), nil
	case kindBool:
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			return []byte{1}, nil
		case "0", "false", "no", "off":
			return []byte{0}, nil
		}
		return nil, fmt.Errorf("not a boolean")
	case kindU8, kindU16, kindU32:
		bits := map[optKind]int{kindU8: 8, kindU16: 16, kindU32: 32}[kind]
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return nil, err
		}
		b := binary.BigEndian.AppendUint32(nil, uint32(n))
		return b[4-bits/8:], nil
	case kindI32:
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint32(nil, uint32(int32(n))), nil
	case kindRoutes:
		parts := splitList(v)
		if len(parts)%2 != 0 {
			return nil, errors.New("routes must be destination,next-hop pairs")
		}
		var rs []Route
		for i := 0; i < len(parts); i += 2 {
			dst, err := netip.ParsePrefix(parts[i])
			if err != nil || !dst.Addr().Is4() {
				return nil, fmt.Errorf("bad route destination %q", parts[i])
			}
			nh, err := parseIPv4(parts[i+1])
			if err != nil {
				return nil, err
			}
			rs = append(rs, Route{Destination: dst.Masked(), NextHop: nh})
		}
		return encodeRoutes(rs), nil
	case kindDomains:
		l := rfc1035label.NewLabels()
		l.Labels = splitList(v)
		return l.ToBytes(), nil
	}
	// Unknown option: as dnsmasq guesses, hex bytes, then addresses, then text.
	if b, err := hex.DecodeString(strings.ReplaceAll(v, ":", "")); err == nil && strings.Contains(v, ":") {
		return b, nil
	}
	if b, err := encodeIPs(v); err == nil {
		return b, nil
	}
	return []byte(v), nil
}

func encodeIPs(v string) ([]byte, error) {
	var b []byte
	for _, p := range splitList(v) {
		a, err := parseIPv4(p)
		if err != nil {
			return nil, err
		}
		a4 := a.As4()
		b = append(b, a4[:]...)
	}
	return b, nil
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("not an IPv4 address: %q", s)
	}
	return a, nil
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// encodeRoutes encodes classless static routes (RFC 3442 section 2):
// prefix length, significant octets of the destination, next hop.
func encodeRoutes(rs []Route) []byte {
	var b []byte
	for _, r := range rs {
		bits := r.Destination.Bits()
		d := r.Destination.Masked().Addr().As4()
		nh := r.NextHop.As4()
		b = append(b, byte(bits))
		b = append(b, d[:(bits+7)/8]...)
		b = append(b, nh[:]...)
	}
	return b
}
