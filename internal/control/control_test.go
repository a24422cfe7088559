package control

import "testing"

// Upstream's DHCP port device_id is "dhcp" + uuid5(NAMESPACE_DNS, host) +
// "-" + network id (the expected value computed with Python's uuid).
func TestDHCPDeviceIDIsUpstreams(t *testing.T) {
	c := New(Options{})
	want := "dhcpa4759065-eb4f-5a46-96b0-019ee60cabef-net1"
	for range 2 { // computed, then cached
		if got := c.dhcpDeviceID("compute-1", "net1"); got != want {
			t.Fatalf("dhcpDeviceID = %q, want %q", got, want)
		}
	}
	// The cache belongs to the instance: another one starts empty.
	if _, ok := New(Options{}).hostUUIDs.Load("compute-1"); ok {
		t.Error("host uuid cache shared between instances")
	}
}
