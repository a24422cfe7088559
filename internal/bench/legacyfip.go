package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
)

// fipScales measures associate -> first packet at each scale.
func (b *legacyBed) fipScales(ctx context.Context) ([]FIPScale, error) {
	f, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.extSub})
	if err != nil {
		return nil, err
	}
	fipID := f["id"].(string)
	fip := netip.MustParseAddr(f["floating_ip_address"].(string))
	r := &fipScaleRun{api: b.api, fipID: fipID, fip: fip, port: b.apps, inetNS: sandbox.NodeNS(b.st.Prefix, sandbox.NodeInternet),
		runs: b.o.Runs, populate: b.populateFIPs, ready: b.waitFIPCount, logf: b.logf,
		disassociate: func(ctx context.Context) error {
			if err := b.api.Do(ctx, http.MethodPut, "/v2.0/floatingips/"+fipID, map[string]any{"floatingip": map[string]any{"port_id": nil}}, nil); err != nil {
				return err
			}
			return waitFor(ctx, 30*time.Second, func() error { return b.fipGone(ctx, fip) })
		}}
	return r.measure(ctx, b.o.Scales)
}

// firstConnect starts a TCP connection from namespace ns to dst every
// interval (each from a new source port, so each is a new conntrack
// entry that sees the NAT rules of its moment) and returns when the first
// one reaches the server behind dst. A connection to the floating IP
// itself (its address is on the router before its DNAT element, in the
// same apply) is refused by the router and does not count; a ping
// would be answered by the router itself.
func firstConnect(ctx context.Context, ns string, dst netip.AddrPort, interval, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	won := make(chan time.Time, 1)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		go func() {
			dctx, dcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer dcancel()
			if _, _, err := probe.DialTCP(dctx, ns, dst); err == nil {
				select {
				case won <- time.Now():
				default:
				}
			}
		}()
		select {
		case at := <-won:
			return at, nil
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no TCP connection to %s within %s", dst, timeout)
		case <-t.C:
		}
	}
}

// fipGone reports nil once the agent is done with a disassociation:
// the floating IP's DNAT element left the router's nftables map and its
// address left the gateway device. (Not the API status: the agent's
// status reports can arrive out of phase with quick re-associations.)
func (b *legacyBed) fipGone(ctx context.Context, fip netip.Addr) error {
	return fipGoneIn(ctx, b.routerNS(), fip)
}

// fipGoneIn is fipGone for the legacy router namespace ns.
func fipGoneIn(ctx context.Context, ns string, fip netip.Addr) error {
	out, err := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+ns, "nft", "list", "map", "ip", "neutrino", "fip_dnat").CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft list map: %v: %.200s", err, out)
	}
	if strings.Contains(string(out), fip.String()+" :") {
		return fmt.Errorf("%s still in fip_dnat", fip)
	}
	h, err := probe.Handle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.IP.Equal(net.IP(fip.AsSlice())) {
			return fmt.Errorf("%s still on the router", fip)
		}
	}
	return nil
}

// populateFIPs adds floating IPs from 100.64.0.0/16 for ports on the big
// tenant subnet until there are `to`.
func (b *legacyBed) populateFIPs(ctx context.Context, from, to int) error {
	if to <= from {
		return nil
	}
	b.logf("associating floating IPs %d..%d (ports in bulk, %d a request)", from+1, to, b.o.Chunk)
	t0 := time.Now()
	if err := b.fipPorts(ctx, b.bigNet, "", from, to, b.o.Chunk, func(ctx context.Context, port string) error {
		_, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.bigExtSub, "port_id": port})
		return err
	}); err != nil {
		return err
	}
	b.logf("  %d floating IPs associated in %s", to-from, time.Since(t0).Round(time.Millisecond))
	return nil
}

// waitFIPCount waits until the router's fip_dnat map has n elements
// (the agent caught up with the population).
func (b *legacyBed) waitFIPCount(ctx context.Context, n int) error {
	t0 := time.Now()
	err := waitFor(ctx, 5*time.Minute, func() error {
		h, err := probe.Handle(b.routerNS())
		if err != nil {
			return err
		}
		defer h.Close()
		addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		got := 0
		for _, a := range addrs {
			if ones, _ := a.Mask.Size(); ones == 32 && a.IP.To4() != nil && a.IP.To4()[0] == 100 {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("%d of %d floating IPs on the router", got, n)
		}
		return nil
	})
	if err == nil {
		b.logf("  the router holds %d floating IPs (%s after the last API call)", n, time.Since(t0).Round(time.Millisecond))
	}
	return err
}
