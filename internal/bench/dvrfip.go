package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// fipHost is the compute whose floating IPs are measured.
const fipHost = "compute1"

// fipScales measures associate -> first packet on fipHost at each scale
// (DVRDefinition).
func (b *dvrBed) fipScales(ctx context.Context) ([]FIPScale, error) {
	if b.appsFIPID == "" { // the throughput part did not make it
		f, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.extSub})
		if err != nil {
			return nil, err
		}
		b.appsFIP, b.appsFIPID = netip.MustParseAddr(f["floating_ip_address"].(string)), f["id"].(string)
	}
	if err := b.disassociate(ctx); err != nil {
		return nil, err
	}
	r := &fipScaleRun{api: b.api, fipID: b.appsFIPID, fip: b.appsFIP, port: b.apps1, inetNS: sandbox.NodeNS(b.st.Prefix, sandbox.NodeInternet),
		runs: b.o.FIPRuns, where: " on " + fipHost, populate: b.populate, ready: b.waitDNATCount, disassociate: b.disassociate, logf: b.logf}
	return r.measure(ctx, b.o.Scales)
}

// disassociate takes APPS1's floating IP off and waits until fipHost is
// done with it: gone from the qrouter- DNAT map and from the fip-
// namespace's routes (which is what proxy ARP answers by).
func (b *dvrBed) disassociate(ctx context.Context) error {
	if err := b.api.Do(ctx, http.MethodPut, "/v2.0/floatingips/"+b.appsFIPID, map[string]any{"floatingip": map[string]any{"port_id": nil}}, nil); err != nil {
		return err
	}
	return waitFor(ctx, 30*time.Second, func() error {
		m, err := b.dnatMap(ctx)
		if err != nil {
			return err
		}
		if strings.Contains(m, b.appsFIP.String()+" :") {
			return fmt.Errorf("%s still in fip_dnat of %s", b.appsFIP, b.qrouterNS(fipHost))
		}
		if !nsExists(b.fipNS(fipHost)) {
			return nil // the host serves no floating IP at all
		}
		rs, err := probe.Routes(b.fipNS(fipHost))
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Dst != nil && r.Dst.IP.Equal(b.appsFIP.AsSlice()) {
				return fmt.Errorf("%s still routed in %s", b.appsFIP, b.fipNS(fipHost))
			}
		}
		return nil
	})
}

// dnatMap lists the fip_dnat map of fipHost's qrouter- namespace.
func (b *dvrBed) dnatMap(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "nsenter", "--net="+probe.Path(b.qrouterNS(fipHost)), "nft", "list", "map", "ip", "neutrino", "fip_dnat").CombinedOutput()
	if err != nil && strings.Contains(string(out), "No such file or directory") {
		return "", nil // no floating IP on the host: the map is not made
	}
	if err != nil {
		return "", fmt.Errorf("nft list map fip_dnat in %s: %v: %.200s", b.qrouterNS(fipHost), err, out)
	}
	return string(out), nil
}

var dnatElement = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+ : \d+\.\d+\.\d+\.\d+`)

// waitDNATCount waits until fipHost's fip_dnat map holds n elements:
// the floating IPs are served by that compute, not centrally.
func (b *dvrBed) waitDNATCount(ctx context.Context, n int) error {
	t0 := time.Now()
	err := waitFor(ctx, 10*time.Minute, func() error {
		m, err := b.dnatMap(ctx)
		if err != nil {
			return err
		}
		if got := len(dnatElement.FindAllString(m, -1)); got != n {
			time.Sleep(200 * time.Millisecond) // a 5,000-element listing is not free
			return fmt.Errorf("%d of %d floating IPs in fip_dnat of %s", got, n, b.qrouterNS(fipHost))
		}
		return nil
	})
	if err == nil {
		b.logf("  fip_dnat of %s holds %d floating IPs (%s after the last API call)", b.qrouterNS(fipHost), n, time.Since(t0).Round(time.Millisecond))
	}
	return err
}

// populate adds floating IPs from 100.64.0.0/16 for ports on BIG_NET
// bound to fipHost until there are `to`.
func (b *dvrBed) populate(ctx context.Context, from, to int) error {
	if to <= from {
		return nil
	}
	b.logf("associating floating IPs %d..%d to ports bound to %s (ports in bulk, %d a request)", from+1, to, fipHost, b.o.Chunk)
	t0 := time.Now()
	if err := b.fipPorts(ctx, b.bigNet, fipHost, from, to, b.o.Chunk, b.associateNew); err != nil {
		return err
	}
	b.logf("  %d floating IPs associated in %s", to-from, time.Since(t0).Round(time.Millisecond))
	return nil
}

// associateNew creates a floating IP from EXT_SCALE for port. A 503
// (the store did not confirm the change in time: it happens on a busy
// two-core machine) is checked by reading the port's floating IPs and
// retried when there is none.
func (b *dvrBed) associateNew(ctx context.Context, port string) error {
	for try := 0; ; try++ {
		_, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.bigExt, "port_id": port})
		if err == nil || try == 4 || !strings.Contains(err.Error(), "HTTP 503") {
			return err
		}
		time.Sleep(time.Duration(try+1) * 500 * time.Millisecond)
		var out struct {
			FloatingIPs []struct {
				ID string `json:"id"`
			} `json:"floatingips"`
		}
		if b.api.Do(ctx, http.MethodGet, "/v2.0/floatingips?port_id="+port, nil, &out) == nil && len(out.FloatingIPs) > 0 {
			return nil
		}
	}
}
