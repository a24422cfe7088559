package api_test

import (
	"fmt"
	"sync"
	"testing"
)

// The network node benchmark saw two of every thousand floating IP
// creates (eight in flight, once per fixed IP) answered 409 "that fixed
// IP already has a floating IP". The cause was the ports, not the
// floating IPs: a port asking for several addresses of one subnet could
// be given the same address twice, so the benchmark asked twice for one
// fixed IP. These tests pin both halves.

// TestPortSeveralAddressesOfOneSubnet: every address a port is given is
// distinct, also when it asks for the whole pool, or for an address and
// any address (in either order).
func TestPortSeveralAddressesOfOneSubnet(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "small")
	// 10.9.0.2 - 10.9.0.14: 13 addresses.
	sub := mkSubnet(t, srv, demo, id(n), "10.9.0.0/28")
	all := make([]map[string]any, 13)
	for i := range all {
		all[i] = map[string]any{"subnet_id": id(sub)}
	}
	p := mkPort(t, srv, demo, id(n), map[string]any{"fixed_ips": all})
	distinct(t, p, 13)
	// The pool is full now: one more is refused.
	refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n)}}, 409, "IpAddressGenerationFailure")
	expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p), nil), 204, "")

	// An address given first, then any address: with two free
	// addresses the second must be the other one.
	n2 := mkNet(t, srv, demo, "two")
	sub2 := mkSubnet(t, srv, demo, id(n2), "10.9.1.0/24", map[string]any{
		"allocation_pools": []map[string]any{{"start": "10.9.1.2", "end": "10.9.1.3"}}})
	for i := range 12 {
		p := mkPort(t, srv, demo, id(n2), map[string]any{"fixed_ips": []map[string]any{
			{"subnet_id": id(sub2), "ip_address": "10.9.1.2"}, {"subnet_id": id(sub2)}}})
		distinct(t, p, 2)
		if got := fixedIPs(p)[1][1]; got != "10.9.1.3" {
			t.Fatalf("try %d: second address %s, want 10.9.1.3", i, got)
		}
		expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p), nil), 204, "")
		// And the other way round: "any address" must not take the
		// address the port names after it.
		p = mkPort(t, srv, demo, id(n2), map[string]any{"fixed_ips": []map[string]any{
			{"subnet_id": id(sub2)}, {"subnet_id": id(sub2), "ip_address": "10.9.1.2"}}})
		if got := fixedIPs(p); got[0][1] != "10.9.1.3" || got[1][1] != "10.9.1.2" {
			t.Fatalf("try %d: addresses %v, want 10.9.1.3 then 10.9.1.2", i, got)
		}
		expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+id(p), nil), 204, "")
	}
}

// distinct fails unless the port has want fixed IPs, all different.
func distinct(t *testing.T, p map[string]any, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range fixedIPs(p) {
		if seen[f[1]] {
			t.Fatalf("port %s has %s twice: %v", id(p), f[1], fixedIPs(p))
		}
		seen[f[1]] = true
	}
	if len(seen) != want {
		t.Fatalf("port %s has %d addresses, want %d: %v", id(p), len(seen), want, fixedIPs(p))
	}
}

// TestConcurrentFloatingIPCreates creates, eight at a time, one floating
// IP per fixed IP of ports with several addresses each (the benchmark's
// pattern): every create succeeds, and a second floating IP for a fixed
// IP that has one is still refused.
func TestConcurrentFloatingIPCreates(t *testing.T) {
	e, _, _ := fipEnv(t)
	srv := e.srv
	type fixed struct{ port, ip string }
	var want []fixed
	for i := range 5 {
		fx := make([]map[string]any, 8)
		for j := range fx {
			fx[j] = map[string]any{"subnet_id": id(e.sub)}
		}
		p := mkPort(t, srv, demo, id(e.net), map[string]any{"fixed_ips": fx, "device_owner": "compute:nova", "device_id": fmt.Sprintf("vm-c%d", i)})
		distinct(t, p, 8)
		for _, f := range fixedIPs(p) {
			want = append(want, fixed{id(p), f[1]})
		}
	}
	status := make([]int, len(want))
	raw := make([]string, len(want))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				r := srv.Do(demo, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
					"floating_network_id": id(e.ext), "port_id": want[i].port, "fixed_ip_address": want[i].ip}})
				status[i], raw[i] = r.Status, string(r.Raw)
			}
		})
	}
	for i := range want {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, s := range status {
		if s != 201 {
			t.Errorf("floating IP for %s on port %s: %d %s", want[i].ip, want[i].port, s, raw[i])
		}
	}
	refused(t, srv, demo, "POST", "/v2.0/floatingips", map[string]any{"floatingip": map[string]any{
		"floating_network_id": id(e.ext), "port_id": want[0].port, "fixed_ip_address": want[0].ip}}, 409, "FloatingIPPortAlreadyAssociated")
}
