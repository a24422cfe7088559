package traceworld

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/neutrino-net/neutrino/internal/model"
	"github.com/neutrino-net/neutrino/internal/syncproto"
	"github.com/neutrino-net/neutrino/internal/trace"
)

// Fetch reads, with admin credentials, the agents, ports, subnets and
// networks through the Networking API and each host's view through the
// agents' own stream (its first, whole-view event), then builds the
// world.
func Fetch(ctx context.Context, c *gophercloud.ServiceClient) (*trace.World, error) {
	var in Inputs
	var agents struct{ Agents []model.Agent }
	var ports struct{ Ports []model.Port }
	var subnets struct{ Subnets []model.Subnet }
	var networks struct{ Networks []model.Network }
	for _, r := range []struct {
		path string
		dst  any
	}{{"agents", &agents}, {"ports", &ports}, {"subnets", &subnets}, {"networks", &networks}} {
		if _, err := c.Get(ctx, c.ServiceURL(r.path), r.dst, nil); err != nil {
			return nil, fmt.Errorf("GET %s: %w", r.path, err)
		}
	}
	in.Agents, in.Ports, in.Subnets, in.Networks = agents.Agents, ports.Ports, subnets.Subnets, networks.Networks
	if len(Hosts(in.Agents)) == 0 {
		// Non-admins see no agents (and may not open hosts' streams).
		return nil, fmt.Errorf("no L2 agents visible: neutrino trace needs admin credentials (e.g. . admin-openrc)")
	}
	in.Views = map[string]*syncproto.Event{}
	for _, h := range Hosts(in.Agents) {
		ev, err := hostView(ctx, c, h)
		if err != nil {
			return nil, err
		}
		in.Views[h] = ev
	}
	return Build(in)
}

// hostView reads the first event of host's sync stream (without a
// revision the server starts with the whole view) and hangs up.
func hostView(ctx context.Context, c *gophercloud.ServiceClient, host string) (*syncproto.Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u := serverRoot(c.Endpoint) + strings.TrimPrefix(syncproto.PathHosts, "/") + url.PathEscape(host) + "/watch"
	resp, err := c.Request(ctx, "GET", u, &gophercloud.RequestOpts{KeepResponseBody: true, OkCodes: []int{200}})
	if err != nil {
		return nil, fmt.Errorf("view of host %s: %w", host, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	if !sc.Scan() {
		return nil, fmt.Errorf("view of host %s: stream ended: %v", host, sc.Err())
	}
	var ev syncproto.Event
	if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
		return nil, fmt.Errorf("view of host %s: %w", host, err)
	}
	return &ev, nil
}

// serverRoot is the endpoint without a trailing API version ("v2.0/"):
// the agents' protocol lives beside the Networking API.
func serverRoot(endpoint string) string {
	e := strings.TrimSuffix(endpoint, "/")
	e = strings.TrimSuffix(e, "/v2.0")
	return e + "/"
}
