package agent

import (
	"fmt"
	"testing"

	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestSplitStatus(t *testing.T) {
	rep := &syncproto.StatusReport{Ports: map[string]string{}, FloatingIPs: map[string]string{"f1": "ACTIVE"}, Routers: map[string]string{"r1": "ACTIVE"}}
	for i := range 1001 {
		rep.Ports[fmt.Sprintf("p%04d", i)] = "ACTIVE"
	}
	parts := splitStatus(rep, 500)
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	seen := map[string]bool{}
	for i, p := range parts {
		n := len(p.Ports) + len(p.FloatingIPs) + len(p.Routers)
		if n > 500 || (i < 2 && n != 500) {
			t.Errorf("part %d has %d objects", i, n)
		}
		for _, m := range []map[string]string{p.Ports, p.FloatingIPs, p.Routers} {
			for id := range m {
				if seen[id] {
					t.Errorf("%s twice", id)
				}
				seen[id] = true
			}
		}
	}
	if len(seen) != 1003 {
		t.Errorf("%d objects after the split, want 1003", len(seen))
	}
	if got := splitStatus(&syncproto.StatusReport{Ports: map[string]string{"p": "DOWN"}}, 500); len(got) != 1 || got[0].Ports["p"] != "DOWN" {
		t.Errorf("small report split into %+v", got)
	}
}

func TestTapNews(t *testing.T) {
	taps := map[string]int{"tapold": 7}
	upd := func(name string, master int, typ uint16) netlink.LinkUpdate {
		u := netlink.LinkUpdate{Link: &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, MasterIndex: master}}}
		u.Header.Type = typ
		return u
	}
	for i, c := range []struct {
		u    netlink.LinkUpdate
		news bool
	}{
		{upd("tapold", 7, unix.RTM_NEWLINK), false}, // known, same bridge
		{upd("tapnew", 0, unix.RTM_NEWLINK), true},  // appeared
		{upd("tapnew", 0, unix.RTM_NEWLINK), false}, // again: no news
		{upd("tapnew", 9, unix.RTM_NEWLINK), true},  // joined a bridge
		{upd("tapold", 0, unix.RTM_NEWLINK), true},  // left its bridge
		{upd("tapold", 0, unix.RTM_DELLINK), true},  // went
		{upd("qg-x", 0, unix.RTM_NEWLINK), false},   // not a tap
	} {
		if got := tapNews(taps, c.u); got != c.news {
			t.Errorf("update %d (%s): news %v, want %v", i, c.u.Attrs().Name, got, c.news)
		}
	}
}
