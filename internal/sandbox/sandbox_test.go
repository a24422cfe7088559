package sandbox_test

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neutrino-net/neutrino/internal/sandbox"
	"github.com/neutrino-net/neutrino/internal/testbed"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The sandbox re-executes its program as "<exe> sandbox serve|agent";
// in tests that program is this test binary (testbed.Main).
func TestMain(m *testing.M) { testbed.Main(m) }

// up starts a sandbox for the test, removed when the test ends.
func up(t *testing.T, computes int, noAgents bool) *sandbox.State {
	t.Helper()
	return testbed.Up(t, computes, testbed.Options{NoAgents: noAgents}).State
}

// rootLinks lists the links of the root network namespace.
func rootLinks(t *testing.T) []string {
	t.Helper()
	ls, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

// namespacesOf lists the namespaces of a prefix (and of its agents).
func namespacesOf(t *testing.T, prefix string) []string {
	t.Helper()
	es, err := os.ReadDir(sandbox.NetnsDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if sandbox.Owned(prefix, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// processesOf lists live processes whose command line names dir.
func processesOf(dir string) []string {
	es, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range es {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cl, []byte(dir)) {
			continue
		}
		if st, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); bytes.Contains(st, []byte(") Z ")) {
			continue
		}
		out = append(out, e.Name()+": "+strings.ReplaceAll(string(cl), "\x00", " "))
	}
	return out
}

func ping(t *testing.T, st *sandbox.State, from string, to netip.Addr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.Ping(ctx, from, to); err != nil {
		t.Errorf("%s -> %s: %v", from, to, err)
	}
}

func output(t *testing.T, st *sandbox.State, node string, argv ...string) string {
	t.Helper()
	c, err := st.Command(node, argv...)
	if err != nil {
		t.Fatalf("exec in %s: %v", node, err)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("exec %v in %s: %v\n%s", argv, node, err, out)
	}
	return string(out)
}

// checkHealthy fails the test for a missing node or a dead process.
func checkHealthy(t *testing.T, s *sandbox.Status) {
	t.Helper()
	for _, n := range s.Nodes {
		if !n.Exists {
			t.Errorf("status: node %s (%s) missing", n.Name, n.Netns)
		}
	}
	for _, p := range s.Procs {
		if !p.Alive {
			t.Errorf("status: process %s (%d) dead", p.Name, p.PID)
		}
	}
	if !s.Server {
		t.Errorf("status: API not reachable")
	}
}

func TestFabric(t *testing.T) {
	testbed.RequireRoot(t)
	linksBefore := rootLinks(t)
	st := up(t, 2, true)

	if got := namespacesOf(t, st.Prefix); len(got) != 6 {
		t.Errorf("namespaces %v, want fabric, network1, compute1, compute2, upstream, internet", got)
	}
	hosts := st.Hosts()
	for _, a := range hosts {
		for _, b := range hosts {
			if a.Name != b.Name {
				ping(t, st, a.Name, b.TunnelIP)
			}
		}
	}
	ping(t, st, "upstream", sandbox.InternetIP)
	ping(t, st, "internet", sandbox.UpstreamExtIP)

	// exec: the command runs in the node's namespace.
	if out := output(t, st, "compute1", "cat", "/proc/net/dev"); !strings.Contains(out, "eth0:") || !strings.Contains(out, "eth1:") {
		t.Errorf("compute1 /proc/net/dev lacks eth0/eth1:\n%s", out)
	}
	for _, n := range []string{"fabric", "network1", "compute1", "compute2"} {
		if out := output(t, st, n, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"); strings.TrimSpace(out) != "0" {
			t.Errorf("%s: bridge-nf-call-iptables = %q, want 0", n, out)
		}
	}
	if out := output(t, st, "upstream", "cat", "/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(out) != "1" {
		t.Errorf("upstream: ip_forward = %q, want 1", out)
	}
	if _, err := st.Command("compute9", "true"); err == nil || !strings.Contains(err.Error(), "compute9") {
		t.Errorf("exec in compute9: %v, want an error naming compute9", err)
	}

	// Nothing in the root namespace.
	if after := rootLinks(t); !slices.Equal(linksBefore, after) {
		t.Errorf("root namespace links changed: before %v, after %v", linksBefore, after)
	}

	// Status.
	s, err := st.GetStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	s.Write(&b)
	t.Logf("status:\n%s", b.String())
	for _, want := range []string{"compute2", st.Prefix + "-internet", "server", "10.0.1.22"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q", want)
		}
	}
	checkHealthy(t, s)

	// The server serves the openstack CLI's endpoint with the openrc credentials.
	for _, f := range []string{"admin-openrc", "demo-openrc"} {
		b, err := os.ReadFile(filepath.Join(st.Dir, f))
		if err != nil || !strings.Contains(string(b), st.URL()+"/identity/v3") {
			t.Errorf("%s: %v\n%s", f, err, b)
		}
	}
	resp, err := http.Get(st.URL() + "/")
	if err != nil {
		t.Fatalf("API on %s: %v", st.URL(), err)
	}
	resp.Body.Close()

	// Boot errors name the bad value.
	ctx := context.Background()
	if _, err := st.Boot(ctx, sandbox.BootOptions{Name: "vm1", Network: "nope", Host: "compute9"}); err == nil || !strings.Contains(err.Error(), "unknown host compute9") {
		t.Errorf("boot on compute9: %v", err)
	}
	if _, err := st.Boot(ctx, sandbox.BootOptions{Name: "vm1", Network: "nope", Host: "compute1"}); err == nil || !strings.Contains(err.Error(), "no network named nope") {
		t.Errorf("boot on network nope: %v", err)
	}
	if _, err := os.Stat(sandbox.NSPath(sandbox.InstanceNS(st.Prefix, "vm1"))); !os.IsNotExist(err) {
		t.Errorf("failed boot left its namespace: %v", err)
	}

	// Down in another directory refuses to touch this live sandbox.
	if err := sandbox.Down(sandbox.DownOptions{Dir: t.TempDir(), Prefix: st.Prefix}); err == nil || !strings.Contains(err.Error(), st.Dir) {
		t.Errorf("down of prefix %s from another dir: %v, want a refusal naming %s", st.Prefix, err, st.Dir)
	}

	// Down removes everything, and again is a no-op.
	for range 2 {
		if err := sandbox.Down(sandbox.DownOptions{Dir: st.Dir}); err != nil {
			t.Fatalf("down: %v", err)
		}
		if left := namespacesOf(t, st.Prefix); len(left) > 0 {
			t.Errorf("namespaces left: %v", left)
		}
		if left := processesOf(st.Dir); len(left) > 0 {
			t.Errorf("processes left: %v", left)
		}
		if es, _ := os.ReadDir(st.Dir); len(es) != 1 || es[0].Name() != "logs" {
			t.Errorf("state dir after down: %v, want logs only", es)
		}
	}
	if after := rootLinks(t); !slices.Equal(linksBefore, after) {
		t.Errorf("root namespace links changed: before %v, after %v", linksBefore, after)
	}
}

// TestDownAfterCrash kills everything the sandbox started with SIGKILL,
// as a crash would, then checks that down still cleans up.
func TestDownAfterCrash(t *testing.T) {
	testbed.RequireRoot(t)
	st := up(t, 1, true)
	s, err := st.GetStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Procs {
		syscall.Kill(p.PID, syscall.SIGKILL)
	}
	if err := sandbox.Down(sandbox.DownOptions{Dir: st.Dir}); err != nil {
		t.Fatalf("down: %v", err)
	}
	if left := namespacesOf(t, st.Prefix); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	if left := processesOf(st.Dir); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

// TestDownWithoutState loses the state and pids files while everything
// runs, plus a process and an agent-style namespace the sandbox never
// recorded: down --prefix finds them all.
func TestDownWithoutState(t *testing.T) {
	testbed.RequireRoot(t)
	st := up(t, 1, true)
	c, err := st.Command("compute1", "sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	agentNS := "qrouter-0000@" + st.Prefix + "-compute1"
	newNamedNS(t, agentNS)
	for _, f := range []string{"sandbox.json", "pids"} {
		if err := os.Remove(filepath.Join(st.Dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sandbox.Down(sandbox.DownOptions{Dir: st.Dir, Prefix: st.Prefix}); err != nil {
		t.Fatalf("down: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("the process in compute1 survived down")
	}
	if left := namespacesOf(t, st.Prefix); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
	if left := processesOf(st.Dir); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

func newNamedNS(t *testing.T, name string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves with the new namespace
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { netns.DeleteNamed(name) })
}

// TestBoot needs the agents (L2 and DHCP): two instances on one network
// on two computes get their addresses by DHCP and reach each other.
func TestBoot(t *testing.T) {
	testbed.RequireRoot(t)
	st := up(t, 2, false)
	ctx := context.Background()
	c, err := st.AdminClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nw struct {
		Network struct {
			ID  string `json:"id"`
			MTU int    `json:"mtu"`
		} `json:"network"`
	}
	// net1 belongs to project demo, made by admin as in the walkthrough
	// (net-create demo-net --tenant-id ...).
	demo := projectID(t, c, "demo")
	if err := c.Do(ctx, "POST", "/v2.0/networks", map[string]any{"network": map[string]any{"name": "net1", "project_id": demo}}, &nw); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/v2.0/subnets", map[string]any{"subnet": map[string]any{
		"network_id": nw.Network.ID, "ip_version": 4, "cidr": "192.168.1.0/24", "name": "sub1", "project_id": demo}}, nil); err != nil {
		t.Fatal(err)
	}
	// An unknown --project is refused before anything is made.
	if _, err := st.Boot(ctx, sandbox.BootOptions{Name: "vm3", Network: "net1", Host: "compute1", Project: "ghost"}); err == nil || !strings.Contains(err.Error(), "no project named ghost") {
		t.Errorf("boot with project ghost: %v", err)
	}
	if _, err := os.Stat(sandbox.NSPath(sandbox.InstanceNS(st.Prefix, "vm3"))); !os.IsNotExist(err) {
		t.Errorf("failed boot left its namespace: %v", err)
	}
	subnet := netip.MustParsePrefix("192.168.1.0/24")
	// The walkthrough's instance name, and a name that cannot be part of
	// a namespace name as it is (a hashed namespace); the first port
	// belongs to the network's project, the second to --project admin.
	names := []string{"demo-instance1", "admin's vm/2"}
	projects := []string{"", "admin"}
	wantProjects := []string{demo, projectID(t, c, "admin")}
	var ips []netip.Addr
	for i, host := range []string{"compute1", "compute2"} {
		name := names[i]
		in, err := st.Boot(ctx, sandbox.BootOptions{Name: name, Network: "net1", Host: host, Project: projects[i]})
		if err != nil {
			t.Fatalf("boot %s on %s: %v", name, host, err)
		}
		if in.Netns != sandbox.InstanceNS(st.Prefix, name) {
			t.Errorf("%s: namespace %s, want %s", name, in.Netns, sandbox.InstanceNS(st.Prefix, name))
		}
		p, err := netip.ParsePrefix(in.IP)
		if err != nil || !subnet.Contains(p.Addr()) || p.Bits() != 24 {
			t.Fatalf("%s got %q, want an address in %s", name, in.IP, subnet)
		}
		ips = append(ips, p.Addr())
		out := output(t, st, name, "cat", "/proc/net/dev")
		if !strings.Contains(out, "eth0:") {
			t.Errorf("%s has no eth0:\n%s", name, out)
		}
		checkPortProject(t, c, in.PortID, wantProjects[i])
	}
	if want := st.Prefix + "-vm-demo-instance1"; sandbox.InstanceNS(st.Prefix, names[0]) != want {
		t.Errorf("demo-instance1's namespace is %s, want %s", sandbox.InstanceNS(st.Prefix, names[0]), want)
	}
	// The two instances are of two projects: each one's default group
	// admits only its own members until ICMP is allowed (the agents
	// enforce security groups).
	openICMP(t, c)
	ping(t, st, names[0], ips[1])
	ping(t, st, names[1], ips[0])

	if _, err := st.Boot(ctx, sandbox.BootOptions{Name: names[1], Network: "net1", Host: "compute1"}); err == nil || !strings.Contains(err.Error(), "instance "+names[1]+" exists") {
		t.Errorf("second boot of %s: %v", names[1], err)
	}
	s, err := st.GetStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	s.Write(&b)
	t.Logf("status:\n%s", b.String())
	if !strings.Contains(b.String(), ips[0].String()) {
		t.Errorf("status lacks %s's address", names[0])
	}
	checkHealthy(t, s)

	is, _ := st.Instances()
	i := slices.IndexFunc(is, func(in sandbox.Instance) bool { return in.Name == names[0] })
	if i < 0 {
		t.Fatalf("no %s in %+v", names[0], is)
	}
	if err := st.Remove(ctx, names[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "GET", "/v2.0/ports/"+is[i].PortID, nil, nil); err == nil {
		t.Errorf("%s's port %s still exists", names[0], is[i].PortID)
	}
	if _, err := os.Stat(sandbox.NSPath(sandbox.InstanceNS(st.Prefix, names[0]))); !os.IsNotExist(err) {
		t.Errorf("%s's namespace still exists: %v", names[0], err)
	}

	if err := sandbox.Down(sandbox.DownOptions{Dir: st.Dir}); err != nil {
		t.Fatalf("down: %v", err)
	}
	if left := namespacesOf(t, st.Prefix); len(left) > 0 {
		t.Errorf("namespaces left (agents' included): %v", left)
	}
	if left := processesOf(st.Dir); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

// projectID finds a project of the built-in Keystone by name.
func projectID(t *testing.T, c *sandbox.Client, name string) string {
	t.Helper()
	var list struct {
		Projects []struct {
			ID string `json:"id"`
		} `json:"projects"`
	}
	if err := c.Do(context.Background(), "GET", "/identity/v3/projects?name="+name, nil, &list); err != nil || len(list.Projects) != 1 {
		t.Fatalf("project %s: %v %+v", name, err, list)
	}
	return list.Projects[0].ID
}

// checkPortProject: the port belongs to project and has that project's
// default security group (as a port Nova creates with the user's token).
func checkPortProject(t *testing.T, c *sandbox.Client, portID, project string) {
	t.Helper()
	ctx := context.Background()
	var p struct {
		Port struct {
			ProjectID      string   `json:"project_id"`
			SecurityGroups []string `json:"security_groups"`
		} `json:"port"`
	}
	if err := c.Do(ctx, "GET", "/v2.0/ports/"+portID, nil, &p); err != nil {
		t.Fatal(err)
	}
	var sgs struct {
		SecurityGroups []struct {
			ID string `json:"id"`
		} `json:"security_groups"`
	}
	if err := c.Do(ctx, "GET", "/v2.0/security-groups?name=default&project_id="+project, nil, &sgs); err != nil || len(sgs.SecurityGroups) != 1 {
		t.Fatalf("default security group of %s: %v %+v", project, err, sgs)
	}
	if p.Port.ProjectID != project || !slices.Equal(p.Port.SecurityGroups, []string{sgs.SecurityGroups[0].ID}) {
		t.Errorf("port %s: project %s security groups %v, want project %s and its default group %s",
			portID, p.Port.ProjectID, p.Port.SecurityGroups, project, sgs.SecurityGroups[0].ID)
	}
}

// openICMP allows ICMP into every default security group.
func openICMP(t *testing.T, c *sandbox.Client) {
	t.Helper()
	ctx := context.Background()
	var sgs struct {
		SecurityGroups []struct {
			ID string `json:"id"`
		} `json:"security_groups"`
	}
	if err := c.Do(ctx, "GET", "/v2.0/security-groups?name=default", nil, &sgs); err != nil {
		t.Fatal(err)
	}
	for _, sg := range sgs.SecurityGroups {
		err := c.Do(ctx, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": map[string]any{
			"security_group_id": sg.ID, "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp"}}, nil)
		if err != nil && !strings.Contains(err.Error(), "409") {
			t.Fatal(err)
		}
	}
}
