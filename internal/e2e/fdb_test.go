package e2e_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// wantFDB derives, from the API's ports of network n, what each host's
// vxlan-<vni> should hold with l2population: for every remote host with
// a port on the network a flood entry (00:00:00:00:00:00 dst VTEP), and
// for every remote port its MAC towards its host's VTEP (device's own
// table) plus a static bridge entry. A host with no port on the network
// has no VXLAN device (absent from the map).
func wantFDB(b *testbed.Bed, n testbed.Network) map[string][]string {
	b.T.Helper()
	ports := b.Ports("network_id=" + n.ID)
	hosts := map[string]bool{}
	for _, p := range ports {
		if p.HostID != "" {
			hosts[p.HostID] = true
		}
	}
	want := map[string][]string{}
	for h := range hosts {
		var es []string
		for _, p := range ports {
			if p.HostID == "" || p.HostID == h {
				continue
			}
			vtep := b.TunnelIP(p.HostID)
			es = append(es, "00:00:00:00:00:00 dst "+vtep.String(), p.MAC+" dst "+vtep.String(), p.MAC+" master")
		}
		slices.Sort(es)
		want[h] = slices.Compact(es)
	}
	return want
}

// readFDB renders host's vxlan-<vni> FDB like wantFDB (the device's own
// MAC and dynamic entries left out); found is false without the device.
func readFDB(b *testbed.Bed, host string, n testbed.Network) (es []string, found bool, err error) {
	ns := b.NS(host)
	l, found, err := probe.Link(ns, n.VXLAN())
	if err != nil || !found {
		return nil, found, err
	}
	all, err := probe.FDB(ns, n.VXLAN())
	if err != nil {
		return nil, true, err
	}
	own := l.Attrs().HardwareAddr.String()
	for _, e := range all {
		switch {
		case e.Self && e.Dst.IsValid():
			es = append(es, e.MAC+" dst "+e.Dst.String())
		case !e.Self && e.MAC != own && e.Master != 0:
			es = append(es, e.MAC+" master")
		}
	}
	slices.Sort(es)
	return es, true, nil
}

// checkFDB compares every host's FDB with wantFDB.
func checkFDB(b *testbed.Bed, n testbed.Network) error {
	want := wantFDB(b, n)
	var errs []error
	for _, h := range b.Hosts() {
		got, found, err := readFDB(b, h.Name, n)
		if err != nil {
			return err
		}
		w, ok := want[h.Name]
		switch {
		case !ok && found:
			errs = append(errs, fmt.Errorf("%s: has %s but no port on %s", h.Name, n.VXLAN(), n.Name))
		case ok && !found:
			errs = append(errs, fmt.Errorf("%s: no %s", h.Name, n.VXLAN()))
		case ok && !slices.Equal(got, w):
			errs = append(errs, fmt.Errorf("%s %s:\n  have %s\n  want %s", h.Name, n.VXLAN(), strings.Join(got, ", "), strings.Join(w, ", ")))
		}
	}
	return errors.Join(errs...)
}

// TestFDB: each host's VXLAN FDB lists exactly the remote hosts and
// ports of the network (network1 included where the DHCP port is), and
// deleting the last port of a host takes its VTEP out of every other
// host's FDB.
func TestFDB(t *testing.T) {
	b := testbed.Up(t, 3, testbed.Options{})
	n := b.CreateNetwork("net1", "192.168.1.0/24", nil)
	// DHCP on network1, so that network1 is one of the network's hosts.
	b.ScheduleDHCP(n.ID, "network1")
	vms := map[string]netip.Addr{}
	for i, host := range []string{"compute1", "compute2", "compute3"} {
		in := b.Boot(fmt.Sprintf("vm%d", i+1), "net1", host)
		vms[host] = testbed.Addr(in)
	}
	testbed.Eventually(t, 20*time.Second, 100*time.Millisecond, "FDB", func() error { return checkFDB(b, n) })
	want := wantFDB(b, n)
	for _, h := range b.Hosts() {
		if len(want[h.Name]) != 3*3 { // 3 remote hosts, 3 ports
			t.Errorf("%s: want entries for 3 remote hosts with one port each, have %v", h.Name, want[h.Name])
		}
		t.Logf("%s %s: %s", h.Name, n.VXLAN(), strings.Join(want[h.Name], ", "))
	}

	// Deleting compute2's last port takes compute2 out of the others'
	// flood lists and FDBs, and its VXLAN device goes.
	victim := "compute2"
	b.Remove("vm2")
	gone := b.TunnelIP(victim).String()
	testbed.Eventually(t, 20*time.Second, 100*time.Millisecond, "FDB after removing vm2 on compute2", func() error {
		for _, h := range b.Hosts() {
			got, found, err := readFDB(b, h.Name, n)
			if err != nil {
				return err
			}
			if h.Name == victim && found {
				return fmt.Errorf("%s still has %s", h.Name, n.VXLAN())
			}
			for _, e := range got {
				if strings.HasSuffix(e, " dst "+gone) {
					return fmt.Errorf("%s still has %q", h.Name, e)
				}
			}
		}
		return checkFDB(b, n)
	})
	b.MustPing("vm1", vms["compute3"])
	b.MustPing("vm3", vms["compute1"])
}
