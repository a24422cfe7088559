package ipam

import "testing"

func TestEUI64(t *testing.T) {
	tests := []struct{ prefix, mac, want, err string }{
		{"2001:db8::/64", "fa:16:3e:01:02:03", "2001:db8::f816:3eff:fe01:203", ""},
		{"2001:db8::/64", "00:16:3e:33:44:55", "2001:db8::216:3eff:fe33:4455", ""},
		{"2001:db8::/64", "02:00:00:00:00:01", "2001:db8::ff:fe00:1", ""},
		{"2001:db8:1:2::77/64", "FA-16-3E-01-02-03", "2001:db8:1:2:f816:3eff:fe01:203", ""},
		{"2001:db8::/48", "fa:16:3e:01:02:03", "2001:db8::f816:3eff:fe01:203", ""},
		{"2001:db8::/65", "fa:16:3e:01:02:03", "", "Invalid CIDR 2001:db8::/65 for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"},
		{"10.0.0.0/24", "fa:16:3e:01:02:03", "", "Unable to generate IP address by EUI64 for IPv4 prefix"},
		{"2001:db8::/64", "fa:16:3e:01:02", "", "'fa:16:3e:01:02' is not a valid MAC address"},
	}
	for _, tt := range tests {
		t.Run(tt.prefix+"/"+tt.mac, func(t *testing.T) {
			got, err := EUI64(mp(tt.prefix), tt.mac)
			checkErr(t, err, tt.err, "InvalidInput", 400)
			if tt.err == "" {
				if got != ma(tt.want) {
					t.Errorf("got %s, want %s", got, tt.want)
				}
				if !Contains(mp(tt.prefix), got) {
					t.Errorf("%s not in %s", got, tt.prefix)
				}
			}
		})
	}
}
