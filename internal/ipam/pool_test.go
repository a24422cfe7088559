package ipam

import (
	"encoding/json"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"testing"
)

func pool(s, e string) Pool { return Pool{Start: ma(s), End: ma(e)} }

func TestPoolBasics(t *testing.T) {
	p := pool("10.0.0.2", "10.0.0.254")
	if p.String() != "10.0.0.2-10.0.0.254" {
		t.Errorf("String = %q", p.String())
	}
	if !p.Valid() || !p.Contains(ma("10.0.0.2")) || !p.Contains(ma("10.0.0.254")) ||
		p.Contains(ma("10.0.0.1")) || p.Contains(ma("10.0.0.255")) || p.Contains(ma("::ffff:10.0.0.9")) {
		t.Error("Contains wrong")
	}
	if p.Size().Int64() != 253 {
		t.Errorf("Size = %s", p.Size())
	}
	for _, bad := range []Pool{
		{},
		{Start: ma("10.0.0.5"), End: ma("10.0.0.4")},
		{Start: ma("10.0.0.5"), End: ma("2001:db8::1")},
		{Start: ma("fe80::1%eth0"), End: ma("fe80::2")},
	} {
		if bad.Valid() || bad.Contains(bad.Start) || bad.Size().Sign() != 0 {
			t.Errorf("%v should be invalid", bad)
		}
	}

	b, err := json.Marshal([]Pool{p})
	if err != nil || string(b) != `[{"start":"10.0.0.2","end":"10.0.0.254"}]` {
		t.Errorf("json = %s, %v", b, err)
	}
	var back []Pool
	if err := json.Unmarshal(b, &back); err != nil || back[0] != p {
		t.Errorf("unmarshal = %v, %v", back, err)
	}
}

func TestParsePool(t *testing.T) {
	p, err := ParsePool("10.0.0.2", "10.0.0.9")
	if err != nil || p != pool("10.0.0.2", "10.0.0.9") {
		t.Fatalf("ParsePool = %v, %v", p, err)
	}
	for _, tt := range [][2]string{
		{"10.0.0.9", "10.0.0.2"},
		{"10.0.0.x", "10.0.0.9"},
		{"10.0.0.2", ""},
		{"10.0.0.2", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::9"},
	} {
		_, err := ParsePool(tt[0], tt[1])
		checkErr(t, err, "The allocation pool "+tt[0]+"-"+tt[1]+" is not valid.", "InvalidAllocationPool", 400)
	}
}

func TestDefaultPools(t *testing.T) {
	tests := []struct {
		cidr string
		gw   *netip.Addr
		want []Pool
	}{
		{"10.0.0.0/24", addrPtr("10.0.0.1"), []Pool{pool("10.0.0.2", "10.0.0.254")}},
		{"10.0.0.0/24", nil, []Pool{pool("10.0.0.1", "10.0.0.254")}},
		{"10.0.0.0/24", &netip.Addr{}, []Pool{pool("10.0.0.1", "10.0.0.254")}},
		{"10.0.0.0/24", addrPtr("10.0.0.100"), []Pool{pool("10.0.0.1", "10.0.0.99"), pool("10.0.0.101", "10.0.0.254")}},
		{"10.0.0.0/24", addrPtr("10.0.0.254"), []Pool{pool("10.0.0.1", "10.0.0.253")}},
		{"10.0.0.0/24", addrPtr("192.168.0.1"), []Pool{pool("10.0.0.1", "10.0.0.254")}},
		{"10.0.0.0/24", addrPtr("10.0.0.0"), []Pool{pool("10.0.0.1", "10.0.0.254")}},
		{"10.0.0.0/30", addrPtr("10.0.0.1"), []Pool{pool("10.0.0.2", "10.0.0.2")}},
		{"10.0.0.0/31", addrPtr("10.0.0.0"), []Pool{pool("10.0.0.1", "10.0.0.1")}},
		{"10.0.0.0/31", nil, []Pool{pool("10.0.0.0", "10.0.0.1")}},
		{"10.0.0.5/32", addrPtr("10.0.0.5"), []Pool{}},
		{"10.0.0.5/32", nil, []Pool{pool("10.0.0.5", "10.0.0.5")}},
		{"2001:db8::/64", addrPtr("2001:db8::1"), []Pool{pool("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff")}},
		{"2001:db8::/127", addrPtr("2001:db8::1"), []Pool{}},
		{"2001:db8::/64", addrPtr("10.0.0.1"), []Pool{pool("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff")}},
	}
	for _, tt := range tests {
		got := DefaultPools(mp(tt.cidr), tt.gw)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DefaultPools(%s, %v) = %v, want %v", tt.cidr, tt.gw, got, tt.want)
		}
		if got == nil {
			t.Errorf("DefaultPools(%s) returned nil", tt.cidr)
		}
		if err := ValidatePools(mp(tt.cidr), got, tt.gw); err != nil {
			t.Errorf("default pools of %s rejected: %v", tt.cidr, err)
		}
	}
	if b, _ := json.Marshal(DefaultPools(mp("10.0.0.5/32"), addrPtr("10.0.0.5"))); string(b) != "[]" {
		t.Errorf("empty pools json = %s", b)
	}
	if got := DefaultPools(netip.Prefix{}, nil); got == nil || len(got) != 0 {
		t.Errorf("DefaultPools(zero) = %v", got)
	}
}

func TestValidatePools(t *testing.T) {
	const (
		invalid  = "InvalidAllocationPool"
		oob      = "OutOfBoundsAllocationPool"
		overlap  = "OverlappingAllocationPools"
		conflict = "GatewayConflictWithAllocationPools"
	)
	tests := []struct {
		name   string
		cidr   string
		pools  []Pool
		gw     *netip.Addr
		err    string
		typ    string
		status int
	}{
		{name: "ok", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.2", "10.0.0.254")}, gw: addrPtr("10.0.0.1")},
		{name: "none", cidr: "10.0.0.0/24", pools: nil, gw: addrPtr("10.0.0.1")},
		{name: "two ok", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.100", "10.0.0.200"), pool("10.0.0.2", "10.0.0.99")}},
		{name: "single address", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.9", "10.0.0.9")}},
		{name: "whole usable", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.1", "10.0.0.254")}},
		{name: "gw outside", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.1", "10.0.0.254")}, gw: addrPtr("10.0.1.1")},
		{name: "v6 last usable", cidr: "2001:db8::/64", pools: []Pool{pool("2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff")}},
		{name: "/31 all", cidr: "10.0.0.0/31", pools: []Pool{pool("10.0.0.0", "10.0.0.1")}},

		{name: "start>end", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.9", "10.0.0.2")},
			err: "The allocation pool 10.0.0.9-10.0.0.2 is not valid.", typ: invalid, status: 400},
		{name: "version", cidr: "10.0.0.0/24", pools: []Pool{pool("2001:db8::2", "2001:db8::9")},
			err: "The allocation pool 2001:db8::2-2001:db8::9 is not valid.", typ: invalid, status: 400},
		{name: "mixed", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.2", "2001:db8::9")},
			err: "The allocation pool 10.0.0.2-2001:db8::9 is not valid.", typ: invalid, status: 400},
		{name: "mapped", cidr: "10.0.0.0/24", pools: []Pool{pool("::ffff:10.0.0.2", "::ffff:10.0.0.9")},
			err: "The allocation pool ::ffff:10.0.0.2-::ffff:10.0.0.9 is not valid.", typ: invalid, status: 400},
		{name: "zero", cidr: "10.0.0.0/24", pools: []Pool{{}},
			err: "The allocation pool invalid IP-invalid IP is not valid.", typ: invalid, status: 400},
		{name: "network", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.0", "10.0.0.9")},
			err: "The allocation pool 10.0.0.0-10.0.0.9 spans beyond the subnet cidr 10.0.0.0/24.", typ: oob, status: 400},
		{name: "broadcast", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.2", "10.0.0.255")},
			err: "The allocation pool 10.0.0.2-10.0.0.255 spans beyond the subnet cidr 10.0.0.0/24.", typ: oob, status: 400},
		{name: "beyond", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.2", "10.0.1.9")},
			err: "The allocation pool 10.0.0.2-10.0.1.9 spans beyond the subnet cidr 10.0.0.0/24.", typ: oob, status: 400},
		{name: "below", cidr: "10.0.1.0/24", pools: []Pool{pool("10.0.0.2", "10.0.1.9")},
			err: "The allocation pool 10.0.0.2-10.0.1.9 spans beyond the subnet cidr 10.0.1.0/24.", typ: oob, status: 400},
		{name: "v6 anycast", cidr: "2001:db8::/64", pools: []Pool{pool("2001:db8::", "2001:db8::9")},
			err: "The allocation pool 2001:db8::-2001:db8::9 spans beyond the subnet cidr 2001:db8::/64.", typ: oob, status: 400},
		{name: "first pool checked first", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.2", "10.0.1.9"), pool("10.0.0.9", "10.0.0.2")},
			err: "The allocation pool 10.0.0.2-10.0.1.9 spans beyond the subnet cidr 10.0.0.0/24.", typ: oob, status: 400},
		{name: "overlap", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.50", "10.0.0.200"), pool("10.0.0.2", "10.0.0.50")},
			err: "Found overlapping allocation pools: 10.0.0.2-10.0.0.50 10.0.0.50-10.0.0.200 for subnet 10.0.0.0/24.", typ: overlap, status: 409},
		{name: "contained", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.2", "10.0.0.200"), pool("10.0.0.210", "10.0.0.220"), pool("10.0.0.20", "10.0.0.30")},
			err: "Found overlapping allocation pools: 10.0.0.2-10.0.0.200 10.0.0.20-10.0.0.30 for subnet 10.0.0.0/24.", typ: overlap, status: 409},
		{name: "duplicate", cidr: "2001:db8::/64", pools: []Pool{pool("2001:db8::2", "2001:db8::9"), pool("2001:db8::2", "2001:db8::9")},
			err: "Found overlapping allocation pools: 2001:db8::2-2001:db8::9 2001:db8::2-2001:db8::9 for subnet 2001:db8::/64.", typ: overlap, status: 409},
		{name: "gw conflict", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.1", "10.0.0.254")}, gw: addrPtr("10.0.0.1"),
			err: "Gateway ip 10.0.0.1 conflicts with allocation pool 10.0.0.1-10.0.0.254.", typ: conflict, status: 409},
		{name: "gw conflict second", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.2", "10.0.0.9"), pool("10.0.0.100", "10.0.0.200")}, gw: addrPtr("10.0.0.200"),
			err: "Gateway ip 10.0.0.200 conflicts with allocation pool 10.0.0.100-10.0.0.200.", typ: conflict, status: 409},
		{name: "overlap before gw", cidr: "10.0.0.0/24", pools: []Pool{pool("10.0.0.1", "10.0.0.9"), pool("10.0.0.9", "10.0.0.20")}, gw: addrPtr("10.0.0.1"),
			err: "Found overlapping allocation pools: 10.0.0.1-10.0.0.9 10.0.0.9-10.0.0.20 for subnet 10.0.0.0/24.", typ: overlap, status: 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePools(mp(tt.cidr), tt.pools, tt.gw)
			checkErr(t, err, tt.err, tt.typ, tt.status)
			if err != nil && err.(Error).Message() != err.Error() {
				t.Errorf("Message() %q != Error()", err.(Error).Message())
			}
		})
	}
}

func TestInPoolsCount(t *testing.T) {
	pools := []Pool{pool("10.0.0.2", "10.0.0.9"), pool("10.0.0.20", "10.0.0.20")}
	for a, want := range map[string]bool{"10.0.0.2": true, "10.0.0.9": true, "10.0.0.20": true, "10.0.0.10": false, "10.0.0.1": false, "2001:db8::2": false} {
		if InPools(pools, ma(a)) != want {
			t.Errorf("InPools(%s) != %v", a, want)
		}
	}
	if Count(pools).Int64() != 9 || TotalAddresses(pools) != 9 {
		t.Errorf("Count = %s / %d", Count(pools), TotalAddresses(pools))
	}
	if TotalAddresses(nil) != 0 {
		t.Error("TotalAddresses(nil) != 0")
	}
	v6 := DefaultPools(mp("2001:db8::/64"), nil) // 2^64-1 addresses
	if TotalAddresses(v6) != math.MaxUint64 || Count(v6).Cmp(new(big.Int).SetUint64(math.MaxUint64)) != 0 {
		t.Errorf("v6 /64 count = %s", Count(v6))
	}
	two := append(v6, DefaultPools(mp("2001:db8:0:1::/64"), nil)...)
	want := new(big.Int).Lsh(big.NewInt(1), 65)
	want.Sub(want, big.NewInt(2))
	if Count(two).Cmp(want) != 0 || TotalAddresses(two) != math.MaxUint64 {
		t.Errorf("two /64 count = %s, total = %d", Count(two), TotalAddresses(two))
	}
	if b, _ := json.Marshal(map[string]*big.Int{"total_ips": Count(two)}); string(b) != `{"total_ips":36893488147419103230}` {
		t.Errorf("json = %s", b)
	}
}

func TestErrorTypes(t *testing.T) {
	tests := []struct {
		err    Error
		typ    string
		status int
	}{
		{&InvalidInputError{Reason: "x"}, "InvalidInput", 400},
		{&InvalidAllocationPoolError{}, "InvalidAllocationPool", 400},
		{&OutOfBoundsAllocationPoolError{}, "OutOfBoundsAllocationPool", 400},
		{&OverlappingAllocationPoolsError{}, "OverlappingAllocationPools", 409},
		{&GatewayConflictWithAllocationPoolsError{}, "GatewayConflictWithAllocationPools", 409},
		{&InvalidIPForSubnetError{}, "InvalidIpForSubnet", 400},
	}
	for _, tt := range tests {
		if tt.err.Type() != tt.typ || tt.err.Status() != tt.status {
			t.Errorf("%T: %s/%d", tt.err, tt.err.Type(), tt.err.Status())
		}
	}
}
