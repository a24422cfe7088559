package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed/probe"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// throughput runs iperf3 through the router's NAT and over one veth.
func (b *legacyBed) throughput(ctx context.Context) Throughput {
	if b.o.Throughput <= 0 {
		return Throughput{Skipped: "not asked for"}
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		return Throughput{Skipped: "iperf3 is not installed"}
	}
	res := Throughput{Seconds: b.o.Throughput.Seconds()}
	f, err := b.create(ctx, "floatingips", "floatingip", map[string]any{"floating_network_id": b.ext, "subnet_id": b.extSub, "port_id": b.apps.PortID})
	if err != nil {
		return Throughput{Skipped: err.Error()}
	}
	fip := netip.MustParseAddr(f["floating_ip_address"].(string))
	inet := sandbox.NodeNS(b.st.Prefix, sandbox.NodeInternet)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = probe.PingUntil(pctx, inet, fip, 10*time.Millisecond)
	cancel()
	if err != nil {
		return Throughput{Skipped: "floating IP unreachable: " + err.Error()}
	}
	// Direct: two namespaces and one veth pair.
	nsA, nsB := b.st.Prefix+"-iperfa", b.st.Prefix+"-iperfb"
	defer probe.DeleteNS(nsA)
	defer probe.DeleteNS(nsB)
	if err := vethPair(nsA, nsB); err != nil {
		return Throughput{Skipped: "direct veth: " + err.Error()}
	}
	b.logf("iperf3 %s over one veth, then through the router (floating IP %s -> APPS on compute1)", b.o.Throughput, fip)
	if res.DirectGbps, err = iperf(ctx, nsB, nsA, netip.MustParseAddr("192.168.77.2"), b.o.Throughput); err != nil {
		return Throughput{Skipped: "direct veth: " + err.Error()}
	}
	if res.RouterGbps, err = iperf(ctx, b.apps.Netns, inet, fip, b.o.Throughput); err != nil {
		return Throughput{Skipped: "through the router: " + err.Error()}
	}
	if res.DirectGbps > 0 {
		res.Ratio = res.RouterGbps / res.DirectGbps
	}
	return res
}

// vethPair makes namespaces a (192.168.77.1/24) and b (.2) joined by a
// veth pair.
func vethPair(a, b string) error {
	for _, ns := range []string{a, b} {
		if err := probe.CreateNS(ns); err != nil {
			return err
		}
	}
	ha, err := probe.Handle(a)
	if err != nil {
		return err
	}
	defer ha.Close()
	hb, err := probe.Handle(b)
	if err != nil {
		return err
	}
	defer hb.Close()
	bns, err := netns.GetFromPath(probe.Path(b))
	if err != nil {
		return err
	}
	defer bns.Close()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(bns))}
	if err := ha.LinkAdd(v); err != nil {
		return fmt.Errorf("veth: %w", err)
	}
	for i, h := range []*netlink.Handle{ha, hb} {
		l, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr(fmt.Sprintf("192.168.77.%d/24", i+1))
		if err := h.AddrAdd(l, addr); err != nil {
			return err
		}
		if err := h.LinkSetUp(l); err != nil {
			return err
		}
	}
	return nil
}

// iperf runs iperf3 -s in serverNS and iperf3 -c dst for d in clientNS,
// and returns the received rate in Gbit/s.
func iperf(ctx context.Context, serverNS, clientNS string, dst netip.Addr, d time.Duration) (float64, error) {
	var srvOut strings.Builder
	srv := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+serverNS, "iperf3", "-s", "-p", "5299")
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var out []byte
	err := waitFor(ctx, 10*time.Second, func() error {
		c := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+clientNS, "iperf3", "-c", dst.String(), "-p", "5299", "-J",
			"-t", fmt.Sprint(max(1, int(d.Seconds()))))
		out, _ = c.Output() // iperf3 -J does not always exit non-zero on errors
		if strings.Contains(string(out), "Connection refused") {
			time.Sleep(100 * time.Millisecond)
			return fmt.Errorf("iperf3 -c: connection refused (server: %.300s)", srvOut.String())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("iperf3 -c %s: %w", dst, err)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("iperf3 output: %w: %.200s", err, out)
	}
	if res.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", res.Error)
	}
	return res.End.SumReceived.BitsPerSecond / 1e9, nil
}
