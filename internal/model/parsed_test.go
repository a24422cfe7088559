package model

import "testing"

func TestValidateRefusesUnparsableStoredValues(t *testing.T) {
	bad, good := "10.0.0.300", "10.0.0.3"
	cases := []struct {
		name string
		v    Validator
		ok   bool
	}{
		{"subnet", &Subnet{CIDR: "10.0.0.0/24", GatewayIP: &good}, true},
		{"subnet cidr", &Subnet{CIDR: "10.0.0.0/99"}, false},
		{"subnet gateway", &Subnet{CIDR: "10.0.0.0/24", GatewayIP: &bad}, false},
		{"port", &Port{FixedIPs: []FixedIP{{IPAddress: good}}}, true},
		{"port fixed ip", &Port{FixedIPs: []FixedIP{{IPAddress: bad}}}, false},
		{"router", &Router{Routes: []Route{{Destination: "0.0.0.0/0", NextHop: good}}}, true},
		{"router nexthop", &Router{Routes: []Route{{Destination: "0.0.0.0/0", NextHop: bad}}}, false},
		{"router destination", &Router{Routes: []Route{{Destination: "x", NextHop: good}}}, false},
		{"router gateway", &Router{ExternalGatewayInfo: &GatewayInfo{ExternalFixedIPs: []FixedIP{{IPAddress: bad}}}}, false},
		{"floating ip", &FloatingIP{FloatingIPAddress: good, FixedIPAddress: &good}, true},
		{"floating ip address", &FloatingIP{FloatingIPAddress: bad}, false},
		{"floating ip fixed", &FloatingIP{FloatingIPAddress: good, FixedIPAddress: &bad}, false},
	}
	for _, tc := range cases {
		if err := tc.v.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	s := &Subnet{CIDR: "10.0.0.0/24", GatewayIP: &good}
	if s.Prefix().String() != "10.0.0.0/24" {
		t.Errorf("Prefix = %v", s.Prefix())
	}
	if g, ok := s.Gateway(); !ok || g.String() != good {
		t.Errorf("Gateway = %v %v", g, ok)
	}
}
