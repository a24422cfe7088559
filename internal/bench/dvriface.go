package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
)

// HostDist is a latency distribution seen on one host ("all": the
// moment the last host saw it).
type HostDist struct {
	Host string `json:"host"`
	Dist
}

// interfaceAdd measures add_router_interface -> first routed packet on
// every host with a DMZ instance (DVRDefinition). With arpFirst each
// instance first resolves its gateway by raw ARP requests every 2 ms
// (leaving its neighbour table alone), then pings: the figure without
// the instance's own ARP retransmission timer (1 s).
func (b *dvrBed) interfaceAdd(ctx context.Context, arpFirst bool) ([]HostDist, error) {
	dst, err := addrOf(b.apps1)
	if err != nil {
		return nil, err
	}
	ins := []*sandbox.Instance{b.dmz1, b.dmz2}
	lat := make([][]time.Duration, len(ins)+1) // per instance, then all
	for run := range b.o.IfaceRuns {
		// The instances' neighbour entries for their gateway would name
		// the previous run's router port.
		for _, in := range ins {
			if err := probe.FlushNeighbour(in.Netns, "eth0", b.dmzGateway); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		var out struct {
			PortID string `json:"port_id"`
		}
		if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+b.dvr+"/add_router_interface", map[string]any{"subnet_id": b.dmzSub}, &out); err != nil {
			return nil, err
		}
		took := make([]time.Duration, len(ins))
		errs := make([]error, len(ins))
		var wg sync.WaitGroup
		for i, in := range ins {
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if arpFirst {
					if _, err := probe.ARPRequest(pctx, in.Netns, "eth0", b.dmzGateway, 2*time.Millisecond); err != nil {
						errs[i] = fmt.Errorf("%s (%s): no ARP answer for the gateway %s: %w", in.Name, in.Host, b.dmzGateway, err)
						return
					}
				}
				if err := probe.PingUntil(pctx, in.Netns, dst, 2*time.Millisecond); err != nil {
					errs[i] = fmt.Errorf("%s (%s) -> APPS1 %s after add_router_interface: %w", in.Name, in.Host, dst, err)
					return
				}
				took[i] = time.Since(start)
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("run %d: %w", run+1, err)
		}
		last := time.Duration(0)
		for i, d := range took {
			lat[i] = append(lat[i], d)
			last = max(last, d)
		}
		lat[len(ins)] = append(lat[len(ins)], last)
		b.logf("interface add %d (ARP probes first: %v): first routed packet on compute1 after %s, on compute2 after %s",
			run+1, arpFirst, took[0].Round(100*time.Microsecond), took[1].Round(100*time.Microsecond))
		if err := b.removeDMZ(ctx, out.PortID); err != nil {
			return nil, fmt.Errorf("run %d: %w", run+1, err)
		}
	}
	var res []HostDist
	for i, in := range ins {
		res = append(res, HostDist{Host: in.Host, Dist: distOf(lat[i])})
	}
	return append(res, HostDist{Host: "all", Dist: distOf(lat[len(ins)])}), nil
}

// removeDMZ removes the DMZ interface and waits until its qr- device
// left the qrouter- namespace of every host, network1 included (its
// DHCP port for DMZ gives it the router too): a host still holding the
// old interface answers the next run's first ARP request for the
// gateway with the old gateway MAC, and the instance then keeps
// sending to a MAC nobody has until its neighbour entry expires.
func (b *dvrBed) removeDMZ(ctx context.Context, portID string) error {
	if err := b.api.Do(ctx, http.MethodPut, "/v2.0/routers/"+b.dvr+"/remove_router_interface", map[string]any{"subnet_id": b.dmzSub}, nil); err != nil {
		return err
	}
	for _, h := range b.st.Hosts() {
		ns := b.qrouterNS(h.Name)
		if err := waitFor(ctx, 30*time.Second, func() error {
			if !nsExists(ns) {
				return nil
			}
			_, found, err := probe.Link(ns, "qr-"+portID[:11])
			if err == nil && found {
				err = errors.New("qr- device still there")
			}
			return err
		}); err != nil {
			return fmt.Errorf("remove interface: %s: %w", ns, err)
		}
	}
	return nil
}
