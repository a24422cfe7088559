package ipam

import (
	"errors"
	"math/big"
	"net/http"
	"net/netip"
	"testing"
)

var (
	mp = netip.MustParsePrefix
	ma = netip.MustParseAddr
)

func addrPtr(s string) *netip.Addr {
	a := ma(s)
	return &a
}

// checkErr asserts err's message (Error()) and, for an Error, its type and
// status; want == "" means no error.
func checkErr(t *testing.T, err error, want, wantType string, wantStatus int) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("error = %q, want %q", err.Error(), want)
	}
	var ne Error
	if !errors.As(err, &ne) {
		t.Fatalf("error %T does not implement Error", err)
	}
	if ne.Type() != wantType || ne.Status() != wantStatus {
		t.Fatalf("type/status = %s/%d, want %s/%d", ne.Type(), ne.Status(), wantType, wantStatus)
	}
}

func TestParseCIDR(t *testing.T) {
	tests := []struct {
		in      string
		ver     int
		want    string
		err     string
		message string
	}{
		{in: "10.0.0.5/24", ver: 4, want: "10.0.0.0/24"},
		{in: "10.0.0.0/24", ver: 4, want: "10.0.0.0/24"},
		{in: "192.168.1.7/32", ver: 4, want: "192.168.1.7/32"},
		{in: "2001:db8::5/64", ver: 6, want: "2001:db8::/64"},
		{in: "2001:DB8:0:1::/64", ver: 6, want: "2001:db8:0:1::/64"},
		{in: "10.0.0.0/8", ver: 0, want: "10.0.0.0/8"},
		{in: "10.0.0.0/33", ver: 4, err: "'10.0.0.0/33' is not a valid IP subnet",
			message: "Invalid input for cidr. Reason: '10.0.0.0/33' is not a valid IP subnet."},
		{in: "10.0.0.1", ver: 4, err: "'10.0.0.1' is not a valid IP subnet"},
		{in: "garbage", ver: 4, err: "'garbage' is not a valid IP subnet"},
		{in: "", ver: 4, err: "'' is not a valid IP subnet"},
		{in: "10.0.0.0/-1", ver: 4, err: "'10.0.0.0/-1' is not a valid IP subnet"},
		{in: "fe80::/64%eth0", ver: 6, err: "'fe80::/64%eth0' is not a valid IP subnet"},
		{in: "10.0.0.0/24", ver: 6, err: "cidr '10.0.0.0/24' does not match the ip_version '6'",
			message: "Invalid input for operation: cidr '10.0.0.0/24' does not match the ip_version '6'."},
		{in: "2001:db8::/64", ver: 4, err: "cidr '2001:db8::/64' does not match the ip_version '4'"},
		{in: "0.0.0.0/0", ver: 4, err: "0 is not allowed as CIDR prefix length",
			message: "Invalid input for operation: 0 is not allowed as CIDR prefix length."},
		{in: "10.0.0.0/0", ver: 4, err: "0 is not allowed as CIDR prefix length"},
		{in: "::/0", ver: 6, err: "0 is not allowed as CIDR prefix length"},
		{in: "2001:db8::/0", ver: 6, err: "0 is not allowed as CIDR prefix length"},
		{in: "::/64", ver: 6, err: "Invalid CIDR ::/64 for IP version 6"},
		{in: "::1/64", ver: 6, err: "Invalid CIDR ::1/64 for IP version 6"},
		{in: "::/128", ver: 6, err: "Invalid CIDR ::/128 for IP version 6"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseCIDR(tt.in, tt.ver)
			checkErr(t, err, tt.err, "InvalidInput", http.StatusBadRequest)
			if tt.err != "" {
				if tt.message != "" && err.(Error).Message() != tt.message {
					t.Fatalf("Message() = %q, want %q", err.(Error).Message(), tt.message)
				}
				return
			}
			if p.String() != tt.want {
				t.Fatalf("got %s, want %s", p, tt.want)
			}
		})
	}
}

func TestParseIP(t *testing.T) {
	tests := []struct {
		in, attr string
		ver      int
		err      string
	}{
		{"10.0.0.1", "ip_address", 4, ""},
		{"2001:db8::1", "ip_address", 6, ""},
		{"2001:db8::1", "ip_address", 0, ""},
		{"10.0.0.256", "ip_address", 4, "'10.0.0.256' is not a valid IP address"},
		{"fe80::1%eth0", "gateway_ip", 6, "'fe80::1%eth0' is not a valid IP address"},
		{"10.0.0.1", "gateway_ip", 6, "gateway_ip '10.0.0.1' does not match the ip_version '6'"},
	}
	for _, tt := range tests {
		a, err := ParseIP(tt.in, tt.attr, tt.ver)
		checkErr(t, err, tt.err, "InvalidInput", 400)
		if tt.err == "" && a != ma(tt.in) {
			t.Errorf("ParseIP(%q) = %s", tt.in, a)
		}
	}
	_, err := ParseIP("x", "ip_address", 4)
	if got := err.(Error).Message(); got != "Invalid input for ip_address. Reason: 'x' is not a valid IP address." {
		t.Errorf("Message() = %q", got)
	}
}

func TestValidateSubnetForDHCP(t *testing.T) {
	const (
		prefixMsg = "Subnet has a prefix length that is incompatible with DHCP service enabled"
		mcastMsg  = "Multicast IP subnet is not supported if enable_dhcp is True"
		loopMsg   = "Loopback IP subnet is not supported if enable_dhcp is True"
		zeroMsg   = "First IP '0.0.0.0' of network is not supported if enable_dhcp is True."
	)
	tests := []struct {
		cidr, err string
	}{
		{"10.0.0.0/24", ""},
		{"10.0.0.0/30", ""},
		{"10.0.0.0/31", prefixMsg},
		{"10.0.0.1/32", prefixMsg},
		{"2001:db8::/64", ""},
		{"2001:db8::/126", ""},
		{"2001:db8::/127", prefixMsg},
		{"2001:db8::1/128", prefixMsg},
		{"224.0.0.0/24", mcastMsg},
		{"239.1.0.0/16", mcastMsg},
		{"ff00::/64", mcastMsg},
		{"127.0.0.0/8", loopMsg},
		{"127.0.0.0/24", loopMsg},
		{"::1/126", ""}, // network ::0 of ::/126 is not loopback itself
		{"0.0.0.0/8", zeroMsg},
		{"0.0.0.0/24", zeroMsg},
		{"1.0.0.0/24", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			checkErr(t, ValidateSubnetForDHCP(mp(tt.cidr)), tt.err, "InvalidInput", 400)
		})
	}
}

func TestLastAddr(t *testing.T) {
	tests := []struct{ cidr, want string }{
		{"10.0.0.0/24", "10.0.0.255"},
		{"10.0.0.0/20", "10.0.15.255"},
		{"10.0.0.0/7", "11.255.255.255"},
		{"10.0.0.7/32", "10.0.0.7"},
		{"10.0.0.77/24", "10.0.0.255"},
		{"2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff"},
		{"2001:db8::/61", "2001:db8:0:7:ffff:ffff:ffff:ffff"},
		{"2001:db8::1/128", "2001:db8::1"},
	}
	for _, tt := range tests {
		if got := LastAddr(mp(tt.cidr)); got != ma(tt.want) {
			t.Errorf("LastAddr(%s) = %s, want %s", tt.cidr, got, tt.want)
		}
	}
	if LastAddr(netip.Prefix{}).IsValid() {
		t.Error("LastAddr(zero) should be invalid")
	}
}

func TestUsableRangeAndDefaultGateway(t *testing.T) {
	tests := []struct {
		cidr, first, last, gw string
	}{
		{"10.0.0.0/24", "10.0.0.1", "10.0.0.254", "10.0.0.1"},
		{"10.0.0.9/24", "10.0.0.1", "10.0.0.254", "10.0.0.1"},
		{"10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.1"},
		{"10.0.0.0/31", "10.0.0.0", "10.0.0.1", "10.0.0.1"},
		{"10.0.0.5/32", "10.0.0.5", "10.0.0.5", ""},
		{"2001:db8::/64", "2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff", "2001:db8::1"},
		{"2001:db8::/126", "2001:db8::1", "2001:db8::3", "2001:db8::1"},
		{"2001:db8::/127", "2001:db8::1", "2001:db8::1", "2001:db8::1"},
		{"2001:db8::5/128", "2001:db8::5", "2001:db8::5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			f, l := UsableRange(mp(tt.cidr))
			if f != ma(tt.first) || l != ma(tt.last) {
				t.Errorf("UsableRange = %s..%s, want %s..%s", f, l, tt.first, tt.last)
			}
			gw := DefaultGateway(mp(tt.cidr))
			if tt.gw == "" {
				if gw.IsValid() {
					t.Errorf("DefaultGateway = %s, want none", gw)
				}
			} else if gw != ma(tt.gw) {
				t.Errorf("DefaultGateway = %s, want %s", gw, tt.gw)
			}
			if gw.IsValid() {
				if err := ValidateGateway(mp(tt.cidr), gw); err != nil {
					t.Errorf("default gateway rejected: %v", err)
				}
			}
		})
	}
	if f, l := UsableRange(netip.Prefix{}); f.IsValid() || l.IsValid() {
		t.Error("UsableRange(zero) should be invalid")
	}
	if DefaultGateway(netip.Prefix{}).IsValid() {
		t.Error("DefaultGateway(zero) should be invalid")
	}
}

func TestValidateGateway(t *testing.T) {
	const notValid = "Gateway is not valid on subnet"
	tests := []struct {
		cidr, gw, err, message string
	}{
		{"10.0.0.0/24", "10.0.0.1", "", ""},
		{"10.0.0.0/24", "10.0.0.254", "", ""},
		{"10.0.0.0/24", "10.0.0.0", notValid, "Invalid input for operation: Gateway is not valid on subnet."},
		{"10.0.0.0/24", "10.0.0.255", notValid, ""},
		{"10.0.0.0/24", "192.168.0.1", "", ""}, // outside: on-link, allowed
		{"10.0.0.0/24", "10.0.1.0", "", ""},
		{"10.0.0.0/30", "10.0.0.3", notValid, ""},
		{"10.0.0.0/31", "10.0.0.0", "", ""},
		{"10.0.0.0/31", "10.0.0.1", "", ""},
		{"2001:db8::/64", "2001:db8::1", "", ""},
		{"2001:db8::/64", "2001:db8::", notValid, ""},
		{"2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", "", ""}, // no IPv6 broadcast
		{"2001:db8::/64", "2001:db9::1", "", ""},
		{"10.0.0.0/24", "2001:db8::1", "gateway_ip '2001:db8::1' does not match the ip_version '4'", ""},
		{"2001:db8::/64", "10.0.0.1", "gateway_ip '10.0.0.1' does not match the ip_version '6'", ""},
		{"2001:db8::/64", "::ffff:10.0.0.1", "", ""}, // mapped = IPv6, outside
		{"10.0.0.0/24", "::ffff:10.0.0.1", "gateway_ip '::ffff:10.0.0.1' does not match the ip_version '4'", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cidr+"/"+tt.gw, func(t *testing.T) {
			err := ValidateGateway(mp(tt.cidr), ma(tt.gw))
			checkErr(t, err, tt.err, "InvalidInput", 400)
			if tt.message != "" && err.(Error).Message() != tt.message {
				t.Errorf("Message() = %q", err.(Error).Message())
			}
		})
	}
	checkErr(t, ValidateGateway(mp("10.0.0.0/24"), netip.Addr{}), "'invalid IP' is not a valid IP address", "InvalidInput", 400)
}

func TestValidateFixedIP(t *testing.T) {
	tests := []struct {
		cidr, ip  string
		ok, okStr bool
	}{
		{"10.0.0.0/24", "10.0.0.5", true, true},
		{"10.0.0.0/24", "10.0.0.1", true, true},
		{"10.0.0.0/24", "10.0.0.254", true, true},
		{"10.0.0.0/24", "10.0.0.0", false, false},
		{"10.0.0.0/24", "10.0.0.255", false, false},
		{"10.0.0.0/24", "10.0.1.5", false, false},
		{"10.0.0.0/30", "10.0.0.3", false, false},
		{"10.0.0.0/31", "10.0.0.0", true, true},
		{"10.0.0.0/31", "10.0.0.1", true, true},
		{"10.0.0.7/32", "10.0.0.7", true, true},
		{"10.0.0.0/24", "2001:db8::5", false, false},
		{"2001:db8::/64", "2001:db8::5", true, true},
		{"2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", true, true},
		{"2001:db8::/64", "2001:db8::", true, false},
		{"2001:db8::5/128", "2001:db8::5", true, true},
		{"2001:db8::/64", "2001:db8:1::5", false, false},
		{"2001:db8::/64", "10.0.0.5", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.cidr+"/"+tt.ip, func(t *testing.T) {
			msg := "IP address " + tt.ip + " is not a valid IP for the specified subnet."
			want, wantStrict := msg, msg
			if tt.ok {
				want = ""
			}
			if tt.okStr {
				wantStrict = ""
			}
			checkErr(t, ValidateFixedIP(mp(tt.cidr), ma(tt.ip)), want, "InvalidIpForSubnet", 400)
			checkErr(t, ValidateFixedIPStrict(mp(tt.cidr), ma(tt.ip)), wantStrict, "InvalidIpForSubnet", 400)
		})
	}
}

func TestContainsAndPrefixSize(t *testing.T) {
	if !Contains(mp("10.0.0.0/24"), ma("10.0.0.9")) || Contains(mp("10.0.0.0/24"), ma("10.0.1.9")) ||
		Contains(mp("10.0.0.0/24"), ma("::ffff:10.0.0.9")) || Contains(netip.Prefix{}, ma("10.0.0.1")) {
		t.Error("Contains wrong")
	}
	if PrefixSize(mp("10.0.0.0/24")).Int64() != 256 {
		t.Error("PrefixSize /24")
	}
	if PrefixSize(mp("2001:db8::/64")).Cmp(new(big.Int).Lsh(big.NewInt(1), 64)) != 0 {
		t.Error("PrefixSize /64")
	}
	if PrefixSize(netip.Prefix{}).Sign() != 0 {
		t.Error("PrefixSize zero")
	}
}
