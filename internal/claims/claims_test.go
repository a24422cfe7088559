package claims

import "testing"

// The names are stored in etcd: a change would orphan existing claims.
func TestNamesAreStable(t *testing.T) {
	for got, want := range map[string]string{
		IP("s1"):                         "ip:s1",
		MAC("n1"):                        "mac:n1",
		FIPFixed("e1"):                   "fipfixed:e1",
		FIPFixedMember("10.0.0.5", "p1"): "10.0.0.5@p1",
		Segment("vlan", "phys"):          "seg:vlan:phys",
		Segment("flat", "phys"):          "seg:flat",
		Segment("local", ""):             "seg:local",
		Segment("vxlan", ""):             "seg:vxlan",
		SegmentMember("vlan", "p", 7):    "7",
		SegmentMember("flat", "p", 0):    "p",
		SegmentMember("local", "", 0):    "-",
		DHCPPort("n1"):                   "dhcpport:n1",
		FGMember("h@x", "n1"):            "h@x@n1",
		AgentMember("L3 agent", "h"):     "L3 agent@h",
		HAPort("r1"):                     "haport:r1",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if h, n := SplitFGMember(FGMember("h@x", "n1")); h != "h@x" || n != "n1" {
		t.Errorf("SplitFGMember: %q %q", h, n)
	}
}
