package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// listAll times GET of a whole collection (as the caller sees it) and
// names the result after the number of objects listed.
func (b *bencher) listAll(ctx context.Context, rep *Report, path, what string, runs int) error {
	raw, err := b.call(ctx, "GET", "/v2.0/"+path, nil, false, 200)
	if err != nil {
		return err
	}
	var r map[string]json.RawMessage
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("list %s: invalid JSON: %w", path, err)
	}
	key := map[string]string{"security-groups": "security_groups"}[path]
	if key == "" {
		key = path
	}
	if err := json.Unmarshal(r[key], &items); err != nil {
		return fmt.Errorf("list %s: no %s in the reply", path, key)
	}
	total := len(items)
	b.logf("listing %d %ss", total, what)
	lat := make([]time.Duration, 0, runs)
	for range runs {
		t0 := time.Now()
		if _, err := b.call(ctx, "GET", "/v2.0/"+path, nil, false, 200); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	name := "list " + map[string]string{"ports": "all ports", "networks": "networks", "security-groups": "security groups", "floatingips": "floating IPs"}[path]
	res := result(fmt.Sprintf("%s (%d)", name, total), lat, 0)
	if path == "security-groups" {
		res.Operation = fmt.Sprintf("%s (%d, %d rules)", name, total, b.rules)
	}
	res.Count = runs
	res.compare(name, total)
	rep.add(res)
	return nil
}

// timed runs op n times in sequence and records the latencies as one
// result compared with upstream's figure for key.
func (b *bencher) timed(rep *Report, name, key string, n int, op func(i int) error) error {
	b.logf("%s ×%d", name, n)
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		if err := op(i); err != nil {
			return fmt.Errorf("%s %d: %w", name, i, err)
		}
		lat = append(lat, time.Since(t0))
	}
	res := result(name, lat, time.Since(start))
	res.compare(key, 0)
	rep.add(res)
	return nil
}

func (b *bencher) create(ctx context.Context, coll, member, body string, admin bool) (string, error) {
	raw, err := b.call(ctx, "POST", "/v2.0/"+coll, []byte(body), admin, 201)
	if err != nil {
		return "", err
	}
	return idOf(raw, member)
}

// objects measures the other collections the issue names next to
// ports: security group and rule creates and the list of the groups
// with their rules, router creates, floating IP creates and their list.
func (b *bencher) objects(ctx context.Context, rep *Report) error {
	if err := b.securityGroups(ctx, rep); err != nil {
		return err
	}
	o := b.o
	if o.Routers > 0 {
		if err := b.timed(rep, "router create (sequential)", "router create", o.Routers, func(i int) error {
			_, err := b.create(ctx, "routers", "router", fmt.Sprintf(`{"router":{"name":"bench-r%d"}}`, i), false)
			return err
		}); err != nil {
			return err
		}
	}
	if o.FloatingIPs <= 0 {
		return nil
	}
	ext := o.ExternalNetwork
	if ext == "" {
		var err error
		if ext, err = b.create(ctx, "networks", "network", `{"network":{"name":"bench-public","router:external":true}}`, true); err != nil {
			return fmt.Errorf("external network (give --external-network without admin rights): %w", err)
		}
		if _, err := b.create(ctx, "subnets", "subnet", fmt.Sprintf(`{"subnet":{"network_id":%q,"ip_version":4,"cidr":"100.64.0.0/16"}}`, ext), true); err != nil {
			return err
		}
	}
	if err := b.timed(rep, "floating IP create (sequential)", "floating IP create", o.FloatingIPs, func(int) error {
		_, err := b.create(ctx, "floatingips", "floatingip", fmt.Sprintf(`{"floatingip":{"floating_network_id":%q}}`, ext), false)
		return err
	}); err != nil {
		return err
	}
	return b.listAll(ctx, rep, "floatingips", "floating IP", o.ListRuns)
}

// securityGroups creates Groups groups, then rules until every group of
// the caller (the default one too) has RulesPerGroup, and lists them.
func (b *bencher) securityGroups(ctx context.Context, rep *Report) error {
	o := b.o
	if o.Groups <= 0 {
		return nil
	}
	if err := b.timed(rep, "security group create (sequential)", "security group create", o.Groups, func(i int) error {
		_, err := b.create(ctx, "security-groups", "security_group", fmt.Sprintf(`{"security_group":{"name":"bench-sg%d"}}`, i), false)
		return err
	}); err != nil {
		return err
	}
	raw, err := b.call(ctx, "GET", "/v2.0/security-groups?fields=id&fields=security_group_rules", nil, false, 200)
	if err != nil {
		return err
	}
	var groups struct {
		SG []struct {
			ID    string            `json:"id"`
			Rules []json.RawMessage `json:"security_group_rules"`
		} `json:"security_groups"`
	}
	if err := json.Unmarshal(raw, &groups); err != nil {
		return fmt.Errorf("list security groups: %w", err)
	}
	type job struct {
		sg   string
		port int
	}
	var jobs []job
	for _, g := range groups.SG {
		b.rules += max(len(g.Rules), o.RulesPerGroup)
		for i := len(g.Rules); i < o.RulesPerGroup; i++ {
			jobs = append(jobs, job{g.ID, 1000 + i})
		}
	}
	if len(jobs) > 0 {
		if err := b.timed(rep, "security group rule create (seq.)", "security group rule create", len(jobs), func(i int) error {
			j := jobs[i]
			_, err := b.create(ctx, "security-group-rules", "security_group_rule", fmt.Sprintf(`{"security_group_rule":{"security_group_id":%q,"direction":"ingress","ethertype":"IPv4","protocol":"tcp","port_range_min":%d,"port_range_max":%d,"remote_ip_prefix":"10.0.0.0/8"}}`, j.sg, j.port, j.port), false)
			return err
		}); err != nil {
			return err
		}
	}
	return b.listAll(ctx, rep, "security-groups", "security group", o.ListRuns)
}
