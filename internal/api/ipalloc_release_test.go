package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
)

// Released addresses are found again by automatic allocation. DHCP
// ports take the lowest free address, so each one's address is known
// exactly: random creates (DHCP and ordinary ports) and deletes on a
// small pool, each DHCP port must get the lowest address free by the
// test's own count, each ordinary port a free one, and a full pool must
// refuse until an address is released.
func TestAutomaticAllocationAfterReleases(t *testing.T) {
	srv := noAuth(t)
	n := mkNet(t, srv, demo, "n")
	mkSubnet(t, srv, demo, id(n), "10.7.0.0/27") // pool .2 - .30
	const first, last = 2, 30
	held := map[int]string{} // last octet -> port id
	ip := func(p map[string]any) int {
		fips, _ := p["fixed_ips"].([]any)
		if len(fips) != 1 {
			t.Fatalf("port fixed_ips %v", p["fixed_ips"])
		}
		var o int
		fmt.Sscanf(fips[0].(map[string]any)["ip_address"].(string), "10.7.0.%d", &o)
		return o
	}
	lowestFree := func() int {
		for o := first; o <= last; o++ {
			if _, ok := held[o]; !ok {
				return o
			}
		}
		return 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 400 {
		if len(held) > 0 && rng.IntN(3) == 0 {
			keys := make([]int, 0, len(held))
			for o := range held {
				keys = append(keys, o)
			}
			slices.Sort(keys)
			o := keys[rng.IntN(len(keys))]
			expect(t, srv.Do(demo, "DELETE", "/v2.0/ports/"+held[o], nil), http.StatusNoContent, "")
			delete(held, o)
			continue
		}
		want := lowestFree()
		if want == 0 {
			// Full: refused, and nothing changes.
			refused(t, srv, demo, "POST", "/v2.0/ports", map[string]any{"port": map[string]any{"network_id": id(n)}}, http.StatusConflict, "IpAddressGenerationFailure")
			continue
		}
		var p map[string]any
		if rng.IntN(2) == 0 {
			p = mkPort(t, srv, demo, id(n), map[string]any{"device_owner": "network:dhcp"})
			if got := ip(p); got != want {
				t.Fatalf("step %d: DHCP port got .%d, the lowest free is .%d (held %v)", step, got, want, held)
			}
		} else {
			p = mkPort(t, srv, demo, id(n))
		}
		o := ip(p)
		if _, taken := held[o]; taken || o < first || o > last {
			t.Fatalf("step %d: port got .%d (held %v)", step, o, held)
		}
		held[o] = id(p)
	}
}
