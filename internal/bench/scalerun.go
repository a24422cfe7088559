package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// scaleRun is one api-scale run: what it populated and what the measured
// rounds still have to use (each round takes its own floating IPs,
// routers and subnets).
type scaleRun struct {
	ctx  context.Context
	o    ScaleOptions
	b    *bencher
	nets int // networks of ports (each on its own router)

	ext       string
	netIDs    []string // nets networks of ports, then the spare ones
	subnetIDs []string
	routerIDs []string
	devices   []string
	portIDs   []string
	nextSpare int  // next spare network/router for an interface add
	profiled  bool // CreateProfile was written
}

// bulk creates items (JSON objects) through bulk POSTs of up to Chunk,
// as admin, from four clients, and returns the ids in order.
func (s *scaleRun) bulk(path, key string, items []string) ([]string, error) {
	ids := make([]string, len(items))
	chunk := s.o.Chunk
	n := (len(items) + chunk - 1) / chunk
	err := parallel(4, n, func(c int) error {
		lo, hi := c*chunk, min(len(items), (c+1)*chunk)
		got, err := s.bulkOne(path, key, items[lo:hi])
		copy(ids[lo:], got)
		return err
	})
	return ids, err
}

// bulkOne sends one bulk create and returns the ids in order.
func (s *scaleRun) bulkOne(path, key string, items []string) ([]string, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"` + key + `":[`)
	buf.WriteString(strings.Join(items, ","))
	buf.WriteString(`]}`)
	raw, err := s.b.call(s.ctx, "POST", "/v2.0/"+path, buf.Bytes(), true, 201)
	if err != nil {
		return nil, err
	}
	var r map[string][]struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r[key]) != len(items) {
		return nil, fmt.Errorf("bulk %s: unexpected reply %s", path, truncate(raw))
	}
	ids := make([]string, len(items))
	for i, x := range r[key] {
		ids[i] = x.ID
	}
	return ids, nil
}

// timedStep runs one populating step and records its duration.
func (s *scaleRun) timedStep(rep *ScaleReport, name string, fn func() error) error {
	s.b.logf("populating %s", name)
	t0 := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("populate %s: %w", name, err)
	}
	rep.Populate[name] = time.Since(t0).Seconds()
	s.b.logf("  %s: %.1fs", name, rep.Populate[name])
	return nil
}

func items(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// populate makes the networks of ports (and spare ones for the measured
// interface adds), routers (the first nets with a gateway and an
// interface on their network), ports, floating IPs on the first ports,
// and security groups with rules.
func (s *scaleRun) populate(rep *ScaleReport) error {
	o := s.o
	if _, err := s.b.call(s.ctx, "PUT", "/v2.0/quotas/bench", []byte(`{"quota":{"network":-1,"subnet":-1,"port":-1,"router":-1,"floatingip":-1,"security_group":-1,"security_group_rule":-1}}`), true, 200); err != nil {
		return err
	}
	var err error
	if s.ext, err = s.b.create(s.ctx, "networks", "network", `{"network":{"name":"scale-public","router:external":true}}`, true); err != nil {
		return err
	}
	if _, err := s.b.create(s.ctx, "subnets", "subnet", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"100.64.0.0/16"}}`, s.ext), true); err != nil {
		return err
	}
	allNets := s.nets + o.Runs*len(o.Clients)
	s.nextSpare = s.nets
	steps := []struct {
		name string
		fn   func() error
	}{
		{"networks", func() error {
			if s.netIDs, err = s.bulk("networks", "networks", items(allNets, func(i int) string { return fmt.Sprintf(`{"name":"scale-n%d"}`, i) })); err != nil {
				return err
			}
			s.subnetIDs, err = s.bulk("subnets", "subnets", items(allNets, func(i int) string {
				return fmt.Sprintf(`{"network_id":%q,"ip_version":4,"cidr":"10.%d.%d.0/24"}`, s.netIDs[i], i>>8, i&255)
			}))
			return err
		}},
		{"routers", func() error {
			s.routerIDs, err = s.bulk("routers", "routers", items(o.Routers, func(i int) string {
				if i < s.nets {
					return fmt.Sprintf(`{"name":"scale-r%d","external_gateway_info":{"network_id":%q}}`, i, s.ext)
				}
				return fmt.Sprintf(`{"name":"scale-r%d"}`, i)
			}))
			return err
		}},
		{"interfaces", func() error {
			return parallel(4, s.nets, func(i int) error {
				_, err := s.b.call(s.ctx, "PUT", "/v2.0/routers/"+s.routerIDs[i]+"/add_router_interface", fmt.Appendf(nil, `{"subnet_id":%q}`, s.subnetIDs[i]), true, 200)
				return err
			})
		}},
		{"ports", s.populatePorts},
		{"floating_ips", s.populateFIPs},
		{"security_group_rules", s.populateRules},
	}
	for _, st := range steps {
		if err := s.timedStep(rep, st.name, st.fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *scaleRun) populatePorts() error {
	o := s.o
	s.devices = items(o.Ports, func(i int) string { return fmt.Sprintf("scale-vm-%d", i) })
	var err error
	s.portIDs, err = s.bulk("ports", "ports", items(o.Ports, func(i int) string {
		return fmt.Sprintf(`{"network_id":%q,"device_id":%q,"device_owner":"compute:nova"}`, s.netIDs[i/o.PortsPerNetwork], s.devices[i])
	}))
	return err
}

// populateFIPs puts the floating IPs on the first ports. They name
// their addresses (100.64.8.0 up; the router gateways took the lowest):
// an automatic allocation walks past every address in use, which would
// make populating quadratic (docs/performance.md).
func (s *scaleRun) populateFIPs() error {
	_, err := s.bulk("floatingips", "floatingips", items(s.o.FloatingIPs, func(i int) string {
		a := 8<<8 + i
		return fmt.Sprintf(`{"floating_network_id":%q,"port_id":%q,"floating_ip_address":"100.64.%d.%d"}`, s.ext, s.portIDs[i], a>>8, a&255)
	}))
	return err
}

func (s *scaleRun) populateRules() error {
	o := s.o
	if o.Rules <= 0 {
		return nil
	}
	groups := (o.Rules + o.RulesPerGroup - 1) / o.RulesPerGroup
	sgs, err := s.bulk("security-groups", "security_groups", items(groups, func(i int) string { return fmt.Sprintf(`{"name":"scale-sg%d"}`, i) }))
	if err != nil {
		return err
	}
	// A bulk create of rules is for one group (upstream refuses others),
	// so the groups go in parallel and each group's rules in chunks.
	return parallel(4, groups, func(g int) error {
		n := min(o.RulesPerGroup, o.Rules-g*o.RulesPerGroup)
		rules := items(n, func(i int) string {
			return fmt.Sprintf(`{"security_group_id":%q,"direction":"ingress","ethertype":"IPv4","protocol":"tcp","port_range_min":%d,"port_range_max":%d,"remote_ip_prefix":"10.0.0.0/8"}`, sgs[g], i+1, i+1)
		})
		for lo := 0; lo < n; lo += o.Chunk {
			if _, err := s.bulkOne("security-group-rules", "security_group_rules", rules[lo:min(n, lo+o.Chunk)]); err != nil {
				return err
			}
		}
		return nil
	})
}

// get sends a GET and discards the reply (a list of 100,000 ports is
// about 100 MB; 32 clients must not hold 32 of them).
func (s *scaleRun) get(path string) error {
	req, err := http.NewRequestWithContext(s.ctx, "GET", s.b.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Project-Id", "bench")
	req.Header.Set("X-Roles", "member,reader")
	resp, err := s.b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return nil
}

// round runs n requests of one operation from c clients and records
// their latencies. A failed request is counted (and the first failure
// kept) rather than ending the run: at scale, failures are a finding.
func (s *scaleRun) round(rep *ScaleReport, name string, c, n int, op func(i int) error) error {
	s.b.logf("%s: %d requests, %d clients", name, n, c)
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	var mu sync.Mutex
	var firstErr error
	if w := s.o.CreateProfile; w != nil && name == "port create" && !s.profiled {
		// One window: the first round of port creates.
		s.profiled = true
		if err := pprof.StartCPUProfile(w); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	_ = parallel(c, n, func(i int) error {
		t := time.Now()
		if err := op(i); err != nil {
			mu.Lock()
			failed[i] = true
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		lat[i] = time.Since(t)
		return nil
	})
	wall := time.Since(t0)
	var ok []time.Duration
	for i, d := range lat {
		if !failed[i] {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		return fmt.Errorf("%s: every request failed: %w", name, firstErr)
	}
	res := result(fmt.Sprintf("%s (%d clients)", name, c), ok, wall)
	if firstErr != nil {
		res.Errors = n - len(ok)
		res.FirstError = firstErr.Error()
		s.b.logf("  %d of %d failed, first: %v", res.Errors, n, firstErr)
	}
	rep.Results = append(rep.Results, res)
	return nil
}

// measure runs every measured operation with c clients.
func (s *scaleRun) measure(rep *ScaleReport, c int) error {
	o := s.o
	if err := s.round(rep, fmt.Sprintf("list all ports (%d)", o.Ports), c, o.ListRuns, func(int) error { return s.get("/v2.0/ports") }); err != nil {
		return err
	}
	if err := s.round(rep, "list ports by device_id", c, o.Runs, func(int) error {
		return s.get("/v2.0/ports?device_id=" + s.devices[rand.IntN(len(s.devices))])
	}); err != nil {
		return err
	}
	if err := s.round(rep, fmt.Sprintf("list ports by network_id (%d each)", o.PortsPerNetwork), c, o.Runs, func(int) error {
		return s.get("/v2.0/ports?network_id=" + s.netIDs[rand.IntN(s.nets)])
	}); err != nil {
		return err
	}
	ports := make([]string, o.Runs)
	if err := s.round(rep, "port create", c, o.Runs, func(i int) error {
		var err error
		ports[i], err = s.b.create(s.ctx, "ports", "port", fmt.Sprintf(`{"port":{"network_id":%q,"device_id":"scale-new-%d-%d","device_owner":"compute:nova"}}`, s.netIDs[rand.IntN(s.nets)], c, i), false)
		return err
	}); err != nil {
		return err
	}
	fips, err := s.bulk("floatingips", "floatingips", items(o.Runs, func(int) string { return fmt.Sprintf(`{"floating_network_id":%q}`, s.ext) }))
	if err != nil {
		return err
	}
	if err := s.round(rep, "floating IP associate", c, o.Runs, func(i int) error {
		if ports[i] == "" {
			return fmt.Errorf("no port: its create failed")
		}
		_, err := s.b.call(s.ctx, "PUT", "/v2.0/floatingips/"+fips[i], fmt.Appendf(nil, `{"floatingip":{"port_id":%q}}`, ports[i]), false, 200)
		return err
	}); err != nil {
		return err
	}
	first := s.nextSpare
	s.nextSpare += o.Runs
	return s.round(rep, "router interface add", c, o.Runs, func(i int) error {
		k := first + i
		_, err := s.b.call(s.ctx, "PUT", "/v2.0/routers/"+s.routerIDs[k]+"/add_router_interface", fmt.Appendf(nil, `{"subnet_id":%q}`, s.subnetIDs[k]), false, 200)
		return err
	})
}
