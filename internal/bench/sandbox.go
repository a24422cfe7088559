package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/neutrino-net/neutrino/internal/freeport"
	"github.com/neutrino-net/neutrino/internal/sandbox"
)

// SandboxOptions say how a data-plane benchmark starts its own sandbox
// (internal/sandbox: hosts as network namespaces, real server and
// agents). It needs root.
type SandboxOptions struct {
	// Exe and Env: how the sandbox re-executes the neutrino command
	// (default: this executable; tests pass the test binary's env).
	Exe string
	Env []string
	// Dir is the state directory (default: a new temporary directory,
	// removed afterwards unless Keep).
	Dir  string
	Keep bool // leave the sandbox running (prints how to remove it)
	Out  io.Writer
	// VNIRanges widens the server's VXLAN range (see
	// sandbox.Options.VNIRanges).
	VNIRanges string
	// NetworkNodes and NoL3Failover: see sandbox.Options (0: network1
	// only).
	NetworkNodes int
	NoL3Failover bool
}

// benchBed is a sandbox a benchmark runs in.
type benchBed struct {
	st  *sandbox.State
	api *sandbox.Client
	out io.Writer
}

func randomPrefix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "b" + string(b)
}

// upSandbox starts a sandbox with network1 and computes compute hosts,
// its output to o.Out, else to the benchmark's progress (nil: none); the
// returned func removes it (unless Keep).
func upSandbox(ctx context.Context, o SandboxOptions, progress io.Writer, computes int) (*benchBed, func(), error) {
	if os.Geteuid() != 0 {
		return nil, nil, fmt.Errorf("this benchmark builds a sandbox and needs root")
	}
	o.Out = cmp.Or(o.Out, progress, io.Discard)
	dir, tmp := o.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "neutrino-bench-")
		if err != nil {
			return nil, nil, err
		}
		dir, tmp = d, true
	}
	port, err := freeport.Loopback()
	if err != nil {
		return nil, nil, err
	}
	so := sandbox.Options{Dir: dir, Prefix: randomPrefix(), Computes: computes, Port: port, Exe: o.Exe, Env: o.Env, Out: o.Out, VNIRanges: o.VNIRanges,
		NetworkNodes: o.NetworkNodes, NoL3Failover: o.NoL3Failover}
	// The guard removes the sandbox if this process dies without doing
	// so (guard.go); started first, it also covers a death during Up.
	var g *guard
	if !o.Keep {
		if g, err = startGuard(o.Exe, o.Env, dir, so.Prefix, tmp); err != nil {
			if tmp {
				os.RemoveAll(dir)
			}
			return nil, nil, err
		}
	}
	st, err := sandbox.Up(ctx, so)
	cleanup := func() {
		if o.Keep {
			fmt.Fprintf(o.Out, "sandbox kept: neutrino sandbox down --dir %s --purge\n", dir)
			return
		}
		sandbox.Down(sandbox.DownOptions{Dir: dir, Prefix: so.Prefix, Purge: true})
		if tmp {
			os.RemoveAll(dir)
		}
		g.release()
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	api, err := st.AdminClient(ctx)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return &benchBed{st: st, api: api, out: o.Out}, cleanup, nil
}

// create POSTs one resource and returns it as the API shows it.
func (b *benchBed) create(ctx context.Context, coll, member string, body map[string]any) (map[string]any, error) {
	var out map[string]map[string]any
	if err := b.api.Do(ctx, http.MethodPost, "/v2.0/"+coll, map[string]any{member: body}, &out); err != nil {
		return nil, fmt.Errorf("create %s: %w", member, err)
	}
	return out[member], nil
}

// network creates a network with one IPv4 subnet and returns its id.
func (b *benchBed) network(ctx context.Context, name, cidr string) (string, error) {
	var nw struct {
		Network struct {
			ID string `json:"id"`
		} `json:"network"`
	}
	if err := b.api.Do(ctx, http.MethodPost, "/v2.0/networks", map[string]any{"network": map[string]any{"name": name}}, &nw); err != nil {
		return "", err
	}
	err := b.api.Do(ctx, http.MethodPost, "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": nw.Network.ID, "ip_version": 4, "cidr": cidr, "name": name + "-v4"}}, nil)
	return nw.Network.ID, err
}

// portStatuses returns the status of every port of a network and
// device owner, by id.
func (b *benchBed) portStatuses(ctx context.Context, netID, owner string) (map[string]string, error) {
	var out struct {
		Ports []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"ports"`
	}
	path := "/v2.0/ports?network_id=" + netID + "&device_owner=" + owner + "&fields=id&fields=status"
	if err := b.api.Do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, p := range out.Ports {
		m[p.ID] = p.Status
	}
	return m, nil
}

func addrOf(in *sandbox.Instance) (netip.Addr, error) {
	p, err := netip.ParsePrefix(in.IP)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("instance %s: address %q: %w", in.Name, in.IP, err)
	}
	return p.Addr(), nil
}

// Dist is a latency distribution in milliseconds.
type Dist struct {
	N     int     `json:"n"`
	MinMs float64 `json:"min_ms"`
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Dist{N: len(s), MinMs: ms(s[0]), P50Ms: ms(percentile(s, 50)), P90Ms: ms(percentile(s, 90)), P99Ms: ms(percentile(s, 99)), MaxMs: ms(s[len(s)-1])}
}

// scheduleDHCP makes host the network's only DHCP server and waits until
// its DHCP port is bound there.
func (b *benchBed) scheduleDHCP(ctx context.Context, netID, host string) error {
	want, err := b.agentID(ctx, host, "DHCP agent")
	if err != nil {
		return err
	}
	var agents struct {
		Agents []struct {
			ID string `json:"id"`
		} `json:"agents"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "/v2.0/networks/"+netID+"/dhcp-agents", nil, &agents); err != nil {
		return err
	}
	hosted := false
	for _, a := range agents.Agents {
		hosted = hosted || a.ID == want
	}
	if !hosted {
		if err := b.api.Do(ctx, http.MethodPost, "/v2.0/agents/"+want+"/dhcp-networks", map[string]any{"network_id": netID}, nil); err != nil {
			return err
		}
	}
	for _, a := range agents.Agents {
		if a.ID != want {
			if err := b.api.Do(ctx, http.MethodDelete, "/v2.0/agents/"+a.ID+"/dhcp-networks/"+netID, nil, nil); err != nil {
				return err
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out struct {
			Ports []struct {
				HostID string `json:"binding:host_id"`
				Status string `json:"status"`
			} `json:"ports"`
		}
		err := b.api.Do(ctx, http.MethodGet, "/v2.0/ports?device_owner=network:dhcp&network_id="+netID, nil, &out)
		if err == nil && len(out.Ports) == 1 && out.Ports[0].HostID == host && out.Ports[0].Status == "ACTIVE" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the DHCP port of %s is not ACTIVE on %s after 30s (%v, %+v)", netID, host, err, out.Ports)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type network struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	MTU       int    `json:"mtu"`
}

func (b *benchBed) getNetwork(ctx context.Context, id string) (*network, error) {
	var out struct {
		Network network `json:"network"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "/v2.0/networks/"+id, nil, &out); err != nil {
		return nil, err
	}
	return &out.Network, nil
}

// openIngress opens every default security group to ICMP, TCP and UDP
// from anywhere (the walkthroughs' secgroup-add-rule step): benchmarks
// measure routing, and probe instances from routers and the internet.
// The agents filter as they do in production.
func (b *benchBed) openIngress(ctx context.Context) error {
	var sgs struct {
		SecurityGroups []struct {
			ID string `json:"id"`
		} `json:"security_groups"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "/v2.0/security-groups?name=default", nil, &sgs); err != nil {
		return err
	}
	for _, sg := range sgs.SecurityGroups {
		for _, proto := range []string{"icmp", "tcp", "udp"} {
			err := b.api.Do(ctx, http.MethodPost, "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
				"security_group_id": sg.ID, "direction": "ingress", "ethertype": "IPv4", "protocol": proto, "remote_ip_prefix": "0.0.0.0/0"}}, nil)
			if err != nil && !strings.Contains(err.Error(), "409") {
				return fmt.Errorf("open %s in security group %s: %w", proto, sg.ID, err)
			}
		}
	}
	return nil
}
