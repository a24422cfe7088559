package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

// L3Options size the L3 API benchmark.
type L3Options struct {
	// Count is how many of each measured operation run (one router,
	// network, floating IP and port per count).
	Count    int
	Progress io.Writer // progress lines; nil = silent
}

// DefaultL3 is the size the targets refer to.
func DefaultL3() L3Options { return L3Options{Count: 200} }

// L3 upstream figures (p50, measured on the reference machine) and the
// project's target.
const (
	l3Target       = "p50 < 10 ms"
	l3TargetMs     = 10
	upGatewaySet   = "p50 505 ms"
	upInterfaceAdd = "p50 568 ms"
	upFIPCreate    = "p50 265 ms"
	upFIPAssociate = "p50 307 ms"
)

// RunL3 measures router and floating IP operations through HTTP against
// an in-process server (embedded etcd, noauth, admin caller): router
// create, gateway set, interface add (by subnet), floating IP create and
// associate, each Count times in sequence.
func RunL3(ctx context.Context, o L3Options) (*Report, error) {
	if o.Count <= 0 {
		o.Count = DefaultL3().Count
	}
	if o.Count > 4000 {
		return nil, fmt.Errorf("count %d: at most 4000 (one /24 per router)", o.Count)
	}
	srv, dir, err := startServer(ctx)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	defer srv.Close()
	b := &bencher{
		o:    Options{Project: "bench", Progress: o.Progress},
		base: srv.URL,
		hc:   &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 8}},
	}
	defer b.hc.CloseIdleConnections()
	rep := &Report{
		Server:      "in-process neutrino-server (embedded etcd in " + dir + ", noauth, admin caller)",
		GoVersion:   runtime.Version(),
		CPUs:        runtime.NumCPU(),
		Concurrency: 1,
	}
	r := &l3Run{ctx: ctx, b: b, rep: rep, n: o.Count}
	ext, err := r.setup()
	if err != nil {
		return nil, err
	}
	routers, err := r.routers(ext)
	if err != nil {
		return nil, err
	}
	nets, err := r.interfaces(routers)
	if err != nil {
		return nil, err
	}
	if err := r.floatingIPs(ext, nets); err != nil {
		return nil, err
	}
	return rep, nil
}

// l3Run is one run of the L3 API benchmark (as admin).
type l3Run struct {
	ctx context.Context
	b   *bencher
	rep *Report
	n   int
}

func (r *l3Run) call(method, path, body string, want int) ([]byte, error) {
	var raw []byte
	if body != "" {
		raw = []byte(body)
	}
	return r.b.call(r.ctx, method, path, raw, true, want)
}

func (r *l3Run) create(coll, member, body string) (string, error) {
	raw, err := r.call("POST", "/v2.0/"+coll, body, 201)
	if err != nil {
		return "", err
	}
	return idOf(raw, member)
}

// measure runs op(i) n times and records the latencies.
func (r *l3Run) measure(name, upstream string, withTarget bool, op func(i int) error) error {
	r.b.logf("%s ×%d", name, r.n)
	lat := make([]time.Duration, 0, r.n)
	start := time.Now()
	for i := range r.n {
		t0 := time.Now()
		if err := op(i); err != nil {
			return fmt.Errorf("%s %d: %w", name, i, err)
		}
		lat = append(lat, time.Since(t0))
	}
	res := result(name, lat, time.Since(start))
	if withTarget {
		res.target(l3Target, res.P50Ms < l3TargetMs)
	}
	res.Upstream = upstream
	r.rep.add(res)
	return nil
}

// setup (not measured) raises the quotas and makes the external network.
func (r *l3Run) setup() (string, error) {
	n := r.n
	q := fmt.Sprintf(`{"quota":{"network":%d,"subnet":%d,"port":%d,"router":%d,"floatingip":%d}}`, n+10, n+10, 6*n+50, n+10, n+10)
	if _, err := r.call("PUT", "/v2.0/quotas/bench", q, 200); err != nil {
		return "", err
	}
	ext, err := r.create("networks", "network", `{"network":{"name":"bench-public","router:external":true}}`)
	if err != nil {
		return "", err
	}
	if _, err := r.create("subnets", "subnet", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"100.64.0.0/16"}}`, ext)); err != nil {
		return "", err
	}
	return ext, nil
}

// routers times router creates and gateway sets.
func (r *l3Run) routers(ext string) ([]string, error) {
	routers := make([]string, r.n)
	if err := r.measure("router create", "", false, func(i int) error {
		var err error
		routers[i], err = r.create("routers", "router", fmt.Sprintf(`{"router":{"name":"bench-r%d"}}`, i))
		return err
	}); err != nil {
		return nil, err
	}
	if err := r.measure("router gateway set", upGatewaySet, true, func(i int) error {
		_, err := r.call("PUT", "/v2.0/routers/"+routers[i], fmt.Sprintf(`{"router":{"external_gateway_info":{"network_id":%q}}}`, ext), 200)
		return err
	}); err != nil {
		return nil, err
	}
	return routers, nil
}

// interfaces makes one network and subnet per router (not measured) and
// times attaching each subnet to its router. It returns the networks.
func (r *l3Run) interfaces(routers []string) ([]string, error) {
	n := r.n
	r.b.logf("creating %d networks and subnets (not measured)", n)
	subnets := make([]string, n)
	nets := make([]string, n)
	var err error
	for i := range n {
		if nets[i], err = r.create("networks", "network", fmt.Sprintf(`{"network":{"name":"bench-n%d"}}`, i)); err != nil {
			return nil, err
		}
		if subnets[i], err = r.create("subnets", "subnet", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"10.%d.%d.0/24"}}`, nets[i], i>>8, i&255)); err != nil {
			return nil, err
		}
	}
	if err := r.measure("router interface add", upInterfaceAdd, true, func(i int) error {
		_, err := r.call("PUT", "/v2.0/routers/"+routers[i]+"/add_router_interface", fmt.Sprintf(`{"subnet_id":%q}`, subnets[i]), 200)
		return err
	}); err != nil {
		return nil, err
	}
	return nets, nil
}

// floatingIPs times floating IP creates, associations (to a port per
// network, made unmeasured) and disassociations.
func (r *l3Run) floatingIPs(ext string, nets []string) error {
	n := r.n
	fips := make([]string, n)
	if err := r.measure("floating IP create", upFIPCreate, true, func(i int) error {
		var err error
		fips[i], err = r.create("floatingips", "floatingip", fmt.Sprintf(`{"floatingip":{"floating_network_id":%q}}`, ext))
		return err
	}); err != nil {
		return err
	}
	r.b.logf("creating %d ports (not measured)", n)
	ports := make([]string, n)
	var err error
	for i := range n {
		if ports[i], err = r.create("ports", "port", fmt.Sprintf(`{"port":{"network_id":%q,"device_owner":"compute:nova","device_id":"bench-vm%d"}}`, nets[i], i)); err != nil {
			return err
		}
	}
	if err := r.measure("floating IP associate", upFIPAssociate, true, func(i int) error {
		_, err := r.call("PUT", "/v2.0/floatingips/"+fips[i], fmt.Sprintf(`{"floatingip":{"port_id":%q}}`, ports[i]), 200)
		return err
	}); err != nil {
		return err
	}
	return r.measure("floating IP disassociate", "", false, func(i int) error {
		_, err := r.call("PUT", "/v2.0/floatingips/"+fips[i], `{"floatingip":{"port_id":null}}`, 200)
		return err
	})
}

// l3Note is printed under the L3 table.
func l3Note(w io.Writer) {
	fmt.Fprintln(w, strings.TrimSpace(`
Each operation runs sequentially through HTTP; routers are legacy, one
network/subnet/port per router. Upstream figures: neutron-server with
ML2/OVS on the same machine.`))
}

// WriteL3Table prints the L3 report.
func (r *Report) WriteL3Table(w io.Writer) {
	r.WriteTable(w)
	l3Note(w)
}
